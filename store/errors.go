package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Implementations wrap them, so test with errors.Is.
var (
	// ErrNotFound is returned when a checkpoint, run or connection does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrVersionConflict is returned when a checkpoint changed since the writer read it.
	ErrVersionConflict = errors.New("store: checkpoint version conflict: it was changed by another writer")
	// ErrInvalidCursor is matched by every *CursorError.
	ErrInvalidCursor = errors.New("store: invalid cursor")
	// ErrCursorStale is returned for a cursor taken from a stream that was emptied since.
	ErrCursorStale = errors.New("store: cursor is from before the stream was emptied; list again from the start")
	// ErrInvalidParams is matched by every *ParamError.
	ErrInvalidParams = errors.New("store: invalid parameters")
	// ErrInvalidRecord is matched by every *RecordError.
	ErrInvalidRecord = errors.New("store: invalid record")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("store: closed")
	// ErrLeaseHeld is returned by LeaseAcquire while another owner holds the lease.
	ErrLeaseHeld = errors.New("store: lease held by another owner")
	// ErrLeaseLost is returned for a lease that was taken over: the run must stop writing.
	ErrLeaseLost = errors.New("store: lease lost: another run took over")
	// ErrCorrupt is returned when what a store reads is damaged (a truncated file, a bad page, an
	// entry that does not decode): the data must be restored from a backup.
	ErrCorrupt = errors.New("store: data is damaged")
)

// CursorError reports a cursor that is malformed, corrupt, or from another stream.
type CursorError struct {
	Cursor string
	Reason string
}

// Error implements error.
func (e *CursorError) Error() string {
	c := e.Cursor
	if len(c) > 64 {
		c = c[:64] + "..."
	}
	return fmt.Sprintf("store: invalid cursor %q: %s", c, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidCursor) true.
func (e *CursorError) Is(target error) bool { return target == ErrInvalidCursor }

// ParamError reports a parameter out of its allowed range.
type ParamError struct {
	Param  string
	Reason string
}

// Error implements error.
func (e *ParamError) Error() string {
	return fmt.Sprintf("store: invalid %s: %s", e.Param, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidParams) true.
func (e *ParamError) Is(target error) bool { return target == ErrInvalidParams }

// RecordError reports a record that cannot be written, with where it stands in its batch.
type RecordError struct {
	Model string
	// Index is the record's position in the batch the caller passed.
	Index  int
	ID     string
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	id := ""
	if e.ID != "" {
		id = fmt.Sprintf(" (id %q)", e.ID)
	}
	return fmt.Sprintf("invalid record at index %d%s of model %q: %s", e.Index, id, e.Model, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidRecord) true.
func (e *RecordError) Is(target error) bool { return target == ErrInvalidRecord }

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }
