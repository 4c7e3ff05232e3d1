package nango

import (
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
)

// Sentinel errors of the engine and the per-run handle. Errors returned by the library wrap
// them, so test with errors.Is.
var (
	// ErrUnknownIntegration is returned for an integration key that was never registered.
	ErrUnknownIntegration = errors.New("nango: unknown integration")
	// ErrUnknownSync is returned for a sync name the integration does not have.
	ErrUnknownSync = errors.New("nango: unknown sync")
	// ErrUnknownModel is returned for a model the sync (or integration) does not declare.
	ErrUnknownModel = errors.New("nango: unknown model")
	// ErrUnknownConnection is returned for a connection that was never added.
	ErrUnknownConnection = errors.New("nango: unknown connection")
	// ErrRunActive is returned when a sync is already running for the connection.
	ErrRunActive = errors.New("nango: a run of this sync is already active for this connection")
	// ErrInvalidConfig is wrapped by every configuration error.
	ErrInvalidConfig = errors.New("nango: invalid configuration")
	// ErrRunFinished is returned by a *Nango used after its run ended.
	ErrRunFinished = errors.New("nango: the run has finished; the handle cannot be used any more")
	// ErrCheckpointConflict is returned when the checkpoint changed under a run, for example
	// because a reset happened while it ran. The run's writes with that checkpoint were not
	// committed.
	ErrCheckpointConflict = store.ErrVersionConflict
	// ErrInvalidCursor is matched by errors for malformed, altered or foreign cursors.
	ErrInvalidCursor = store.ErrInvalidCursor
	// ErrInvalidRecord is matched by every *RecordError.
	ErrInvalidRecord = store.ErrInvalidRecord
)

// RecordError reports a record that cannot be written: its model, its index in the batch, its
// id when it has one, and why. The batch it belongs to was not written.
type RecordError = store.RecordError

// ParamError reports a parameter out of its allowed range, such as a list limit.
type ParamError = store.ParamError

// PanicError is the error of a run whose sync panicked. Stack is the goroutine's stack.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("nango: sync panicked: %v", e.Value) }

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
