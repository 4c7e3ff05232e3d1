package nangotest

import (
	"context"
	"fmt"
	"sync"

	"github.com/gonango/nango/store"
)

// faultStore wraps the harness's store to inject commit failures and crashes. It overrides
// every write of store.Store: the commit points of a run (counted, and where failpoints
// strike) and the other writes, which only fail once the process has crashed. Reads pass
// through. A test checks that every method of store.Store is one of the three.
type faultStore struct {
	store.Store

	mu      sync.Mutex
	saves   int
	commits []string
	fps     []Failpoint
	failed  bool
	crashed bool
	crashAt int // the commit after which the process crashed
	onCrash func()
}

// arm sets the failpoints of the next run and forgets a crash.
func (s *faultStore) arm(fps []Failpoint, onCrash func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves, s.commits, s.failed, s.crashed, s.crashAt, s.onCrash = 0, nil, false, false, 0, onCrash
	s.fps = s.fps[:0]
	for _, f := range fps {
		if !f.onRequest() {
			s.fps = append(s.fps, f)
		}
	}
}

// faultState is what the fault store saw during a run.
type faultState struct {
	saves   int
	commits []string
	failed  bool
	crashed bool
	crashAt int
}

func (s *faultStore) state() faultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return faultState{saves: s.saves, commits: s.commits, failed: s.failed, crashed: s.crashed, crashAt: s.crashAt}
}

func (s *faultStore) dead() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return ErrCrashed
	}
	return nil
}

// before counts a commit and applies the failpoints that strike before it: it returns the
// failpoint's error, or whether the process crashes once the commit is done.
func (s *faultStore) before(label string, save bool) (crash bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return false, ErrCrashed
	}
	s.commits = append(s.commits, label)
	n := len(s.commits)
	if save {
		s.saves++
	}
	for _, f := range s.fps {
		atCommit := f.n == n && (f.kind == failCommit || f.kind == crashAfterCommit)
		atSave := save && f.n == s.saves && (f.kind == failSave || f.kind == crashAfterSave)
		if !atCommit && !atSave {
			continue
		}
		if f.kind == failCommit || f.kind == failSave {
			s.failed = true
			return false, fmt.Errorf("%w: %s", ErrFailpoint, f)
		}
		crash = true
	}
	return crash, nil
}

// commit runs one commit point of a run under the failpoints.
func commit[T any](s *faultStore, label string, save bool, write func() (T, error)) (T, error) {
	var zero T
	crash, err := s.before(label, save)
	if err != nil {
		return zero, err
	}
	res, err := write()
	if err != nil || !crash {
		return res, err
	}
	s.mu.Lock()
	s.crashed = true
	s.crashAt = len(s.commits)
	onCrash := s.onCrash
	s.mu.Unlock()
	if onCrash != nil {
		onCrash()
	}
	return zero, ErrCrashed
}

// commitErr is commit for writes that return only an error.
func commitErr(s *faultStore, label string, write func() error) error {
	_, err := commit(s, label, false, func() (struct{}, error) { return struct{}{}, write() })
	return err
}

// afterCrash runs a write that is not a commit point of a run: it fails once the process has
// crashed.
func afterCrash[T any](s *faultStore, write func() (T, error)) (T, error) {
	if err := s.dead(); err != nil {
		var zero T
		return zero, err
	}
	return write()
}

func afterCrashErr(s *faultStore, write func() error) error {
	if err := s.dead(); err != nil {
		return err
	}
	return write()
}

// Commit points.

// RecordsWrite implements store.Store: BatchSave, BatchUpdate and BatchDelete.
func (s *faultStore) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	label, save := "a write of records", false
	if p != nil {
		label = map[store.WriteMode]string{store.WriteSave: "BatchSave", store.WriteMerge: "BatchUpdate", store.WriteDelete: "BatchDelete"}[p.Mode] +
			" of " + p.Stream.Model
		if p.Checkpoint != nil {
			label += " with the checkpoint"
		}
		save = p.Mode == store.WriteSave
	}
	return commit(s, label, save, func() (*store.RecordsWriteResult, error) { return s.Store.RecordsWrite(ctx, p) })
}

// CheckpointPut implements store.Store: SaveCheckpoint, or a batch call with only a checkpoint.
func (s *faultStore) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	return commit(s, "SaveCheckpoint", false, func() (*store.Checkpoint, error) { return s.Store.CheckpointPut(ctx, p) })
}

// CheckpointDelete implements store.Store: ClearCheckpoint, or a reset.
func (s *faultStore) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	label := "ClearCheckpoint"
	if p != nil && p.ExpectedVersion == store.AnyVersion {
		label = "the reset of the checkpoint"
	}
	return commitErr(s, label, func() error { return s.Store.CheckpointDelete(ctx, p) })
}

// RecordsSweep implements store.Store: the TrackDeletes sweep at the end of a run.
func (s *faultStore) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	label := "the TrackDeletes sweep"
	if p != nil {
		label += " of " + p.Stream.Model
	}
	return commit(s, label, false, func() (*store.RecordsSweepResult, error) { return s.Store.RecordsSweep(ctx, p) })
}

// RecordsSweepReset implements store.Store: a reset's deletion tracking.
func (s *faultStore) RecordsSweepReset(ctx context.Context, p *store.RecordsSweepResetParams) error {
	label := "the reset of deletion tracking"
	if p != nil {
		label += " of " + p.Stream.Model
	}
	return commitErr(s, label, func() error { return s.Store.RecordsSweepReset(ctx, p) })
}

