package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of this package; store's sentinels (store.ErrNotFound, ...) are used as the contract
// says. Test with errors.Is.
var (
	// ErrReadOnly is returned by every write of a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("postgres: store opened read-only")
	// ErrSchemaTooNew is matched by a *SchemaVersionError for a schema that a newer version of
	// this package migrated: this version does not know its tables and refuses to touch them.
	ErrSchemaTooNew = errors.New("postgres: schema migrated by a newer version")
	// ErrSchemaMissing is matched by a *SchemaVersionError for a read-only store whose schema
	// was never created, or not migrated to this version.
	ErrSchemaMissing = errors.New("postgres: schema not created or not migrated")
	// ErrCommitUnknown is returned when the connection was lost, or the server ended the
	// session, while a transaction committed: it may or may not have been applied. It is not
	// retried; read back to find out.
	ErrCommitUnknown = errors.New("postgres: commit outcome unknown: the connection was lost or the session ended during COMMIT")
)

// SchemaVersionError reports a schema at a version this package cannot use.
type SchemaVersionError struct {
	Schema string
	// Found is the schema's version (0: none); Known the newest this package has.
	Found, Known int
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	if e.Found > e.Known {
		return fmt.Sprintf("postgres: schema %q is at version %d, newer than %d, the newest this version knows: upgrade the program", e.Schema, e.Found, e.Known)
	}
	return fmt.Sprintf("postgres: schema %q is at version %d, not %d: open it once for writing to migrate it", e.Schema, e.Found, e.Known)
}

// Is makes errors.Is match ErrSchemaTooNew or ErrSchemaMissing.
func (e *SchemaVersionError) Is(target error) bool {
	if e.Found > e.Known {
		return target == ErrSchemaTooNew
	}
	return target == ErrSchemaMissing
}

// TransientError reports an operation that kept failing with transient errors (connection
// lost, serialization failure, deadlock, server shutting down) after its retries. Nothing of it
// was written.
type TransientError struct {
	Op       string
	Attempts int
	Err      error
}

// Error implements error.
func (e *TransientError) Error() string {
	return fmt.Sprintf("postgres: %s failed %d times with transient errors, last: %v", e.Op, e.Attempts, e.Err)
}

// Unwrap returns the last error.
func (e *TransientError) Unwrap() error { return e.Err }

// commitUnknownError wraps the error of a COMMIT whose outcome is unknown.
type commitUnknownError struct{ err error }

func (e *commitUnknownError) Error() string { return ErrCommitUnknown.Error() + ": " + e.err.Error() }
func (e *commitUnknownError) Unwrap() []error {
	return []error{ErrCommitUnknown, e.err}
}

// SQLSTATEs of transient failures: the transaction was rolled back and can run again.
var transientCodes = map[string]bool{
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"55P03": true, // lock_not_available
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"53300": true, // too_many_connections
	"25006": true, // read_only_sql_transaction: a standby after a failover
}

// transient reports whether err is a failure after which the whole transaction can run again.
// A transaction that did not commit is rolled back by the server when its connection goes, so
// every connection failure before COMMIT qualifies.
func transient(err error) bool {
	// A write's own bad input (a record, its encoding, a parameter) fails the same way again,
	// whatever its cause wraps: an encoding that failed on an unexpected EOF is not the
	// network's.
	var re *store.RecordError
	var pa *store.ParamError
	if errors.As(err, &re) || errors.As(err, &pa) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return transientCodes[pe.Code] || pe.Code[:2] == "08"
	}
	// The caller checked its context first: a timeout here is the network's.
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// commitOutcomeUnknown reports whether a COMMIT failed without an answer from the server, or
// with the end of the session (sessionEnded), which can come after the commit.
func commitOutcomeUnknown(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) || sessionEnded(pe)
}

// sessionEnded reports whether the server ended the session with err (FATAL), as it does when
// it shuts down or its backend is terminated: a COMMIT it was running may have committed.
func sessionEnded(err *pgconn.PgError) bool {
	sev := err.SeverityUnlocalized
	if sev == "" {
		sev = err.Severity
	}
	return sev == "FATAL" || sev == "PANIC" || strings.HasPrefix(err.Code, "08") || strings.HasPrefix(err.Code, "57P")
}

// invalidText reports an error for a string PostgreSQL cannot hold (a NUL byte, or bytes that
// are not UTF-8): no row can have such a key.
func invalidText(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}
