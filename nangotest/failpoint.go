package nangotest

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrFailpoint is matched by the errors that failpoints inject.
var ErrFailpoint = errors.New("nangotest: failpoint")

// ErrCrashed is the error a sync gets from the commit after which the process "crashes"
// (CrashAfterCommit, CrashAfterBatchSave). From then on, until the run ends, every write to
// the store fails with it, as if the process were gone: the run's end is not recorded and its
// lease not released.
var ErrCrashed = errors.New("nangotest: the process crashed (failpoint)")

type failpointKind int

const (
	failStatus failpointKind = iota
	failNetwork
	failRateLimit
	failSave
	crashAfterSave
	failCommit
	crashAfterCommit
)

// Failpoint makes one request or one commit of a run fail, or the process crash after a
// commit. Pass failpoints to a run with WithFailpoints. Requests are counted from 1 in the
// order they are sent, retries included.
//
// Commits are counted from 1 in the order the run makes them: every write to the store that
// changes what the sync has done (Result.Commits lists them): the run's start, each BatchSave,
// BatchUpdate and BatchDelete (once per committed chunk of 10,000 records, with the checkpoint
// when it carries one), SaveCheckpoint, ClearCheckpoint, a reset's deletions, each model's
// TrackDeletes sweep, and the run's end with its webhooks. BatchSave calls are also counted on
// their own, from 1, for FailBatchSave and CrashAfterBatchSave.
type Failpoint struct {
	kind       failpointKind
	n          int
	status     int
	retryAfter time.Duration
}

// FailRequest makes the n-th request of the run get status (and a small JSON error body)
// without reaching the provider or the fixtures.
func FailRequest(n, status int) Failpoint {
	return Failpoint{kind: failStatus, n: n, status: status}
}

// FailRequestNetwork makes the n-th request of the run fail as if the connection had been
// reset, without a response.
func FailRequestNetwork(n int) Failpoint {
	return Failpoint{kind: failNetwork, n: n}
}

// RateLimitRequest makes the n-th request of the run get 429 Too Many Requests with a
// Retry-After header of retryAfter (whole seconds, rounded up). The engine waits on the fake
// clock, which moves on at once, and retries.
func RateLimitRequest(n int, retryAfter time.Duration) Failpoint {
	return Failpoint{kind: failRateLimit, n: n, status: 429, retryAfter: retryAfter}
}

// FailBatchSave makes the n-th BatchSave of the run fail without writing anything, as a
// database error would.
func FailBatchSave(n int) Failpoint {
	return Failpoint{kind: failSave, n: n}
}

// CrashAfterBatchSave makes the process "crash" right after the n-th BatchSave of the run
// commits (with its checkpoint, if it has one), as CrashAfterCommit does.
func CrashAfterBatchSave(n int) Failpoint {
	return Failpoint{kind: crashAfterSave, n: n}
}

// FailCommit makes the n-th commit of the run fail without writing anything, as a database
// error would. The process lives on: the run's end is recorded.
func FailCommit(n int) Failpoint {
	return Failpoint{kind: failCommit, n: n}
}

// CrashAfterCommit makes the process "crash" right after the n-th commit of the run: the
// caller of the write (the sync, or the engine for its own commits) gets ErrCrashed instead of
// the result, the run's context is cancelled, and no further write of the run reaches the
// store. The next run starts as a restarted process would: on a new engine over the same
// store, once the crashed run's lease has expired.
func CrashAfterCommit(n int) Failpoint {
	return Failpoint{kind: crashAfterCommit, n: n}
}

// String describes the failpoint.
func (f Failpoint) String() string {
	switch f.kind {
	case failStatus:
		return fmt.Sprintf("request %d fails with status %d", f.n, f.status)
	case failNetwork:
		return fmt.Sprintf("request %d fails with a network error", f.n)
	case failRateLimit:
		return fmt.Sprintf("request %d is rate limited (429, Retry-After %s)", f.n, f.retryAfter)
	case failSave:
		return fmt.Sprintf("BatchSave %d fails", f.n)
	case crashAfterSave:
		return fmt.Sprintf("the process crashes after BatchSave %d", f.n)
	case failCommit:
		return fmt.Sprintf("commit %d fails", f.n)
	case crashAfterCommit:
		return fmt.Sprintf("the process crashes after commit %d", f.n)
	}
	return "unknown failpoint"
}

func (f Failpoint) onRequest() bool { return f.kind <= failRateLimit }

func (f Failpoint) retryAfterHeader() string {
	return fmt.Sprint(int64(math.Ceil(f.retryAfter.Seconds())))
}
