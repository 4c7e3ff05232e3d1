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

// RunFinish implements store.Store.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	entries, err := store.PrepareRunFinish(p)
	if err != nil {
		return err
	}
	data, err := json.Marshal(p.Run)
	if err != nil {
		return fmt.Errorf("bolt: encoding run: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		run := p.Run
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
		if err := markLastOK(tx, run, sk, seq); err != nil {
			return err
		}
		for _, e := range entries {
			if tx.Bucket(bucketOutbox).Get([]byte(e.ID)) != nil {
				return &store.ParamError{Param: "outbox entry id", Reason: fmt.Sprintf("%q already exists", e.ID)}
			}
			if err := putEntry(tx, nil, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunsPrune implements store.Store. It walks the sync key's runs newest first and removes the
// chosen ones with their id index entries; the newest successful run is never among them, so
// runlastok stays right.
func (s *Store) RunsPrune(ctx context.Context, p *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	q, err := store.PrepareRunsPrune(p)
	if err != nil {
		return nil, err
	}
	res := &store.RunsPruneResult{}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		*res = store.RunsPruneResult{}
		sk := syncKey(q.Key)
		b, err := nestedBucket(tx.Bucket(bucketRuns), sk, "runs of "+keyName(sk))
		if err != nil || b == nil {
			return err
		}
		walk := store.NewRunsPruneWalk(q)
		var keys [][]byte
		var ids []string
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := decodeRun(v)
			if err != nil {
				s.skip(fmt.Sprintf("run %x", k), err)
				continue
			}
			if !walk.Prunes(r) {
				continue
			}
			if res.Count == q.Limit {
				res.HasMore = true
				break
			}
			keys, ids = append(keys, bytes.Clone(k)), append(ids, r.ID)
			res.Count++
		}
		for i, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(bucketRunIDs).Delete([]byte(ids[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
