package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gonango/nango/store"
)

// maxSkippedIDs bounds RecordsWriteResult.SkippedIDs.
const maxSkippedIDs = 10

// guard returns the IgnoreModifiedAfter check of a write: skip reports whether the record e
// (nil when unknown) is left alone, counting it in res. It also records the stream's cursor
// before the write. Callers hold s.mu.
func (s *Store) guard(p *store.RecordsWriteParams, st *stream, res *store.RecordsWriteResult) (func(e *entry, id string, res *store.RecordsWriteResult) bool, error) {
	if p.IgnoreModifiedAfter == nil {
		return func(*entry, string, *store.RecordsWriteResult) bool { return false }, nil
	}
	newer, err := p.IgnoreModifiedAfter.ModifiedAfter(p.Stream)
	if err != nil {
		return nil, err
	}
	res.PrevCursor = s.head(p.Stream)
	return func(e *entry, id string, res *store.RecordsWriteResult) bool {
		if e == nil || !newer(e.seq, st.epoch) {
			return false
		}
		res.Skipped++
		if len(res.SkippedIDs) < maxSkippedIDs {
			res.SkippedIDs = append(res.SkippedIDs, id)
		}
		return true
	}, nil
}

// head is the cursor of a stream's newest change, or "". Callers hold s.mu.
func (s *Store) head(key store.Stream) string {
	st := s.streams[key]
	if st == nil || st.seq == 0 {
		return ""
	}
	return store.NewCursorCodec(key).Encode(st.seq, st.epoch)
}

// StreamCursor implements store.Store.
func (s *Store) StreamCursor(ctx context.Context, key store.Stream) (string, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return "", err
	}
	return s.head(key), nil
}

// RunFinish implements store.Store.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	entries, err := store.PrepareRunFinish(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	run := p.Run
	old, ok := s.runs[run.ID]
	if !ok {
		return fmt.Errorf("run %q: %w", run.ID, store.ErrNotFound)
	}
	if old.Key != run.Key {
		return &store.ParamError{Param: "run key", Reason: "a run cannot move to another sync or connection"}
	}
	for _, e := range entries {
		if _, dup := s.outbox[e.ID]; dup {
			return &store.ParamError{Param: "outbox entry id", Reason: fmt.Sprintf("%q already exists", e.ID)}
		}
	}
	s.runs[run.ID] = cloneRun(run)
	for _, e := range entries {
		s.outbox[e.ID] = e
	}
	return nil
}

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
	if p == nil {
		return 0, &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for id, e := range s.outbox {
		if p.Prunes(e) {
			delete(s.outbox, id)
			n++
		}
	}
	return n, nil
}

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, key store.ConsumerKey) (*store.ConsumerCursor, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	c, ok := s.consumers[key]
	if !ok {
		return nil, fmt.Errorf("cursor of consumer %q in %s: %w", key.Consumer, key.Stream, store.ErrNotFound)
	}
	out := *c
	return &out, nil
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	cur := ""
	if c, ok := s.consumers[p.Key]; ok {
		cur = c.Cursor
	}
	if cur != p.Expected {
		return nil, store.ConsumerConflictError(p.Key, cur, p.Expected)
	}
	c := &store.ConsumerCursor{Key: p.Key, Cursor: p.Cursor, UpdatedAt: store.Clock(p.Now)}
	s.consumers[p.Key] = c
	out := *c
	return &out, nil
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := []*store.ConsumerCursor{}
	for k, c := range s.consumers {
		if k.Consumer == consumer {
			cc := *c
			out = append(out, &cc)
		}
	}
	slices.SortFunc(out, func(a, b *store.ConsumerCursor) int {
		x, y := a.Key.Stream, b.Key.Stream
		return strings.Compare(x.Integration+"\x00"+x.Connection+"\x00"+x.Model, y.Integration+"\x00"+y.Connection+"\x00"+y.Model)
	})
	return out, nil
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	for k := range s.consumers {
		if k.Consumer == consumer {
			delete(s.consumers, k)
		}
	}
	return nil
}
