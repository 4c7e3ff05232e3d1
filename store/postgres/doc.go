// Package postgres is the store.Store for several replicas: every replica of a service opens
// the same PostgreSQL database, which holds the records, checkpoints, runs, connections,
// leases, schedules, webhook outbox and consumer cursors, and coordinates the replicas.
//
// It owns its schema (Options.Schema, "nango" by default): embedded, versioned SQL migrations
// that New applies under an advisory lock, so that replicas starting together migrate once, and
// a schema_version table; a database migrated by a newer version is refused with a
// *SchemaVersionError. A replica that is already running is not: stop the replicas of an older
// version before one of a newer version starts. Version 2 changes the deletion-tracking
// windows, and an older replica's writes with TrackSeen and its sweeps then fail (loudly,
// writing nothing) until it is replaced. It imports only the standard library, package store
// and pgx.
//
// # Commit order
//
// Every write to a stream locks the stream's row first and takes the next sequence numbers from
// it, so that changes get their sequence numbers in commit order: a reader that has read up to a
// cursor never later finds an older change it did not see, whatever the number of writers,
// connections or processes.
//
// # Writes
//
// A batch is applied in chunks of 1,000 records, each in a few round trips: one lookup of the
// existing rows by primary key (an array of ids), the classification in Go, a COPY of the
// brand-new rows and one batch of statements that updates the changed ones from arrays, adds
// the seen ids to the deletion-tracking window (one row holding them as an array) and writes the
// stream's counters back. The first
// round trip of a write carries its BEGIN, the fence check, the stream's lock and the first
// chunk's lookup; when the ids are known before the payloads are encoded and canonicalised
// (store.RecordsWriteParams.IDHints, or read off the engine's encoding), the encoding and the
// canonicalisation run while the server works on it. A save to a stream whose last save in the
// process found none of its ids there (an initial load, a stream that only grows) skips the
// lookup: its records are copied in under a savepoint, and if the primary key finds one there
// after all, the write starts again from the savepoint with the lookup. An unchanged record
// costs no row write. The deletion-tracking sweep reads the stream's live ids that the window
// lacks through a cursor and deletes them in pages of 2,000 in id order, in one transaction,
// holding one page in memory.
//
// # Plans
//
// A table that was never analysed (the first load into an empty store) or whose statistics are
// stale looks small to the planner, which then joins a batch of ids with the whole stream. Every
// statement of a write is therefore written so that its only plan probes the primary key: the
// lookup is a lateral subquery per id, the updates go through SQL functions that update one
// record by key at a time; and write transactions turn off sequential and bitmap scans, hash and
// merge joins, materialisation and JIT compilation (SET LOCAL), as does the batch of a listing
// for its statement. The sweep is the one set-wise statement: with hash joins on and nested
// loops off for its planning, it is a hash anti-join of the live records with the window's ids
// (either side hashed),
// whose cost grows with the number of records whatever the estimates. It reads the records by a
// bitmap, in the table's order rather than by the primary key in id order (which costs a random
// read per record once the stream outgrows the server's buffers), with work_mem raised to at
// least 32 MB for its transaction.
// Tests check the plans on fresh tables, custom and generic, and the listing's as RecordsList
// sends it.
//
// # Failures
//
// A transaction that fails with a transient error (connection lost, serialization failure,
// deadlock, server shutting down) is run again from the start, up to Options.MaxRetries times;
// what still fails is a *TransientError. When the connection is lost during COMMIT, or the
// server ends the session while it runs (a shutdown, a terminated backend: it may end it after
// the commit), the outcome is unknown: the error matches ErrCommitUnknown and the transaction
// is not run again. The lease calls, which every run makes, are single statements outside a
// transaction block (one round trip each) whose second run has the same effect as the first, so
// they run again in any case.
package postgres
