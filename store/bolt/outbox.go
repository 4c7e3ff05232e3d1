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

// The outbox keeps each entry as JSON under its id, a due index of the pending entries
// (next attempt micros, then id) so that claiming reads only what is due, and a count per state.

func dueKey(e *store.OutboxEntry) []byte {
	k := make([]byte, 8+len(e.ID))
	binary.BigEndian.PutUint64(k, micros(e.NextAttemptAt))
	copy(k[8:], e.ID)
	return k
}

func getEntry(tx *bbolt.Tx, id string) (*store.OutboxEntry, error) {
	v := tx.Bucket(bucketOutbox).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("outbox entry %q: %w", id, store.ErrNotFound)
	}
	return decodeEntry(v)
}

func decodeEntry(v []byte) (*store.OutboxEntry, error) {
	var e store.OutboxEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, damaged("outbox", "an entry does not decode: %v", err)
	}
	return &e, nil
}

// putEntry writes e, replacing old (nil for a new entry), and keeps the due index and the
// counts in step.
func putEntry(tx *bbolt.Tx, old, e *store.OutboxEntry) error {
	due := tx.Bucket(bucketOutboxDue)
	if old != nil {
		if old.State == store.OutboxPending {
			if err := due.Delete(dueKey(old)); err != nil {
				return err
			}
		}
		if err := count(tx, old.State, -1); err != nil {
			return err
		}
	}
	if e == nil {
		return tx.Bucket(bucketOutbox).Delete([]byte(old.ID))
	}
	if e.State == store.OutboxPending {
		if err := due.Put(dueKey(e), nil); err != nil {
			return err
		}
	}
	if err := count(tx, e.State, 1); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("bolt: encoding outbox entry: %w", err)
	}
	return tx.Bucket(bucketOutbox).Put([]byte(e.ID), data)
}

func count(tx *bbolt.Tx, state store.OutboxState, delta int64) error {
	b := tx.Bucket(bucketOutboxStats)
	var n int64
	if v := b.Get([]byte(state)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return b.Put([]byte(state), u64(uint64(max(n+delta, 0))))
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

// OutboxClaim implements store.Store.
func (s *Store) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	limit, now, err := store.PrepareOutboxClaim(p)
	if err != nil {
		return nil, err
	}
	skip := store.ClaimSkipper(p)
	out := []*store.OutboxEntry{}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		out = out[:0]
		var claimed []*store.OutboxEntry
		var bad [][]byte
		due := tx.Bucket(bucketOutboxDue)
		c := due.Cursor()
		end := micros(now)
		scanned := 0
		for k, _ := c.First(); k != nil && len(claimed) < limit && scanned < store.MaxClaimScan; k, _ = c.Next() {
			if len(k) >= 8 && binary.BigEndian.Uint64(k[:8]) > end {
				break
			}
			scanned++
			old, err := dueEntry(tx, k)
			if err != nil {
				// A due key without an entry that decodes would stop every delivery behind
				// it: the key goes, reported, and the entry (if any) stays out of the index.
				s.skip(fmt.Sprintf("outbox due index key %x", k), err)
				bad = append(bad, bytes.Clone(k))
				continue
			}
			if !skip(old.Endpoint) {
				claimed = append(claimed, old)
			}
		}
		for _, k := range bad {
			if err := due.Delete(k); err != nil {
				return err
			}
		}
		for _, old := range claimed {
			e := old.Clone()
			store.ApplyClaim(e, p, now)
			if err := putEntry(tx, old, e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxSettle implements store.Store.
func (s *Store) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	if err := store.ValidateOutboxSettle(p); err != nil {
		return nil, err
	}
	var out *store.OutboxEntry
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getEntry(tx, p.ID)
		if err != nil {
			return err
		}
		e := old.Clone()
		if err := store.ApplySettle(e, p); err != nil {
			return err
		}
		out = e
		return putEntry(tx, old, e)
	})
	return out, err
}

// OutboxRequeue implements store.Store.
func (s *Store) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	var out *store.OutboxEntry
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getEntry(tx, p.ID)
		if err != nil {
			return err
		}
		e := old.Clone()
		store.ApplyRequeue(e, p.Now)
		out = e
		return putEntry(tx, old, e)
	})
	return out, err
}

// OutboxGet implements store.Store.
func (s *Store) OutboxGet(ctx context.Context, id string) (*store.OutboxEntry, error) {
	var out *store.OutboxEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = getEntry(tx, id)
		return err
	})
	return out, err
}

