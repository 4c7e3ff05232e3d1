package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gonango/nango/store"
)

// OutboxClaim implements store.Store.
func (s *Store) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	limit, now, err := store.PrepareOutboxClaim(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	skip := store.ClaimSkipper(p)
	var due []*store.OutboxEntry
	for _, e := range s.outbox {
		if e.State == store.OutboxPending && !e.NextAttemptAt.After(now) && !skip(e.Endpoint) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *store.OutboxEntry) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := []*store.OutboxEntry{}
	for _, e := range due[:min(limit, len(due))] {
		store.ApplyClaim(e, p, now)
		out = append(out, e.Clone())
	}
	return out, nil
}

// OutboxSettle implements store.Store.
func (s *Store) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	if err := store.ValidateOutboxSettle(p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e, ok := s.outbox[p.ID]
	if !ok {
		return nil, fmt.Errorf("outbox entry %q: %w", p.ID, store.ErrNotFound)
	}
	c := e.Clone()
	if err := store.ApplySettle(c, p); err != nil {
		return nil, err
	}
	s.outbox[p.ID] = c
	return c.Clone(), nil
}

// OutboxRequeue implements store.Store.
func (s *Store) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e, ok := s.outbox[p.ID]
	if !ok {
		return nil, fmt.Errorf("outbox entry %q: %w", p.ID, store.ErrNotFound)
	}
	store.ApplyRequeue(e, p.Now)
	return e.Clone(), nil
}

// OutboxGet implements store.Store.
func (s *Store) OutboxGet(ctx context.Context, id string) (*store.OutboxEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e, ok := s.outbox[id]
	if !ok {
		return nil, fmt.Errorf("outbox entry %q: %w", id, store.ErrNotFound)
	}
	return e.Clone(), nil
}

// OutboxList implements store.Store.
func (s *Store) OutboxList(ctx context.Context, p *store.OutboxListParams) ([]*store.OutboxEntry, error) {
	limit, err := store.PrepareOutboxList(p)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(s.outbox))
	for id := range s.outbox {
		if id > p.After {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := []*store.OutboxEntry{}
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		if e := s.outbox[id]; p.Match(e) {
			out = append(out, e.Clone())
		}
	}
	return out, nil
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (*store.OutboxStats, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	st := &store.OutboxStats{}
	for _, e := range s.outbox {
		switch e.State {
		case store.OutboxPending:
			st.Pending++
			if st.NextAttemptAt.IsZero() || e.NextAttemptAt.Before(st.NextAttemptAt) {
				st.NextAttemptAt = e.NextAttemptAt
			}
		case store.OutboxDelivered:
			st.Delivered++
		case store.OutboxDead:
			st.Dead++
		}
	}
	return st, nil
}

// OutboxPrune implements store.Store.
func (s *Store) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	limit, err := store.PrepareOutboxPrune(p)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var cands []store.PruneCandidate
	for _, e := range s.outbox {
		if c, ok := e.Candidate(); ok {
			cands = append(cands, c)
		}
	}
	ids := p.Plan(cands, limit)
	for _, id := range ids {
		delete(s.outbox, id)
	}
	return len(ids), nil
}
