package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

func checkpointKey(k store.CheckpointKey) []byte { return join(k.Integration, k.Sync, k.Connection) }

func checkVersion(tx *bbolt.Tx, key store.CheckpointKey, expected int64) error {
	cur := int64(0)
	if v := tx.Bucket(bucketCheckpoints).Get(checkpointKey(key)); len(v) >= 16 {
		cur = int64(binary.BigEndian.Uint64(v[0:8]))
	}
	if expected != store.AnyVersion && cur != expected {
		return fmt.Errorf("%w (checkpoint %s/%s/%s is at version %d, expected %d)",
			store.ErrVersionConflict, key.Integration, key.Sync, key.Connection, cur, expected)
	}
	return nil
}

func putCheckpoint(tx *bbolt.Tx, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	cp := &store.Checkpoint{Data: bytes.Clone(p.Data), Version: p.ExpectedVersion + 1, UpdatedAt: store.Clock(p.Now)}
	v := make([]byte, 16+len(p.Data))
	binary.BigEndian.PutUint64(v[0:8], uint64(cp.Version))
	binary.BigEndian.PutUint64(v[8:16], micros(cp.UpdatedAt))
	copy(v[16:], p.Data)
	if err := tx.Bucket(bucketCheckpoints).Put(checkpointKey(p.Key), v); err != nil {
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
		if len(v) < 16 {
			return damaged(fmt.Sprintf("checkpoint %s/%s/%s", key.Integration, key.Sync, key.Connection), "%d bytes, shorter than its header", len(v))
		}
		cp = &store.Checkpoint{
			Version:   int64(binary.BigEndian.Uint64(v[0:8])),
			UpdatedAt: fromMicros(binary.BigEndian.Uint64(v[8:16])),
			Data:      bytes.Clone(v[16:]),
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

// RunInsert implements store.Store.
func (s *Store) RunInsert(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("bolt: encoding run: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		ids := tx.Bucket(bucketRunIDs)
		if ids.Get([]byte(run.ID)) != nil {
			return &store.ParamError{Param: "run id", Reason: fmt.Sprintf("%q already exists", run.ID)}
		}
		sk := syncKey(run.Key)
		b, err := tx.Bucket(bucketRuns).CreateBucketIfNotExists(sk)
		if err != nil {
			return asDamage("runs of "+keyName(sk), err)
		}
		b.FillPercent = 1.0
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), data); err != nil {
			return err
		}
		if err := ids.Put([]byte(run.ID), append(append(bytes.Clone(sk), 0), u64(seq)...)); err != nil {
			return err
		}
		return markLastOK(tx, run, sk, seq)
	})
}

func markLastOK(tx *bbolt.Tx, run *store.Run, sk []byte, seq uint64) error {
	if run.State != store.RunSucceeded {
		return nil
	}
	b := tx.Bucket(bucketRunLastOK)
	if v := b.Get(sk); len(v) == 8 && binary.BigEndian.Uint64(v) > seq {
		return nil
	}
	return b.Put(sk, u64(seq))
}

// runLocation finds where a run id is kept.
func runLocation(tx *bbolt.Tx, id string) (sk []byte, seq uint64, err error) {
	v := tx.Bucket(bucketRunIDs).Get([]byte(id))
	if len(v) < 9 {
		return nil, 0, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	return bytes.Clone(v[:len(v)-9]), binary.BigEndian.Uint64(v[len(v)-8:]), nil
}

// RunUpdate implements store.Store.
func (s *Store) RunUpdate(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("bolt: encoding run: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		sk, seq, err := runLocation(tx, run.ID)
		if err != nil {
			return err
		}
		if !bytes.Equal(sk, syncKey(run.Key)) {
			return &store.ParamError{Param: "run key", Reason: "a run cannot move to another sync or connection"}
		}
		runs, err := runBucket(tx, sk, run.ID)
		if err != nil {
			return err
		}
		if err := runs.Put(u64(seq), data); err != nil {
			return err
		}
		return markLastOK(tx, run, sk, seq)
	})
}

func decodeRun(v []byte) (*store.Run, error) {
	var r store.Run
	if v == nil {
		return nil, damaged("runs", "a run in the index is missing from its sync's runs")
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, damaged("runs", "a run does not decode: %v", err)
	}
	return &r, nil
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, id string) (*store.Run, error) {
	var run *store.Run
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		sk, seq, err := runLocation(tx, id)
		if err != nil {
			return err
		}
		runs, err := runBucket(tx, sk, id)
		if err != nil {
			return err
		}
		run, err = decodeRun(runs.Get(u64(seq)))
		return err
	})
	return run, err
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	limit, err := store.PrepareRunList(p)
	if err != nil {
		return nil, err
	}
	runs := []*store.Run{}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		sk := syncKey(p.Key)
		var k, v []byte
		b, err := nestedBucket(tx.Bucket(bucketRuns), sk, "runs of "+keyName(sk))
		if err != nil {
			return err
		}
		if p.Before != "" {
			bsk, seq, err := runLocation(tx, p.Before)
			if err != nil || !bytes.Equal(bsk, sk) {
				return fmt.Errorf("run %q of %s: %w", p.Before, p.Key.Sync, store.ErrNotFound)
			}
			if b == nil {
				return damaged("run "+p.Before, "indexed, but the runs of %s are missing", keyName(sk))
			}
			c := b.Cursor()
			c.Seek(u64(seq))
			k, v = c.Prev()
			return s.collectRuns(c, k, v, limit, &runs)
		}
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v = c.Last()
		return s.collectRuns(c, k, v, limit, &runs)
	})
	return runs, err
}

