package store

import "context"

// Store is the whole storage contract of the engine: every role below in one handle.
// Implementations must be safe for concurrent use by multiple goroutines. Every method that takes
// a context returns promptly with the context's error once it is cancelled, writing nothing it
// had not committed.
//
// The behaviour every implementation must have is specified in prose in this package's
// documentation and checked by the conformance suite in package storetest.
type Store interface {
	Records
	Checkpoints
	Runs
	Outbox
	Consumers
	Connections
	Leases
	Schedules
	Retention
	// Close releases the store. Calls after Close return an error.
	Close() error
}

// Reader is every read-only method of Store, and Close. A wrapper that must not change what it
// wraps (an inspection command, a dashboard) embeds only a Reader, so that a write method added
// to Store later cannot pass through it unnoticed: the wrapper stops satisfying Store until the
// new method is refused explicitly.
type Reader interface {
	RecordReader
	CheckpointReader
	RunReader
	OutboxReader
	ConsumerReader
	ConnectionReader
	ScheduleReader
	// Close releases the store. Calls after Close return an error.
	Close() error
}

// RecordReader reads streams of records.
type RecordReader interface {
	// RecordsList reads one page of a stream's change feed in cursor order.
	RecordsList(ctx context.Context, params *RecordsListParams) (*RecordsListResult, error)

	// StreamStats reports the number of live and deleted records of a stream.
	StreamStats(ctx context.Context, stream Stream) (*StreamStats, error)

	// StreamCursor returns the cursor of a stream's newest change, or "" when the stream has
	// none: listing from it returns only later changes, and it is the snapshot that
	// RecordsWriteParams.IgnoreModifiedAfter takes.
	StreamCursor(ctx context.Context, stream Stream) (string, error)
}

// Records keeps streams of records: writes, the change feed, deletion tracking.
type Records interface {
	RecordReader

	// RecordsWrite applies a batch of saves, merges or deletes to one stream in one transaction,
	// together with an optional checkpoint write. A batch that fails validation writes nothing.
	RecordsWrite(ctx context.Context, params *RecordsWriteParams) (*RecordsWriteResult, error)

	// RecordsSweep marks DELETED every live record of a stream that was not written within the
	// sync's current deletion-tracking window, unless the deletion guard refuses, and then closes
	// the window.
	RecordsSweep(ctx context.Context, params *RecordsSweepParams) (*RecordsSweepResult, error)

	// RecordsSweepReset discards a sync's deletion-tracking window for a stream without deleting.
	RecordsSweepReset(ctx context.Context, params *RecordsSweepResetParams) error

	// StreamDelete removes a stream's records for good. Cursors taken from it before are
	// rejected afterwards with ErrCursorStale.
	StreamDelete(ctx context.Context, stream Stream) error
}

// Retention removes what is kept no longer. Every method writes, in short transactions.
type Retention interface {
	// RecordsPrune empties the payload of up to params.Limit records of a stream that are within
	// the params' bounds and not pruned yet, oldest change first, and sets their pruned_at. Their
	// cursor, last action and times stay, so the feed keeps its order and a consumer's position
	// stays valid. A later save of the same payload restores it without a change (unchanged);
	// a save of another payload is UPDATED as usual. An unknown stream prunes nothing.
	RecordsPrune(ctx context.Context, params *RecordsPruneParams) (*RecordsPruneResult, error)

	// RunsPrune removes up to params.Limit finished runs of one sync on one connection, oldest
	// first, beyond the newest params.Keep or ended before params.EndedBefore. Running runs and
	// the newest successful run stay.
	RunsPrune(ctx context.Context, params *RunsPruneParams) (*RunsPruneResult, error)
}

// CheckpointReader reads checkpoints.
type CheckpointReader interface {
	// CheckpointGet returns ErrNotFound when the key has no checkpoint.
	CheckpointGet(ctx context.Context, key CheckpointKey) (*Checkpoint, error)
}

