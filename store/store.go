package store

import "time"

// Stream names the records of one model for one connection of one integration.
type Stream struct {
	Integration string
	Connection  string
	Model       string
}

// String formats the stream for messages.
func (s Stream) String() string {
	return s.Integration + "/" + s.Connection + "/" + s.Model
}

// Action is what last happened to a record.
type Action string

// The actions a record's metadata can carry.
const (
	ActionAdded   Action = "ADDED"
	ActionUpdated Action = "UPDATED"
	ActionDeleted Action = "DELETED"
)

// Metadata describes a record's life in its stream. Times are UTC with microsecond precision;
// DeletedAt and PrunedAt are zero unless the record is deleted or pruned.
type Metadata struct {
	FirstSeenAt    time.Time
	LastModifiedAt time.Time
	DeletedAt      time.Time
	PrunedAt       time.Time
	LastAction     Action
	// Cursor is the opaque position of the record's last change in its stream's feed.
	Cursor string
}

// Record is a stored record: its id, its canonical JSON payload and its metadata.
type Record struct {
	ID   string
	Data []byte
	Metadata
}

// WriteMode selects what RecordsWrite does with its records.
type WriteMode int

// The write modes.
const (
	// WriteSave inserts or replaces whole records.
	WriteSave WriteMode = iota
	// WriteMerge deep-merges each record into the live record with its id; unknown and deleted
	// ids are ignored.
	WriteMerge
	// WriteDelete marks live records DELETED, keeping their payload; unknown ids are ignored.
	WriteDelete
	// WriteReseal seals in place, with the write's PayloadCodec, the records (live or deleted)
	// that the stream holds in the clear with exactly the given payload, without a change (see
	// Decision.Reseal); it ignores the others. It is how payloads stored before encryption was
	// configured get sealed without waiting for their next change.
	WriteReseal
)

// String names the mode.
func (m WriteMode) String() string {
	switch m {
	case WriteSave:
		return "save"
	case WriteMerge:
		return "merge"
	case WriteDelete:
		return "delete"
	case WriteReseal:
		return "reseal"
	}
	return "unknown"
}

// RecordInput is one record to write. Data is the record as a JSON object (for WriteDelete it
// may be nil); implementations canonicalise it, so callers may pass any valid JSON object.
// ID may be left empty when Data is set: the id is then read from Data's "id" member. When both
// are set they must agree.
type RecordInput struct {
	ID   string
	Data []byte
}

// RecordsWriteParams are the parameters of RecordsWrite.
type RecordsWriteParams struct {
	Stream  Stream
	Mode    WriteMode
	Records []RecordInput
	// Encode, when set, fills in the payloads of Records, which hold one empty entry per record
	// until then: PrepareWrite calls it, once, when it has checked the other parameters. A
	// store that reads Records without PrepareWrite calls it before. Its error fails the write,
	// which writes nothing, and is not a transient failure to retry. It may run inside the
	// store's transaction, after the stream is locked.
	Encode func() error
	// IDHints, when set with Encode, holds the id of each record of Records, known before the
	// payloads are encoded: a store may start its work on them (a lookup) while Encode runs.
	// They are hints: the ids read off the encoded payloads decide, and a store that finds a
	// hint wrong does its work again.
	IDHints []string
	// Now stamps the changes. The store never stamps a change earlier than the last one in the
	// stream, so that modification times never decrease in cursor order. Zero means time.Now().
	Now time.Time
	// TrackSeen, when not empty, names the sync whose deletion-tracking window the written ids
	// join (see RecordsSweep). Unchanged records join it too; that is the point.
	TrackSeen string
	// Checkpoint, when set, is written in the same transaction as the records.
	Checkpoint *CheckpointPutParams
	// Fence, when set, makes the write fail with ErrLeaseLost unless the lease is still current.
	Fence *Lease
	// IgnoreModifiedAfter, when set, is Nango's "ignore_if_modified_after" merging strategy:
	// a record that exists in the stream (live or deleted) and whose last change is after the
	// snapshot, and not one of the writer's own (CursorSnapshot.Own), is left alone and counted
	// in Skipped, so that a writer holding older data (a polling run) cannot overwrite what
	// another writer (a webhook) wrote since the snapshot. New ids are written as usual. A
	// malformed or foreign cursor is a *CursorError and writes nothing; a snapshot from before
	// the stream was emptied makes every record newer.
	IgnoreModifiedAfter *CursorSnapshot
	// Codec, when set, seals the payloads the write stores and keys their change-detection hash
	// (see PayloadCodec). Every write to a stream should use the same codec, or none.
	Codec PayloadCodec
}

