package bolt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

func checkpointKey(k store.CheckpointKey) []byte { return join(k.Integration, k.Sync, k.Connection) }

func checkVersion(tx *bbolt.Tx, key store.CheckpointKey, expected int64) error {
	cur := checkpointVersion(tx.Bucket(bucketCheckpoints).Get(checkpointKey(key)))
	if expected != store.AnyVersion && cur != expected {
		return fmt.Errorf("%w (checkpoint %s/%s/%s is at version %d, expected %d)",
			store.ErrVersionConflict, key.Integration, key.Sync, key.Connection, cur, expected)
	}
	return nil
}

func putCheckpoint(tx *bbolt.Tx, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	cp := &store.Checkpoint{Data: bytes.Clone(p.Data), Version: p.ExpectedVersion + 1, UpdatedAt: store.Clock(p.Now)}
	if err := tx.Bucket(bucketCheckpoints).Put(checkpointKey(p.Key), encodeCheckpoint(cp)); err != nil {
		return nil, err
	}
	return cp, nil
}

// CheckpointGet implements store.Store.
func (s *Store) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var cp *store.Checkpoint
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get(checkpointKey(key))
		if v == nil {
			return store.ErrNotFound
		}
		var ok bool
		if cp, ok = decodeCheckpoint(v); !ok {
			return damaged(fmt.Sprintf("checkpoint %s/%s/%s", key.Integration, key.Sync, key.Connection), "%d bytes, shorter than its header", len(v))
		}
		return nil
	})
	return cp, err
}

// CheckpointPut implements store.Store.
func (s *Store) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
		return nil, err
	}
	var cp *store.Checkpoint
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if err := checkFence(tx, p.Fence); err != nil {
			return err
		}
		if err := checkVersion(tx, p.Key, p.ExpectedVersion); err != nil {
			return err
		}
		var err error
		cp, err = putCheckpoint(tx, p)
		return err
	})
	return cp, err
}

// CheckpointDelete implements store.Store.
func (s *Store) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := checkFence(tx, p.Fence); err != nil {
			return err
		}
		if err := checkVersion(tx, p.Key, p.ExpectedVersion); err != nil {
			return err
		}
		return tx.Bucket(bucketCheckpoints).Delete(checkpointKey(p.Key))
	})
}