// Checkpoints keeps the versioned checkpoints of syncs.
type Checkpoints interface {
	CheckpointReader
	// CheckpointPut writes a checkpoint if its current version is params.ExpectedVersion
	// (0: absent), else returns ErrVersionConflict.
	CheckpointPut(ctx context.Context, params *CheckpointPutParams) (*Checkpoint, error)
	// CheckpointDelete deletes a checkpoint if its current version is params.ExpectedVersion,
	// or whatever it is when params.ExpectedVersion is AnyVersion.
	CheckpointDelete(ctx context.Context, params *CheckpointDeleteParams) error
}

// RunReader reads the history of runs.
type RunReader interface {
	// RunGet returns ErrNotFound for an unknown id.
	RunGet(ctx context.Context, id string) (*Run, error)
	// RunList returns a sync's runs on a connection, newest first.
	RunList(ctx context.Context, params *RunListParams) ([]*Run, error)
	// RunLastSuccess returns the newest run in state RunSucceeded, or ErrNotFound.
	RunLastSuccess(ctx context.Context, key SyncKey) (*Run, error)
}

// Runs keeps the history of runs.
type Runs interface {
	RunReader
	// RunInsert records the start of a run; RunUpdate replaces it by ID.
	RunInsert(ctx context.Context, run *Run) error
	RunUpdate(ctx context.Context, run *Run) error
	// RunFinish replaces a run by ID, as RunUpdate does, and adds params.Outbox to the outbox
	// in the same transaction: a run's webhooks are in the outbox if and only if its end is
	// recorded. A bad entry or an unknown run writes nothing.
	RunFinish(ctx context.Context, params *RunFinishParams) error
}

// OutboxReader reads the webhook outbox.
type OutboxReader interface {
	// OutboxGet returns ErrNotFound for an unknown ID.
	OutboxGet(ctx context.Context, id string) (*OutboxEntry, error)
	// OutboxList returns entries in ID order.
	OutboxList(ctx context.Context, params *OutboxListParams) ([]*OutboxEntry, error)
	// OutboxStats counts the entries per state and reports the next due time.
	OutboxStats(ctx context.Context) (*OutboxStats, error)
}

// Outbox keeps the webhooks to deliver and hands them to delivery workers.
type Outbox interface {
	OutboxReader
	// OutboxClaim claims up to params.Limit pending entries due at params.Now, earliest
	// NextAttemptAt first (then by ID): each gets a new ClaimToken and is not due again before
	// params.Now+params.TTL, so that a worker that dies does not lose it.
	OutboxClaim(ctx context.Context, params *OutboxClaimParams) ([]*OutboxEntry, error)
	// OutboxSettle records the outcome of an attempt on a claimed entry: it counts the attempt
	// and moves the entry to params.State. It returns ErrClaimLost when params.ClaimToken is not
	// the entry's current one or the entry is not pending, and ErrNotFound for an unknown ID.
	OutboxSettle(ctx context.Context, params *OutboxSettleParams) (*OutboxEntry, error)
	// OutboxRequeue makes an entry, in any state, pending and due at params.Now with a fresh
	// round of attempts (Attempts 0, QueuedAt now, a new ClaimToken). ErrNotFound for an
	// unknown ID.
	OutboxRequeue(ctx context.Context, params *OutboxRequeueParams) (*OutboxEntry, error)
	// OutboxPrune removes up to params.Limit finished (delivered and dead) entries that are
	// older than the params' times or beyond their counts, oldest first, in one short write,
	// and returns how many it removed. Pending entries, and entries requeued meanwhile, are
	// never removed.
	OutboxPrune(ctx context.Context, params *OutboxPruneParams) (int, error)
}

// ConsumerReader reads the cursors of durable consumers.
type ConsumerReader interface {
	// ConsumerCursorGet returns a durable consumer's cursor in a stream, or ErrNotFound.
	ConsumerCursorGet(ctx context.Context, key ConsumerKey) (*ConsumerCursor, error)
	// ConsumerCursorList returns a consumer's cursors ordered by stream (integration,
	// connection, model).
	ConsumerCursorList(ctx context.Context, consumer string) ([]*ConsumerCursor, error)
}

