package overlay

import (
	"context"
	"errors"

	"github.com/gonango/nango/store"
)

// Runs, leases, schedules, outbox entries and consumer cursors are kept in the sandbox; reads
// fall back to the base where a run expects history (runs, schedules). A run's webhooks are
// dropped: a dry run sends none.

// RunInsert implements store.Store: runs are kept in the sandbox.
func (s *Store) RunInsert(ctx context.Context, run *store.Run) error {
	return s.mem.RunInsert(ctx, run)
}

// RunUpdate implements store.Store.
func (s *Store) RunUpdate(ctx context.Context, run *store.Run) error {
	return s.mem.RunUpdate(ctx, run)
}

// RunFinish implements store.Store: the run is kept in the sandbox and its webhooks are dropped.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if p == nil {
		return s.mem.RunFinish(ctx, nil)
	}
	return s.mem.RunFinish(ctx, &store.RunFinishParams{Run: p.Run})
}

// RunGet implements store.Store: the sandbox's run, else the base's.
func (s *Store) RunGet(ctx context.Context, id string) (*store.Run, error) {
	r, err := s.mem.RunGet(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.base.RunGet(ctx, id)
	}
	return r, err
}

// RunList implements store.Store: the sandbox's runs, then the base's.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	mine, err := s.mem.RunList(ctx, p)
	if err != nil || p.Before != "" {
		return mine, err
	}
	theirs, err := s.base.RunList(ctx, p)
	if err != nil {
		return nil, err
	}
	out := append(mine, theirs...)
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	return out[:min(len(out), limit)], nil
}

// RunLastSuccess implements store.Store with the base's history.
func (s *Store) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	return s.base.RunLastSuccess(ctx, key)
}

// LeaseAcquire implements store.Store: the run's lease is the sandbox's.
func (s *Store) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	return s.mem.LeaseAcquire(ctx, p)
}

// LeaseRenew implements store.Store.
func (s *Store) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	return s.mem.LeaseRenew(ctx, p)
}

// LeaseRelease implements store.Store.
func (s *Store) LeaseRelease(ctx context.Context, l *store.Lease) error {
	return s.mem.LeaseRelease(ctx, l)
}

// SchedulePut implements store.Store: schedules stay in the sandbox.
func (s *Store) SchedulePut(ctx context.Context, sc *store.Schedule) error {
	return s.mem.SchedulePut(ctx, sc)
}

// ScheduleUpdate implements store.Store: the result stays in the sandbox.
func (s *Store) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	if _, err := s.mem.ScheduleGet(ctx, key); errors.Is(err, store.ErrNotFound) {
		sc, err := s.base.ScheduleGet(ctx, key)
		if err != nil {
			return nil, err
		}
		if err := s.mem.SchedulePut(ctx, sc); err != nil {
			return nil, err
		}
	}
	return s.mem.ScheduleUpdate(ctx, key, update)
}

// ScheduleGet implements store.Store: the sandbox's schedule, else the base's.
func (s *Store) ScheduleGet(ctx context.Context, key store.SyncKey) (*store.Schedule, error) {
	sc, err := s.mem.ScheduleGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return s.base.ScheduleGet(ctx, key)
	}
	return sc, err
}

// ScheduleList implements store.Store with the base's schedules.
func (s *Store) ScheduleList(ctx context.Context, integration string) ([]*store.Schedule, error) {
	return s.base.ScheduleList(ctx, integration)
}

// OutboxClaim implements store.Store.
func (s *Store) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	return s.mem.OutboxClaim(ctx, p)
}

// OutboxSettle implements store.Store.
func (s *Store) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	return s.mem.OutboxSettle(ctx, p)
}

// OutboxRequeue implements store.Store.
func (s *Store) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	return s.mem.OutboxRequeue(ctx, p)
}

// OutboxGet implements store.Store.
func (s *Store) OutboxGet(ctx context.Context, id string) (*store.OutboxEntry, error) {
	return s.mem.OutboxGet(ctx, id)
}

// OutboxList implements store.Store.
func (s *Store) OutboxList(ctx context.Context, p *store.OutboxListParams) ([]*store.OutboxEntry, error) {
	return s.mem.OutboxList(ctx, p)
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (*store.OutboxStats, error) {
	return s.mem.OutboxStats(ctx)
}

// RecordsPrune implements store.Store: a dry run prunes nothing. The parameters are checked as
// the base would check them.
func (s *Store) RecordsPrune(ctx context.Context, p *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	if _, err := store.PreparePrune(p); err != nil {
		return nil, err
	}
	return &store.RecordsPruneResult{}, ctx.Err()
}

// RunsPrune implements store.Store: runs live in the sandbox.
func (s *Store) RunsPrune(ctx context.Context, p *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	return s.mem.RunsPrune(ctx, p)
}

// OutboxPrune implements store.Store.
func (s *Store) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	return s.mem.OutboxPrune(ctx, p)
}

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, k store.ConsumerKey) (*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorGet(ctx, k)
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorPut(ctx, p)
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorList(ctx, consumer)
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	return s.mem.ConsumerDelete(ctx, consumer)
}