// OutboxList implements store.Store.
func (s *Store) OutboxList(ctx context.Context, p *store.OutboxListParams) ([]*store.OutboxEntry, error) {
	limit, err := store.PrepareOutboxList(p)
	if err != nil {
		return nil, err
	}
	out := []*store.OutboxEntry{}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		k, v := c.Seek([]byte(p.After))
		if k != nil && p.After != "" && string(k) == p.After {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			e, err := decodeEntry(v)
			if err != nil {
				s.skip("outbox entry "+string(k), err)
				continue
			}
			if p.Match(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (*store.OutboxStats, error) {
	st := &store.OutboxStats{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutboxStats)
		get := func(state store.OutboxState) int {
			if v := b.Get([]byte(state)); len(v) == 8 {
				return int(binary.BigEndian.Uint64(v))
			}
			return 0
		}
		st.Pending, st.Delivered, st.Dead = get(store.OutboxPending), get(store.OutboxDelivered), get(store.OutboxDead)
		if k, _ := tx.Bucket(bucketOutboxDue).Cursor().First(); len(k) >= 8 {
			st.NextAttemptAt = fromMicros(binary.BigEndian.Uint64(k[:8]))
		}
		return nil
	})
	return st, err
}

// OutboxPrune implements store.Store. It reads every entry, so prune regularly rather than
// rarely.
func (s *Store) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	if p == nil {
		return 0, &store.ParamError{Param: "params", Reason: "nil"}
	}
	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		var doomed []*store.OutboxEntry
		err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				s.skip("outbox entry "+string(k), err)
				return nil
			}
			if p.Prunes(e) {
				doomed = append(doomed, e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range doomed {
			if err := putEntry(tx, e, nil); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

func consumerKey(k store.ConsumerKey) []byte {
	return join(k.Consumer, k.Stream.Integration, k.Stream.Connection, k.Stream.Model)
}

func decodeConsumer(k, v []byte) (*store.ConsumerCursor, error) {
	parts := bytes.Split(k, []byte{0})
	if len(parts) != 4 || len(v) < 8 {
		return nil, damaged("consumer cursors", "the cursor at %q does not decode", k)
	}
	return &store.ConsumerCursor{
		Key: store.ConsumerKey{Consumer: string(parts[0]), Stream: store.Stream{
			Integration: string(parts[1]), Connection: string(parts[2]), Model: string(parts[3]),
		}},
		UpdatedAt: fromMicros(binary.BigEndian.Uint64(v[:8])),
		Cursor:    string(v[8:]),
	}, nil
}

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, key store.ConsumerKey) (*store.ConsumerCursor, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.ConsumerCursor
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		k := consumerKey(key)
		v := tx.Bucket(bucketConsumers).Get(k)
		if v == nil {
			return fmt.Errorf("cursor of consumer %q in %s: %w", key.Consumer, key.Stream, store.ErrNotFound)
		}
		var err error
		out, err = decodeConsumer(k, v)
		return err
	})
	return out, err
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return nil, err
	}
	out := &store.ConsumerCursor{Key: p.Key, Cursor: p.Cursor, UpdatedAt: store.Clock(p.Now)}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConsumers)
		k := consumerKey(p.Key)
		cur := ""
		if v := b.Get(k); len(v) >= 8 {
			cur = string(v[8:])
		}
		if cur != p.Expected {
			return store.ConsumerConflictError(p.Key, cur, p.Expected)
		}
		v := make([]byte, 8+len(p.Cursor))
		binary.BigEndian.PutUint64(v, micros(out.UpdatedAt))
		copy(v[8:], p.Cursor)
		return b.Put(k, v)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return nil, err
	}
	out := []*store.ConsumerCursor{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := append([]byte(consumer), 0)
		c := tx.Bucket(bucketConsumers).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			cc, err := decodeConsumer(k, v)
			if err != nil {
				s.skip("consumer cursor "+keyName(k), err)
				continue
			}
			out = append(out, cc)
		}
		return nil
	})
	return out, err
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return deleteKeys(tx.Bucket(bucketConsumers), append([]byte(consumer), 0), func([]byte) bool { return true }, false)
	})
}

// deleteConsumerCursors removes every consumer's cursors in the streams of a connection.
func deleteConsumerCursors(tx *bbolt.Tx, integration, id string) error {
	return deleteKeys(tx.Bucket(bucketConsumers), nil, func(k []byte) bool {
		parts := bytes.Split(k, []byte{0})
		return len(parts) == 4 && string(parts[1]) == integration && string(parts[2]) == id
	}, false)
}
