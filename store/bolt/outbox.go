package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// The outbox keeps each entry as JSON under its id, a due index of the pending entries
// (next attempt micros, then id) so that claiming reads only what is due, and a count per state.

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
		dueIndex := tx.Bucket(bucketOutboxDue)
		c := dueIndex.Cursor()
		end := micros(now)
		scanned := 0
		for k, _ := c.First(); k != nil && len(claimed) < limit && scanned < store.MaxClaimScan; k, _ = c.Next() {
			if due, _, ok := decodeDueKey(k); ok && due > end {
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
			if err := dueIndex.Delete(k); err != nil {
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
		if k, _ := tx.Bucket(bucketOutboxDue).Cursor().First(); k != nil {
			if due, _, ok := decodeDueKey(k); ok {
				st.NextAttemptAt = fromMicros(due)
			}
		}
		return nil
	})
	return st, err
}

// OutboxPrune implements store.Store. It reads every entry, so prune regularly rather than
// rarely.
func (s *Store) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	limit, err := store.PrepareOutboxPrune(p)
	if err != nil {
		return 0, err
	}
	// The plan is made in a read transaction, so that the write lock is held only for the
	// removals; each is checked again there, as the entry may have been requeued meanwhile.
	var ids []string
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		var cands []store.PruneCandidate
		err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				s.skip("outbox entry "+string(k), err)
				return nil
			}
			if c, ok := e.Candidate(); ok {
				cands = append(cands, c)
			}
			return nil
		})
		ids = p.Plan(cands, limit)
		return err
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	n := 0
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		for _, id := range ids {
			e, err := getEntry(tx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				s.skip("outbox entry "+id, err)
				continue
			}
			if _, ok := e.Candidate(); !ok {
				continue
			}
			if err := putEntry(tx, e, nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
