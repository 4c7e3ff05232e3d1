package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// RecordsPrune implements store.Store. It scans the log from the stream's prune mark, below
// which every entry is pruned already, so that repeated calls do not rescan what they pruned.
func (s *Store) RecordsPrune(ctx context.Context, p *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	q, err := store.PreparePrune(p)
	if err != nil {
		return nil, err
	}
	res := &store.RecordsPruneResult{}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		*res = store.RecordsPruneResult{}
		sb := openStream(tx, q.Stream)
		if sb == nil {
			return nil
		}
		if q.Stale(sb.state.epoch) {
			return store.ErrCursorStale
		}
		now := micros(q.Now)
		mark := pruneMark(sb.root)
		newMark := mark
		var ar arena
		var keys, entries, ids [][]byte
		c := sb.log.Cursor()
		for k, v := c.Seek(u64(mark + 1)); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			h, id, _, err := decodeLog(v)
			if err != nil {
				return err
			}
			if !q.Selects(seq, fromMicros(h.lastModified)) {
				break
			}
			if h.prunedAt == 0 {
				if res.Count == q.Limit {
					res.HasMore = true
					break
				}
				h.prunedAt = now
				keys = append(keys, ar.u64(seq))
				entries = append(entries, ar.log(h, string(id), nil))
				ids = append(ids, bytes.Clone(id))
				res.Count++
			}
			newMark = seq
		}
		for i, k := range keys {
			if err := sb.log.Put(k, entries[i]); err != nil {
				return err
			}
			iv := sb.index.Get(ids[i])
			if len(iv) != indexLen {
				return fmt.Errorf("bolt: corrupt index entry for %q in %s", ids[i], q.Stream)
			}
			e := decodeIndex(iv)
			e.pruned = true
			if err := sb.index.Put(ids[i], ar.index(e)); err != nil {
				return err
			}
		}
		if newMark != mark {
			return sb.root.Put(keyPruneMark, ar.u64(newMark))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
