// Package store defines the storage behind the sync engine: the Store interface, its parameter
// and result types, and its errors. Implementations live in sub-packages: bolt (embedded, the
// default), memory (tests) and, for several replicas, postgres. Package storetest holds the
// conformance suite that is the executable form of the contract below; every implementation
// runs it.
//
// # Implementing the contract
//
// Store is composed of role interfaces, one per concern; Reader gathers the read-only half of
// every role (and Close), for wrappers that must not write:
//
//	role         read (Reader)                          write
//	Records      RecordsList StreamStats StreamCursor   RecordsWrite RecordsSweep
//	                                                    RecordsSweepReset StreamDelete
//	Checkpoints  CheckpointGet                          CheckpointPut CheckpointDelete
//	Runs         RunGet RunList RunLastSuccess          RunInsert RunUpdate RunFinish
//	Outbox       OutboxGet OutboxList OutboxStats       OutboxClaim OutboxSettle OutboxRequeue
//	                                                    OutboxPrune
//	Consumers    ConsumerCursorGet ConsumerCursorList   ConsumerCursorPut ConsumerDelete
//	Connections  ConnectionGet ConnectionList           ConnectionPut ConnectionDelete
//	Leases       -                                      LeaseAcquire LeaseRenew LeaseRelease
//	Schedules    ScheduleGet ScheduleList               SchedulePut ScheduleUpdate
//
// Anyone may implement Store: the stores of this module (bolt, memory, postgres) and third
// parties alike. An implementation is correct when it passes storetest.Run. It should build on
// the helpers of this package rather than restate them: PrepareWrite validates a write, has its
// Encode fill in the payloads (the engine defers the encoding of a batch of structs to the
// store, so that a store may start on its IDHints meanwhile), canonicalises them and drops
// duplicates; PreparedWrite.Classify decides, from what
// the stream holds for an id (a Held), what the write does to the record (a Decision: the
// verdict, the payload and hash to keep, whether the id joins the deletion-tracking window);
// RecordsWriteResult.Tally counts it. A store reads what the classifier needs and persists what
// it decided, so that stores differ only in how they persist. What a store cannot do (reopen
// itself durably, serve several processes at once) it declares in storetest.Features, and the
// tests that need it skip with the reason. A store must implement every method; a wrapper that
// changes only some roles embeds the Store (or Reader) it wraps and overrides those.
//
// # Streams and records
//
// Records live in streams keyed by (integration, connection, model); nothing is shared between
// streams. A record is a JSON object whose "id" member identifies it in its stream: a string, or
// a number with an integer value kept as its decimal text (42, 42.0 and 4.2e1 are all "42", as
// JavaScript's String() gives them); 1 to 255 bytes, no NUL. Stores keep the payload in
// canonical form: no insignificant whitespace and object keys sorted, so the order in which an API
// sends keys never makes a change.
//
// # Writes
//
// RecordsWrite applies one batch in one transaction. Within a batch the last record with an id
// wins; the others are counted as duplicates. A batch with an invalid record (a *RecordError
// naming its index and id) or a checkpoint version conflict writes nothing. For each record
// (the table PreparedWrite.Classify implements, in classify.go):
//
//	save, id unknown                    -> ADDED
//	save, id live, same payload         -> unchanged: nothing is written, the cursor stays
//	save, id live, other payload        -> UPDATED
//	save, id deleted                    -> ADDED again, first_seen_at reset
//	merge, id live                      -> payload deep-merged (objects merged member by
//	                                       member, anything else replaced); UPDATED if it changed
//	merge, id unknown or deleted        -> ignored
//	delete, id live                     -> DELETED, payload kept, deleted_at set
//	delete, id unknown or deleted       -> ignored
//
// A write with a PayloadCodec (the nango package sets one when the engine has encryption keys)
// stores payloads sealed and hashes them with the codec's keyed hash; the classifier opens a
// held payload to merge into it and seals what it decides to keep, so a store never sees the
// codec. A payload stored in the clear before, which a save or merge leaves as it is, is sealed
// in place without a change (Decision.Reseal): same cursor, action, times and state. Mode
// WriteReseal does only that, for the given ids whose held payload is exactly the one given.
//
// Every change gets the next cursor of its stream, so cursors grow strictly in commit order, and
// a change time no earlier than the stream's previous change, so last_modified_at never
// decreases in cursor order. Times are UTC with microsecond precision.
//
// A checkpoint passed with the batch is written in the same transaction, so a checkpoint can
// never be ahead of the records it describes.
//
// # Listing
//
// RecordsList returns a stream's records in ascending cursor order, each once, at its latest
// change. A reader that has read up to cursor C never later finds a change at or before C that it
// did not see. Limit defaults to 100 and may not exceed 10,000; ModifiedAfter is inclusive;
// Filter keeps records whose last action is one of those chosen; IDs (at most 100) keeps those
// ids. NextCursor is empty on the last page. Cursors are opaque, URL-safe strings; a malformed,
// corrupt or foreign cursor is a *CursorError, and one taken before StreamDelete is
// ErrCursorStale.
//
// # Deletion tracking
//
// A write with TrackSeen adds its ids (unchanged records included) to the sync's
// deletion-tracking window for the stream. The window lasts until RecordsSweep or
// RecordsSweepReset closes it, so it spans runs that failed between two successful ones.
// RecordsSweep marks DELETED every live record not in the window, unless the DeleteGuard
// refuses (then nothing is deleted and the result says so), and closes the window either way.
// Implementations must do this in memory that does not grow with the stream.
//
// # Pruning
//
// RecordsPrune empties the payload of the records of a stream up to a cursor (inclusive) or last
// modified before a time, oldest change first, at most Limit per call, and sets their pruned_at.
// Nothing else of the record changes: not its cursor, last action, times or place in the feed,
// and the stream's head cursor stays. A save of the same payload (the stored hash matches)
// restores it in place and counts as unchanged; another payload is an update as usual; a delete
// keeps pruned_at; a merge applies onto an empty object. Calls are short transactions, and a
// store does not rescan what it pruned before.
//
// # Checkpoints
//
// Checkpoints are JSON values keyed by (integration, sync, connection) with a version that starts
// at 1 and grows by one with every write. A writer states the version it read (0 for none);
// a mismatch is ErrVersionConflict and writes nothing.
//
// # Runs and connections
//
// Runs are kept per (integration, sync, connection), listed newest (last inserted) first.
// Connections are kept per (integration, id) with the user's JSON metadata; deleting one deletes
// its streams, checkpoints, runs and windows, and fences off its runs' leases. A cursor taken
// from a deleted connection's stream is ErrCursorStale afterwards, as after StreamDelete.
//
// # Outbox and consumers
//
// RunFinish writes a run's end and its outbox entries (webhooks) in one transaction. Delivery
// workers claim due entries with a claim that expires (OutboxClaim), so the entries of a worker
// that died come back; settling with a stale claim is ErrClaimLost. Consumer cursors are kept per
// (consumer, stream) with compare-and-swap (ErrConsumerConflict).
//
// # Merging
//
// A write with IgnoreModifiedAfter skips the records changed after its snapshot cursor by
// another writer (outside the ranges the writer itself wrote), and reports them as Skipped; they
// still join the deletion-tracking window.
//
// # Memory
//
// Durable stores keep the sweep's memory independent of the stream's size. The memory store
// holds everything in memory by nature and is meant for tests.
package store