// Consumers keeps the cursors of durable consumers of the change feed.
type Consumers interface {
	ConsumerReader
	// ConsumerCursorPut moves a consumer's cursor if it is still params.Expected, else returns
	// ErrConsumerConflict.
	ConsumerCursorPut(ctx context.Context, params *ConsumerCursorPutParams) (*ConsumerCursor, error)
	// ConsumerDelete removes a consumer's cursors.
	ConsumerDelete(ctx context.Context, consumer string) error
}

// ConnectionReader reads connections.
type ConnectionReader interface {
	// ConnectionGet returns ErrNotFound for an unknown connection.
	ConnectionGet(ctx context.Context, integration, id string) (*Connection, error)
	// ConnectionList returns an integration's connections ordered by id, or every connection
	// when integration is empty.
	ConnectionList(ctx context.Context, integration string) ([]*Connection, error)
}

// Connections keeps connections and removes everything of one on delete.
type Connections interface {
	ConnectionReader
	// ConnectionPut inserts or replaces a connection.
	ConnectionPut(ctx context.Context, conn *Connection) error
	// ConnectionUpdate changes an existing connection in one atomic step: it reads the stored
	// connection, calls update on a copy, and writes the result, so that concurrent updates of
	// different fields (a token refresh, a metadata change) never undo each other. update may
	// be called more than once (a transaction retried after a transient failure); it must only
	// change the copy, and not its Integration or ID. An error from update writes nothing and
	// is returned as it is. It returns the connection as written, or ErrNotFound.
	ConnectionUpdate(ctx context.Context, integration, id string, update func(*Connection) error) (*Connection, error)
	// ConnectionDelete removes a connection with its records, checkpoints, runs, windows and
	// the consumer cursors of its streams (its outbox entries stay). It returns ErrNotFound for
	// an unknown connection.
	ConnectionDelete(ctx context.Context, integration, id string) error
}

// Leases hands out the right to run a sync, with fencing tokens. Every method writes.
type Leases interface {
	// LeaseAcquire takes the lease of a sync key for params.Owner, unless another owner holds it
	// and it has not expired (ErrLeaseHeld). Every acquisition gets a fencing token greater than
	// any the key had before.
	LeaseAcquire(ctx context.Context, params *LeaseAcquireParams) (*Lease, error)
	// LeaseRenew extends a lease whose token is still the key's current one, expired or not;
	// otherwise it returns ErrLeaseLost.
	LeaseRenew(ctx context.Context, params *LeaseRenewParams) (*Lease, error)
	// LeaseRelease gives a lease up. Releasing a lease that was lost is not an error.
	LeaseRelease(ctx context.Context, lease *Lease) error
}

// ScheduleReader reads the persisted scheduling state.
type ScheduleReader interface {
	// ScheduleGet returns ErrNotFound when the key has no schedule.
	ScheduleGet(ctx context.Context, key SyncKey) (*Schedule, error)
	// ScheduleList returns an integration's schedules, or all when integration is empty,
	// ordered by integration, sync and connection.
	ScheduleList(ctx context.Context, integration string) ([]*Schedule, error)
}

// Schedules keeps the scheduling state of syncs (pause, frequency override, next run).
type Schedules interface {
	ScheduleReader
	// SchedulePut inserts or replaces the schedule of a sync for a connection.
	SchedulePut(ctx context.Context, sched *Schedule) error
	// ScheduleUpdate changes a stored schedule in one atomic step: it reads it, calls update on
	// a copy, and writes the result, so that concurrent changes of different fields (the next
	// run after a run, a pause, a trigger) never undo each other. update may be called more
	// than once (a transaction retried after a transient failure); it must only change the
	// copy, and not its Key. An error from update writes nothing and is returned as it is. It
	// returns the schedule as written, or ErrNotFound.
	ScheduleUpdate(ctx context.Context, key SyncKey, update func(*Schedule) error) (*Schedule, error)
}

// Compile-time check: a Store is a Reader.
var _ = func(s Store) Reader { return s }