// StreamDelete implements store.Store: a reset with EmptyCache.
func (s *faultStore) StreamDelete(ctx context.Context, st store.Stream) error {
	return commitErr(s, "EmptyCache of "+st.Model, func() error { return s.Store.StreamDelete(ctx, st) })
}

// RunInsert implements store.Store: the run's start.
func (s *faultStore) RunInsert(ctx context.Context, run *store.Run) error {
	return commitErr(s, "the run's start", func() error { return s.Store.RunInsert(ctx, run) })
}

// RunUpdate implements store.Store.
func (s *faultStore) RunUpdate(ctx context.Context, run *store.Run) error {
	return commitErr(s, "an update of the run", func() error { return s.Store.RunUpdate(ctx, run) })
}

// RunFinish implements store.Store: the run's end with its webhooks.
func (s *faultStore) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	return commitErr(s, "the run's end with its webhooks", func() error { return s.Store.RunFinish(ctx, p) })
}

// Other writes: they fail after a crash.

// ConnectionPut implements store.Store.
func (s *faultStore) ConnectionPut(ctx context.Context, c *store.Connection) error {
	return afterCrashErr(s, func() error { return s.Store.ConnectionPut(ctx, c) })
}

// ConnectionUpdate implements store.Store.
func (s *faultStore) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	return afterCrash(s, func() (*store.Connection, error) { return s.Store.ConnectionUpdate(ctx, integration, id, update) })
}

// ConnectionDelete implements store.Store.
func (s *faultStore) ConnectionDelete(ctx context.Context, integration, id string) error {
	return afterCrashErr(s, func() error { return s.Store.ConnectionDelete(ctx, integration, id) })
}

// LeaseAcquire implements store.Store.
func (s *faultStore) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	return afterCrash(s, func() (*store.Lease, error) { return s.Store.LeaseAcquire(ctx, p) })
}

// LeaseRenew implements store.Store.
func (s *faultStore) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	return afterCrash(s, func() (*store.Lease, error) { return s.Store.LeaseRenew(ctx, p) })
}

// LeaseRelease implements store.Store.
func (s *faultStore) LeaseRelease(ctx context.Context, l *store.Lease) error {
	return afterCrashErr(s, func() error { return s.Store.LeaseRelease(ctx, l) })
}

// SchedulePut implements store.Store.
func (s *faultStore) SchedulePut(ctx context.Context, sc *store.Schedule) error {
	return afterCrashErr(s, func() error { return s.Store.SchedulePut(ctx, sc) })
}

// ScheduleUpdate implements store.Store.
func (s *faultStore) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	return afterCrash(s, func() (*store.Schedule, error) { return s.Store.ScheduleUpdate(ctx, key, update) })
}

// OutboxClaim implements store.Store.
func (s *faultStore) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	return afterCrash(s, func() ([]*store.OutboxEntry, error) { return s.Store.OutboxClaim(ctx, p) })
}

// OutboxSettle implements store.Store.
func (s *faultStore) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	return afterCrash(s, func() (*store.OutboxEntry, error) { return s.Store.OutboxSettle(ctx, p) })
}

// OutboxRequeue implements store.Store.
func (s *faultStore) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	return afterCrash(s, func() (*store.OutboxEntry, error) { return s.Store.OutboxRequeue(ctx, p) })
}

// RecordsPrune implements store.Store.
func (s *faultStore) RecordsPrune(ctx context.Context, p *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	return afterCrash(s, func() (*store.RecordsPruneResult, error) { return s.Store.RecordsPrune(ctx, p) })
}

// RunsPrune implements store.Store.
func (s *faultStore) RunsPrune(ctx context.Context, p *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	return afterCrash(s, func() (*store.RunsPruneResult, error) { return s.Store.RunsPrune(ctx, p) })
}

// OutboxPrune implements store.Store.
func (s *faultStore) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	return afterCrash(s, func() (int, error) { return s.Store.OutboxPrune(ctx, p) })
}

// ConsumerCursorPut implements store.Store.
func (s *faultStore) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	return afterCrash(s, func() (*store.ConsumerCursor, error) { return s.Store.ConsumerCursorPut(ctx, p) })
}

// ConsumerDelete implements store.Store.
func (s *faultStore) ConsumerDelete(ctx context.Context, consumer string) error {
	return afterCrashErr(s, func() error { return s.Store.ConsumerDelete(ctx, consumer) })
}

// signalingFaultStore is the fault store of a store that implements store.Signaler (an
// optional capability the engine finds by type assertion): it passes the signals on, and
// sends none once the process has crashed.
type signalingFaultStore struct {
	*faultStore
	sg store.Signaler
}

// engineStore returns the store the harness's engines use: the fault store, with the wrapped
// store's optional capabilities.
func (s *faultStore) engineStore() store.Store {
	if sg, ok := s.Store.(store.Signaler); ok {
		return &signalingFaultStore{faultStore: s, sg: sg}
	}
	return s
}

// Signal implements store.Signaler; it fails after a crash.
func (s *signalingFaultStore) Signal(ctx context.Context, sig store.Signal) error {
	return afterCrashErr(s.faultStore, func() error { return s.sg.Signal(ctx, sig) })
}

// Signals implements store.Signaler.
func (s *signalingFaultStore) Signals(ctx context.Context) (<-chan store.Signal, error) {
	return s.sg.Signals(ctx)
}