func (s *Store) collectRuns(c *bbolt.Cursor, k, v []byte, limit int, runs *[]*store.Run) error {
	for ; k != nil && len(*runs) < limit; k, v = c.Prev() {
		r, err := decodeRun(v)
		if err != nil {
			s.skip(fmt.Sprintf("run %x", k), err)
			continue
		}
		*runs = append(*runs, r)
	}
	return nil
}

// RunLastSuccess implements store.Store.
func (s *Store) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var run *store.Run
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		sk := syncKey(key)
		v := tx.Bucket(bucketRunLastOK).Get(sk)
		if len(v) != 8 {
			return store.ErrNotFound
		}
		runs, err := runBucket(tx, sk, "last successful")
		if err != nil {
			return err
		}
		run, err = decodeRun(runs.Get(v))
		return err
	})
	return run, err
}

func connKey(integration, id string) []byte { return join(integration, id) }

// ConnectionPut implements store.Store.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("bolt: encoding connection: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConns).Put(connKey(c.Integration, c.ID), data)
	})
}

func decodeConn(v []byte) (*store.Connection, error) {
	var c store.Connection
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, damaged("connections", "a connection does not decode: %v", err)
	}
	return &c, nil
}

// ConnectionGet implements store.Store.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	var c *store.Connection
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketConns).Get(connKey(integration, id))
		if v == nil {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		var err error
		c, err = decodeConn(v)
		return err
	})
	return c, err
}

// ConnectionList implements store.Store.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	out := []*store.Connection{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketConns).Cursor()
		var prefix []byte
		if integration != "" {
			prefix = append([]byte(integration), 0)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			conn, err := decodeConn(v)
			if err != nil {
				s.skip("connection "+keyName(k), err)
				continue
			}
			out = append(out, conn)
		}
		return nil
	})
	return out, err
}

// ConnectionDelete implements store.Store.
func (s *Store) ConnectionDelete(ctx context.Context, integration, id string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		conns := tx.Bucket(bucketConns)
		ck := connKey(integration, id)
		if conns.Get(ck) == nil {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		if err := conns.Delete(ck); err != nil {
			return err
		}
		// Streams and windows are keyed integration\x00connection\x00...
		prefix := append(bytes.Clone(ck), 0)
		if err := deleteNested(tx.Bucket(bucketWindows), prefix); err != nil {
			return err
		}
		// Streams are emptied as StreamDelete does, keeping a new epoch so that cursors taken
		// before are recognised as stale.
		var streams [][]byte
		sc := tx.Bucket(bucketStreams).Cursor()
		for k, _ := sc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = sc.Next() {
			streams = append(streams, bytes.Clone(k))
		}
		for _, k := range streams {
			root, err := nestedBucket(tx.Bucket(bucketStreams), k, "stream "+keyName(k))
			if err != nil {
				return err
			}
			if root.Bucket(bucketIndex) == nil || root.Bucket(bucketLog) == nil {
				return damaged("stream "+keyName(k), "its index or change log bucket is missing")
			}
			if err := emptyStream(root); err != nil {
				return err
			}
		}
		// Checkpoints and runs are keyed integration\x00sync\x00connection.
		match := func(k []byte) bool {
			parts := bytes.Split(k, []byte{0})
			return len(parts) == 3 && string(parts[0]) == integration && string(parts[2]) == id
		}
		if err := deleteKeys(tx.Bucket(bucketCheckpoints), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := deleteKeys(tx.Bucket(bucketRunLastOK), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := deleteKeys(tx.Bucket(bucketSchedules), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := releaseLeases(tx, []byte(integration+"\x00"), match); err != nil {
			return err
		}
		if err := deleteConsumerCursors(tx, integration, id); err != nil {
			return err
		}
		runs := tx.Bucket(bucketRuns)
		var doomed [][]byte
		c := runs.Cursor()
		pfx := []byte(integration + "\x00")
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			if match(k) {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		for _, sk := range doomed {
			var runIDs [][]byte
			b, err := nestedBucket(runs, sk, "runs of "+keyName(sk))
			if err != nil {
				return err
			}
			_ = b.ForEach(func(_, v []byte) error {
				var r struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(v, &r) == nil {
					runIDs = append(runIDs, []byte(r.ID))
				}
				return nil
			})
			for _, rid := range runIDs {
				if err := tx.Bucket(bucketRunIDs).Delete(rid); err != nil {
					return err
				}
			}
			if err := runs.DeleteBucket(sk); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteNested(b *bbolt.Bucket, prefix []byte) error {
	return deleteKeys(b, prefix, func([]byte) bool { return true }, true)
}

func deleteKeys(b *bbolt.Bucket, prefix []byte, match func([]byte) bool, nested bool) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if match(k) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		var err error
		if nested {
			err = b.DeleteBucket(k)
		} else {
			err = b.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
