package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
)

func cloneRun(r *store.Run) *store.Run {
	b, _ := json.Marshal(r)
	var out store.Run
	_ = json.Unmarshal(b, &out)
	return &out
}

// RunInsert implements store.Store.
func (s *Store) RunInsert(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, ok := s.runs[run.ID]; ok {
		return &store.ParamError{Param: "run id", Reason: fmt.Sprintf("%q already exists", run.ID)}
	}
	s.runs[run.ID] = cloneRun(run)
	s.runsByKey[run.Key] = append(s.runsByKey[run.Key], run.ID)
	return nil
}

// RunUpdate implements store.Store.
func (s *Store) RunUpdate(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	old, ok := s.runs[run.ID]
	if !ok {
		return fmt.Errorf("run %q: %w", run.ID, store.ErrNotFound)
	}
	if old.Key != run.Key {
		return &store.ParamError{Param: "run key", Reason: "a run cannot move to another sync or connection"}
	}
	s.runs[run.ID] = cloneRun(run)
	return nil
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, id string) (*store.Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	r, ok := s.runs[id]
	if !ok {
		return nil, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	return cloneRun(r), nil
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	limit, err := store.PrepareRunList(p)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := s.runsByKey[p.Key]
	end := len(ids)
	if p.Before != "" {
		end = slices.Index(ids, p.Before)
		if end < 0 {
			return nil, fmt.Errorf("run %q of %s: %w", p.Before, p.Key.Sync, store.ErrNotFound)
		}
	}
	out := []*store.Run{}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, cloneRun(s.runs[ids[i]]))
	}
	return out, nil
}

// RunLastSuccess implements store.Store.
func (s *Store) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := s.runsByKey[key]
	for i := len(ids) - 1; i >= 0; i-- {
		if r := s.runs[ids[i]]; r.State == store.RunSucceeded {
			return cloneRun(r), nil
		}
	}
	return nil, store.ErrNotFound
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

// RunsPrune implements store.Store.
func (s *Store) RunsPrune(ctx context.Context, p *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	q, err := store.PrepareRunsPrune(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	res := &store.RunsPruneResult{}
	ids := s.runsByKey[q.Key]
	walk := store.NewRunsPruneWalk(q)
	gone := map[string]bool{}
	for i := len(ids) - 1; i >= 0; i-- {
		if !walk.Prunes(s.runs[ids[i]]) {
			continue
		}
		if res.Count == q.Limit {
			res.HasMore = true
			break
		}
		gone[ids[i]] = true
		res.Count++
	}
	if res.Count > 0 {
		s.runsByKey[q.Key] = slices.DeleteFunc(ids, func(id string) bool { return gone[id] })
		for id := range gone {
			delete(s.runs, id)
		}
	}
	return res, nil
}
