package nangotest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// ErrFailpoint is matched by the errors that failpoints inject.
var ErrFailpoint = errors.New("nangotest: failpoint")

// ErrCrashed is the error a sync gets from the BatchSave after which the process "crashes"
// (CrashAfterBatchSave). From then on, until the run ends, every write to the store fails with
// it, as if the process were gone: the run's end is not recorded and its lease not released.
var ErrCrashed = errors.New("nangotest: the process crashed (failpoint)")

type failpointKind int

const (
	failStatus failpointKind = iota
	failNetwork
	failRateLimit
	failSave
	crashAfterSave
)

// Failpoint makes one request or one BatchSave of a run fail. Pass failpoints to a run with
// WithFailpoints. Requests are counted from 1 in the order they are sent, retries included;
// BatchSave calls from 1 (a BatchSave of more than 10,000 records counts once per committed
// chunk).
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
// commits (with its checkpoint, if it has one): the sync gets ErrCrashed instead of the
// result, the run's context is cancelled, and no further write of the run reaches the store.
// The next run starts as a restarted process would: on a new engine over the same store, once
// the crashed run's lease has expired.
func CrashAfterBatchSave(n int) Failpoint {
	return Failpoint{kind: crashAfterSave, n: n}
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
	}
	return "unknown failpoint"
}

func (f Failpoint) onRequest() bool { return f.kind <= failRateLimit }

func (f Failpoint) retryAfterHeader() string {
	return fmt.Sprint(int64(math.Ceil(f.retryAfter.Seconds())))
}

// faultStore wraps the harness's store to inject BatchSave failures and crashes.
type faultStore struct {
	store.Store

	mu      sync.Mutex
	saves   int
	fps     []Failpoint
	crashed bool
	onCrash func()
}

// arm sets the failpoints of the next run and forgets a crash.
func (s *faultStore) arm(fps []Failpoint, onCrash func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves, s.crashed, s.onCrash = 0, false, onCrash
	s.fps = s.fps[:0]
	for _, f := range fps {
		if !f.onRequest() {
			s.fps = append(s.fps, f)
		}
	}
}

func (s *faultStore) state() (saves int, crashed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves, s.crashed
}

func (s *faultStore) dead() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return ErrCrashed
	}
	return nil
}

// RecordsWrite implements store.Store with the BatchSave failpoints.
func (s *faultStore) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	s.mu.Lock()
	if s.crashed {
		s.mu.Unlock()
		return nil, ErrCrashed
	}
	crash := false
	if p != nil && p.Mode == store.WriteSave {
		s.saves++
		for _, f := range s.fps {
			if f.n != s.saves {
				continue
			}
			switch f.kind {
			case failSave:
				s.mu.Unlock()
				return nil, fmt.Errorf("%w: %s", ErrFailpoint, f)
			case crashAfterSave:
				crash = true
			}
		}
	}
	s.mu.Unlock()
	res, err := s.Store.RecordsWrite(ctx, p)
	if err != nil || !crash {
		return res, err
	}
	s.mu.Lock()
	s.crashed = true
	onCrash := s.onCrash
	s.mu.Unlock()
	if onCrash != nil {
		onCrash()
	}
	return nil, ErrCrashed
}

// RecordsSweep implements store.Store; it fails after a crash.
func (s *faultStore) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if err := s.dead(); err != nil {
		return nil, err
	}
	return s.Store.RecordsSweep(ctx, p)
}

// RecordsSweepReset implements store.Store; it fails after a crash.
func (s *faultStore) RecordsSweepReset(ctx context.Context, p *store.RecordsSweepResetParams) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.RecordsSweepReset(ctx, p)
}

// StreamDelete implements store.Store; it fails after a crash.
func (s *faultStore) StreamDelete(ctx context.Context, st store.Stream) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.StreamDelete(ctx, st)
}

// CheckpointPut implements store.Store; it fails after a crash.
func (s *faultStore) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := s.dead(); err != nil {
		return nil, err
	}
	return s.Store.CheckpointPut(ctx, p)
}

// CheckpointDelete implements store.Store; it fails after a crash.
func (s *faultStore) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.CheckpointDelete(ctx, p)
}

// RunInsert implements store.Store; it fails after a crash.
func (s *faultStore) RunInsert(ctx context.Context, run *store.Run) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.RunInsert(ctx, run)
}

// RunUpdate implements store.Store; it fails after a crash.
func (s *faultStore) RunUpdate(ctx context.Context, run *store.Run) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.RunUpdate(ctx, run)
}

// ConnectionPut implements store.Store; it fails after a crash.
func (s *faultStore) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.ConnectionPut(ctx, c)
}

// ConnectionDelete implements store.Store; it fails after a crash.
func (s *faultStore) ConnectionDelete(ctx context.Context, integration, id string) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.ConnectionDelete(ctx, integration, id)
}

// LeaseRenew implements store.Store; it fails after a crash.
func (s *faultStore) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	if err := s.dead(); err != nil {
		return nil, err
	}
	return s.Store.LeaseRenew(ctx, p)
}

// LeaseRelease implements store.Store; it fails after a crash.
func (s *faultStore) LeaseRelease(ctx context.Context, l *store.Lease) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.LeaseRelease(ctx, l)
}

// SchedulePut implements store.Store; it fails after a crash.
func (s *faultStore) SchedulePut(ctx context.Context, sc *store.Schedule) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.SchedulePut(ctx, sc)
}
