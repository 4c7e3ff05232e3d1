package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
)

// checkpointLocked returns the current checkpoint of key as the run sees it. Callers hold s.mu.
func (s *Store) checkpointLocked(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if dc := s.checkpoints[key]; dc != nil {
		if dc.deleted {
			return nil, store.ErrNotFound
		}
		cp := dc.cp
		return &cp, nil
	}
	return s.base.CheckpointGet(ctx, key)
}

func (s *Store) checkpointVersion(ctx context.Context, key store.CheckpointKey) (int64, error) {
	cp, err := s.checkpointLocked(ctx, key)
	switch {
	case err == nil:
		return cp.Version, nil
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	default:
		return 0, err
	}
}

func (s *Store) putCheckpointLocked(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	cur, err := s.checkpointVersion(ctx, p.Key)
	if err != nil {
		return nil, err
	}
	if cur != p.ExpectedVersion {
		return nil, fmt.Errorf("%w (at version %d, expected %d)", store.ErrVersionConflict, cur, p.ExpectedVersion)
	}
	cp := store.Checkpoint{Data: bytes.Clone(p.Data), Version: cur + 1, UpdatedAt: store.Clock(p.Now)}
	s.checkpoints[p.Key] = &checkpoint{cp: cp}
	out := cp
	return &out, nil
}

// CheckpointGet implements store.Store: the run's checkpoint, else the base's.
func (s *Store) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpointLocked(ctx, key)
}

// CheckpointPut implements store.Store: the checkpoint is kept in the sandbox, versioned on
// from the base's.
func (s *Store) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putCheckpointLocked(ctx, p)
}

// CheckpointDelete implements store.Store: the deletion is kept in the sandbox.
func (s *Store) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.checkpointVersion(ctx, p.Key)
	if err != nil {
		return err
	}
	if p.ExpectedVersion != store.AnyVersion && cur != p.ExpectedVersion {
		return fmt.Errorf("%w (at version %d, expected %d)", store.ErrVersionConflict, cur, p.ExpectedVersion)
	}
	s.checkpoints[p.Key] = &checkpoint{deleted: true}
	return nil
}
