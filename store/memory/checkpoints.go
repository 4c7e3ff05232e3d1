package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
)

func (s *Store) checkVersion(key store.CheckpointKey, expected int64) error {
	cur := int64(0)
	if cp := s.checkpoints[key]; cp != nil {
		cur = cp.Version
	}
	if expected != store.AnyVersion && cur != expected {
		return fmt.Errorf("%w (checkpoint %s/%s/%s is at version %d, expected %d)",
			store.ErrVersionConflict, key.Integration, key.Sync, key.Connection, cur, expected)
	}
	return nil
}

func (s *Store) putCheckpoint(p *store.CheckpointPutParams) *store.Checkpoint {
	cp := &store.Checkpoint{Data: slices.Clone(p.Data), Version: p.ExpectedVersion + 1, UpdatedAt: store.Clock(p.Now)}
	s.checkpoints[p.Key] = cp
	out := *cp
	out.Data = slices.Clone(cp.Data)
	return &out
}

// CheckpointGet implements store.Store.
func (s *Store) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	cp := s.checkpoints[key]
	if cp == nil {
		return nil, store.ErrNotFound
	}
	out := *cp
	out.Data = slices.Clone(cp.Data)
	return &out, nil
}

// CheckpointPut implements store.Store.
func (s *Store) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.checkFence(p.Fence); err != nil {
		return nil, err
	}
	if err := s.checkVersion(p.Key, p.ExpectedVersion); err != nil {
		return nil, err
	}
	return s.putCheckpoint(p), nil
}

// CheckpointDelete implements store.Store.
func (s *Store) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.checkFence(p.Fence); err != nil {
		return err
	}
	if err := s.checkVersion(p.Key, p.ExpectedVersion); err != nil {
		return err
	}
	delete(s.checkpoints, p.Key)
	return nil
}