// RecordsWriteResult counts what a write did.
type RecordsWriteResult struct {
	Added     int
	Updated   int
	Deleted   int
	Unchanged int
	// Ignored counts merges and deletes of ids that are unknown or already deleted.
	Ignored int
	// Duplicates counts records dropped because a later record in the batch had the same id.
	Duplicates int
	// DuplicateIDs lists the first few ids that were duplicated, for logs.
	DuplicateIDs []string
	// Checkpoint is the checkpoint written with the batch, if any.
	Checkpoint *Checkpoint
	// Skipped counts records left alone by IgnoreModifiedAfter; SkippedIDs lists the first few.
	Skipped    int
	SkippedIDs []string
	// PrevCursor and Cursor are the stream's StreamCursor just before and just after the write,
	// in its transaction: the write's own changes are the range (PrevCursor, Cursor]. They are
	// set only for writes with IgnoreModifiedAfter.
	PrevCursor string
	Cursor     string
	// Resealed counts the unchanged records whose payload was sealed in place (Decision.Reseal);
	// they are counted in Unchanged too.
	Resealed int
}

// Filter selects records by their last action. The zero value selects all.
type Filter uint8

// Filter bits; combine them with |.
const (
	FilterAdded Filter = 1 << iota
	FilterUpdated
	FilterDeleted
)

// Match reports whether a record with this action passes the filter.
func (f Filter) Match(a Action) bool {
	if f == 0 {
		return true
	}
	switch a {
	case ActionAdded:
		return f&FilterAdded != 0
	case ActionUpdated:
		return f&FilterUpdated != 0
	case ActionDeleted:
		return f&FilterDeleted != 0
	}
	return false
}

// Listing limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
	MaxListIDs       = 100
	MaxIDLength      = 255
)

// RecordsListParams are the parameters of RecordsList.
type RecordsListParams struct {
	Stream Stream
	// Cursor lists changes after this position; empty starts at the beginning.
	Cursor string
	// ModifiedAfter, when not zero, keeps records last modified at or after it.
	ModifiedAfter time.Time
	Filter        Filter
	// IDs, when not empty, keeps only these ids (at most MaxListIDs).
	IDs []string
	// Limit is the page size, 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
}

// RecordsListResult is one page of the change feed.
type RecordsListResult struct {
	Records []Record
	// NextCursor continues the listing; it is empty on the last page.
	NextCursor string
}

// RecordsSweepParams are the parameters of RecordsSweep.
type RecordsSweepParams struct {
	Stream Stream
	// Sync names the deletion-tracking window (the sync that wrote with TrackSeen).
	Sync string
	Now  time.Time
	// Guard refuses the sweep when it would delete too much; nil means no guard. Force
	// overrides it.
	Guard *DeleteGuard
	Force bool
	// Fence, when set, makes the sweep fail with ErrLeaseLost unless the lease is still current.
	Fence *Lease
}

// DeleteGuard refuses a sweep that would delete more than MaxShare of the live records of a
// stream that holds at least MinRecords live records. A MaxShare of 1 or more disables it.
type DeleteGuard struct {
	MaxShare   float64
	MinRecords int
}

// Refuses reports whether the guard refuses deleting unseen of live records. A nil guard
// never refuses.
func (g *DeleteGuard) Refuses(unseen, live int) bool {
	if g == nil || g.MaxShare >= 1 || live < g.MinRecords || live == 0 {
		return false
	}
	return float64(unseen) > g.MaxShare*float64(live)
}

// RecordsSweepResult reports what a sweep did.
type RecordsSweepResult struct {
	// Live is the number of live records before the sweep; Unseen those not written in the window.
	Live   int
	Unseen int
	// Deleted is Unseen unless Refused.
	Deleted int
	Refused bool
}

// RecordsSweepResetParams are the parameters of RecordsSweepReset.
type RecordsSweepResetParams struct {
	Stream Stream
	Sync   string
}

// StreamStats counts a stream's records.
type StreamStats struct {
	Live    int
	Deleted int
}

// CheckpointKey names the checkpoint of one sync for one connection.
type CheckpointKey struct {
	Integration string
	Sync        string
	Connection  string
}

// Checkpoint is a stored checkpoint. Version starts at 1 and grows with every write.
type Checkpoint struct {
	Data      []byte
	Version   int64
	UpdatedAt time.Time
}

// AnyVersion disables the version check of CheckpointDelete.
const AnyVersion int64 = -1

// CheckpointPutParams are the parameters of CheckpointPut.
type CheckpointPutParams struct {
	Key             CheckpointKey
	Data            []byte
	ExpectedVersion int64
	Now             time.Time
	// Fence, when set, makes the write fail with ErrLeaseLost unless the lease is still current.
	Fence *Lease
}

// CheckpointDeleteParams are the parameters of CheckpointDelete.
type CheckpointDeleteParams struct {
	Key             CheckpointKey
	ExpectedVersion int64
	// Fence, when set, makes the delete fail with ErrLeaseLost unless the lease is still current.
	Fence *Lease
}

// SyncKey names one sync on one connection.
type SyncKey struct {
	Integration string
	Sync        string
	Connection  string
}

// RunState is the state of a run.
type RunState string

// The run states.
const (
	RunRunning   RunState = "running"
	RunSucceeded RunState = "success"
	RunFailed    RunState = "failed"
	RunCancelled RunState = "cancelled"
	RunTimedOut  RunState = "timed_out"
)

// ModelResult counts what a run did to one model.
type ModelResult struct {
	Added      int `json:"added"`
	Updated    int `json:"updated"`
	Deleted    int `json:"deleted"`
	Unchanged  int `json:"unchanged,omitempty"`
	Duplicates int `json:"duplicates,omitempty"`
	// Ignored counts merges and deletes of ids that were unknown or already deleted.
	Ignored int `json:"ignored,omitempty"`
	// Skipped counts records left alone because another writer changed them after the run's
	// merging snapshot (IgnoreModifiedAfter).
	Skipped int `json:"skipped,omitempty"`
}

// Run is the record of one execution of a sync for a connection.
type Run struct {
	ID        string                 `json:"id"`
	Key       SyncKey                `json:"key"`
	Trigger   string                 `json:"trigger"`
	State     RunState               `json:"state"`
	Initial   bool                   `json:"initial"`
	StartedAt time.Time              `json:"started_at"`
	EndedAt   time.Time              `json:"ended_at,omitzero"`
	Results   map[string]ModelResult `json:"results,omitempty"`
	Error     string                 `json:"error,omitempty"`
	Warnings  []string               `json:"warnings,omitempty"`
	Log       []string               `json:"log,omitempty"`
}

// RunListParams are the parameters of RunList.
type RunListParams struct {
	Key SyncKey
	// Limit caps the number of runs returned; 0 means DefaultListLimit.
	Limit int
	// Before, when set to a run id, lists runs older than that run.
	Before string
}

// Connection is one customer's account at an integration.
type Connection struct {
	Integration string
	ID          string
	// Metadata is the user's JSON value for the connection, or nil.
	Metadata []byte
	// Credentials are the connection's secrets (tokens, keys) as the nango package encodes
	// them (encrypted when the engine has Config.EncryptionKeys), or nil. Stores keep them as
	// they are: never log or expose them.
	Credentials []byte
	// DataKey is the connection's data key, sealed by the nango package with its master key, or
	// a reference to it when the key is kept in a separate store (nango.Config.DataKeyStore),
	// or nil: record payloads and checkpoints of the connection are sealed with it. Stores keep
	// it as they are, with the connection, and delete it with the connection: never log or
	// expose it.
	DataKey []byte `json:",omitempty"`
	// WebhookURLs, when not empty, replace the engine's webhook endpoints for this connection.
	WebhookURLs []string `json:",omitempty"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Lease is the right to run one sync for one connection. Token is the fencing token: writes that
// carry the lease as their Fence fail once another acquisition has taken place.
type Lease struct {
	Key       SyncKey
	Owner     string
	Token     uint64
	ExpiresAt time.Time
}

// LeaseAcquireParams are the parameters of LeaseAcquire.
type LeaseAcquireParams struct {
	Key SyncKey
	// Owner identifies the process (or engine) taking the lease.
	Owner string
	// TTL is how long the lease lasts without renewal; it must be positive.
	TTL time.Duration
	// Now is the current time; zero means time.Now().
	Now time.Time
}

// LeaseRenewParams are the parameters of LeaseRenew.
type LeaseRenewParams struct {
	Lease *Lease
	TTL   time.Duration
	Now   time.Time
}

// Schedule is the persisted scheduling state of one sync for one connection.
type Schedule struct {
	Key SyncKey `json:"key"`
	// Paused schedules are not run by the scheduler.
	Paused bool `json:"paused"`
	// Frequency overrides the sync's frequency for this connection when not empty.
	Frequency string `json:"frequency,omitempty"`
	// NextRunAt is when the scheduler runs it next; zero means as soon as possible.
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Trigger is a run that was asked for and has not run yet; zero when there is none.
	Trigger ScheduleTrigger `json:"trigger,omitzero"`
}

// ScheduleTrigger is a run asked for ahead of the schedule (a trigger, with a reset or not). It
// is kept in the schedule, so that whichever engine sharing the store takes the sync's lease
// first runs it, even when the engine that was asked stops first; the run clears it when it
// ends.
type ScheduleTrigger struct {
	// ID tells one trigger from the next, so that a run clears only the trigger it ran.
	ID         string    `json:"id"`
	Reset      bool      `json:"reset,omitempty"`
	EmptyCache bool      `json:"empty_cache,omitempty"`
	At         time.Time `json:"at,omitzero"`
}

// IsZero reports whether t is no trigger.
func (t ScheduleTrigger) IsZero() bool { return t == ScheduleTrigger{} }
