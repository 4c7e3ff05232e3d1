package bolt

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// A deletion-tracking window is a bucket of chunks, each a sorted run of ids:
// count(4) then, per id, uvarint length and bytes. A write appends one chunk, or folds its ids
// into the last chunk while that one is small, so many tiny writes do not make many chunks.
const smallChunk = 512

// sweepBatch is how many records one sweep transaction deletes in a stream of live records.
// Each deletion rewrites the log page of the record's previous change and, once per transaction,
// the branch pages above it; in a larger stream the deletions of a batch land on more distinct
// pages, so the batch shrinks as the stream grows to bound the pages (and the memory) one
// transaction dirties: about 1,000 at 100,000 records, 250 from 400,000 on.
func sweepBatch(live int) int {
	const budget = 100_000_000
	return min(max(budget/max(live, 1), 250), 5000)
}

func windowKey(s store.Stream, sync string) []byte {
	return join(s.Integration, s.Connection, s.Model, sync)
}

func encodeChunk(ids []string) []byte {
	n := 4
	for _, id := range ids {
		n += binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(id))) + len(id)
	}
	b := make([]byte, 4, n)
	binary.BigEndian.PutUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

func decodeChunk(v []byte) ([]string, error) {
	it := chunkIter{data: v, off: 4}
	if len(v) < 4 {
		return nil, fmt.Errorf("bolt: corrupt window chunk")
	}
	ids := make([]string, 0, binary.BigEndian.Uint32(v))
	for it.next() {
		ids = append(ids, string(it.cur))
	}
	return ids, it.err
}

// appendWindow adds sorted ids to a window.
func appendWindow(tx *bbolt.Tx, s store.Stream, sync string, ids []string) error {
	w, err := tx.Bucket(bucketWindows).CreateBucketIfNotExists(windowKey(s, sync))
	if err != nil {
		return fmt.Errorf("bolt: opening deletion window of %s for %s: %w", sync, s, err)
	}
	w.FillPercent = 1.0
	k, v := w.Cursor().Last()
	if k != nil && len(v) >= 4 && binary.BigEndian.Uint32(v) < smallChunk {
		prev, err := decodeChunk(v)
		if err != nil {
			return err
		}
		return w.Put(bytes.Clone(k), encodeChunk(mergeSorted(prev, ids)))
	}
	seq, err := w.NextSequence()
	if err != nil {
		return err
	}
	if err := w.Put(u64(seq), encodeChunk(ids)); err != nil {
		return err
	}
	return compactWindow(w)
}

// Window compaction. A window that spans many runs (a sync that keeps failing) gathers a chunk
// per write, and the sweep holds a position per chunk. When more than compactAfter chunks are
// below compactBelow ids, they are merged, without duplicates, into one, so the number of chunks
// stays a small fraction of the ids the window holds.
const (
	compactAfter = 64
	compactBelow = 4096
)

func compactWindow(w *bbolt.Bucket) error {
	var keys [][]byte
	var values [][]byte
	err := w.ForEach(func(k, v []byte) error {
		if len(v) >= 4 && binary.BigEndian.Uint32(v) < compactBelow {
			keys = append(keys, bytes.Clone(k))
			values = append(values, v)
		}
		return nil
	})
	if err != nil || len(keys) <= compactAfter {
		return err
	}
	merged, err := mergeChunks(values)
	if err != nil {
		return err
	}
	// The merged chunk takes the newest key, so that small writes keep folding into it.
	for _, k := range keys[:len(keys)-1] {
		if err := w.Delete(k); err != nil {
			return err
		}
	}
	return w.Put(keys[len(keys)-1], merged)
}

// mergeChunks merges sorted chunks into one sorted chunk without duplicates, streaming the ids
// from the chunks' bytes.
func mergeChunks(values [][]byte) ([]byte, error) {
	h := &seenSet{}
	size := 4
	for _, v := range values {
		it := &chunkIter{data: v, off: 4}
		if it.next() {
			*h = append(*h, it)
		}
		if it.err != nil {
			return nil, it.err
		}
		size += len(v) - 4
	}
	heap.Init(h)
	out := make([]byte, 4, size)
	var n uint32
	var last []byte
	for h.Len() > 0 {
		top := (*h)[0]
		if n == 0 || !bytes.Equal(top.cur, last) {
			out = binary.AppendUvarint(out, uint64(len(top.cur)))
			out = append(out, top.cur...)
			last = top.cur
			n++
		}
		if top.next() {
			heap.Fix(h, 0)
		} else {
			if top.err != nil {
				return nil, top.err
			}
			heap.Pop(h)
		}
	}
	binary.BigEndian.PutUint32(out, n)
	return out, nil
}

func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func deleteWindows(tx *bbolt.Tx, prefix []byte) error {
	root := tx.Bucket(bucketWindows)
	prefix = append(bytes.Clone(prefix), 0)
	var keys [][]byte
	c := root.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := root.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}

// chunkIter walks one chunk. start is the offset of cur, so that a position survives from one
// transaction to the next.
type chunkIter struct {
	key   []byte
	data  []byte
	off   int
	start int
	cur   []byte
	err   error
}

func (it *chunkIter) next() bool {
	if it.off >= len(it.data) {
		it.cur = nil
		return false
	}
	n, w := binary.Uvarint(it.data[it.off:])
	if w <= 0 || it.off+w+int(n) > len(it.data) {
		it.err = fmt.Errorf("bolt: corrupt window chunk")
		it.cur = nil
		return false
	}
	it.start = it.off
	it.cur = it.data[it.off+w : it.off+w+int(n)]
	it.off += w + int(n)
	return true
}

// seenSet answers, for ids asked in increasing order, whether the window holds them: a k-way
// merge of the window's chunks that keeps one position per chunk.
type seenSet []*chunkIter

func (h seenSet) Len() int           { return len(h) }
func (h seenSet) Less(i, j int) bool { return bytes.Compare(h[i].cur, h[j].cur) < 0 }
func (h seenSet) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seenSet) Push(x any)        { *h = append(*h, x.(*chunkIter)) }
func (h *seenSet) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// windowPos maps chunk keys to the offset of their next unread id.
type windowPos map[string]int

// openSeen positions a seenSet over the window bucket w (nil: empty window) at pos (nil: start).
func openSeen(w *bbolt.Bucket, pos windowPos) (*seenSet, error) {
	h := &seenSet{}
	if w == nil {
		return h, nil
	}
	err := w.ForEach(func(k, v []byte) error {
		off := 4
		if pos != nil {
			o, ok := pos[string(k)]
			if !ok {
				return nil // chunk exhausted earlier
			}
			off = o
		}
		it := &chunkIter{key: bytes.Clone(k), data: v, off: off}
		if it.next() {
			*h = append(*h, it)
		}
		return it.err
	})
	heap.Init(h)
	return h, err
}

// contains reports whether id is in the window; ids must be asked in increasing order.
func (h *seenSet) contains(id []byte) (bool, error) {
	for h.Len() > 0 {
		top := (*h)[0]
		switch c := bytes.Compare(top.cur, id); {
		case c == 0:
			return true, nil
		case c > 0:
			return false, nil
		}
		if top.next() {
			heap.Fix(h, 0)
		} else {
			if top.err != nil {
				return false, top.err
			}
			heap.Pop(h)
		}
	}
	return false, nil
}

func (h *seenSet) positions() windowPos {
	pos := make(windowPos, h.Len())
	for _, it := range *h {
		pos[string(it.key)] = it.start
	}
	return pos
}

// RecordsSweep implements store.Store.
func (s *Store) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Stream.Validate(); err != nil {
		return nil, err
	}
	if err := store.ValidateName("sync", p.Sync); err != nil {
		return nil, err
	}
	wkey := windowKey(p.Stream, p.Sync)
	res := &store.RecordsSweepResult{}
	counted := false
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if err := checkFence(tx, p.Fence); err != nil {
			return err
		}
		sb := openStream(tx, p.Stream)
		if sb == nil {
			return nil
		}
		res.Live = int(sb.state.live)
		if p.Force || !p.Guard.Refuses(res.Live, res.Live) {
			return nil // even deleting everything would pass: no need to count first
		}
		seen, err := openSeen(tx.Bucket(bucketWindows).Bucket(wkey), nil)
		if err != nil {
			return err
		}
		c := sb.index.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if !isLiveIndex(v) {
				continue
			}
			ok, err := seen.contains(k)
			if err != nil {
				return err
			}
			if !ok {
				res.Unseen++
			}
		}
		counted = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if counted && p.Guard.Refuses(res.Unseen, res.Live) {
		res.Refused = true
		return res, s.update(ctx, func(tx *bbolt.Tx) error {
			if err := checkFence(tx, p.Fence); err != nil {
				return err
			}
			return deleteWindow(tx, wkey)
		})
	}
	now := micros(store.Clock(p.Now))
	batch := sweepBatch(res.Live)
	var pos windowPos
	var after []byte
	for done := false; !done; {
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			if err := checkFence(tx, p.Fence); err != nil {
				return err
			}
			sb := openStream(tx, p.Stream)
			if sb == nil {
				done = true
				return deleteWindow(tx, wkey)
			}
			seen, err := openSeen(tx.Bucket(bucketWindows).Bucket(wkey), pos)
			if err != nil {
				return err
			}
			var ids [][]byte
			var olds []indexEntry
			c := sb.index.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(ids) < batch; k, v = c.Next() {
				if !isLiveIndex(v) {
					continue
				}
				ok, err := seen.contains(k)
				if err != nil {
					return err
				}
				if !ok {
					ids = append(ids, bytes.Clone(k))
					olds = append(olds, decodeIndex(v))
				}
			}
			if k == nil {
				done = true
			} else {
				after = bytes.Clone(k)
				// k has not been examined yet: step back one so that Seek(after)+Next resumes at k.
				pk, _ := c.Prev()
				after = bytes.Clone(pk)
			}
			pos = seen.positions()
			if err := sweepDelete(sb, ids, olds, now); err != nil {
				return err
			}
			res.Deleted += len(ids)
			if done {
				return deleteWindow(tx, wkey)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	if !counted {
		res.Unseen = res.Deleted
	}
	return res, nil
}

// sweepDelete marks ids DELETED; olds are their index entries, read in the same transaction.
func sweepDelete(sb *streamBuckets, ids [][]byte, olds []indexEntry, now uint64) error {
	if len(ids) == 0 {
		return nil
	}
	if now < sb.state.lastTime {
		now = sb.state.lastTime
	}
	var ar arena
	for i, id := range ids {
		old := olds[i]
		oldKey := ar.u64(old.seq)
		h, _, payload, err := decodeLog(sb.log.Get(oldKey))
		if err != nil {
			return err
		}
		h.action, h.lastModified, h.deletedAt = store.ActionDeleted, now, now
		// Encoded before the old entry is deleted, since payload points into it.
		entry := ar.log(h, unsafe.String(unsafe.SliceData(id), len(id)), payload)
		if err := sb.log.Delete(oldKey); err != nil {
			return err
		}
		seq, err := sb.log.NextSequence()
		if err != nil {
			return err
		}
		if err := sb.log.Put(ar.u64(seq), entry); err != nil {
			return err
		}
		if err := sb.index.Put(id, ar.index(indexEntry{seq: seq, hash: old.hash, deleted: true, pruned: old.pruned})); err != nil {
			return err
		}
	}
	sb.state.live -= uint64(len(ids))
	sb.state.deleted += uint64(len(ids))
	sb.state.lastTime = now
	return sb.state.put(sb.root)
}

func deleteWindow(tx *bbolt.Tx, wkey []byte) error {
	root := tx.Bucket(bucketWindows)
	if root.Bucket(wkey) == nil {
		return nil
	}
	return root.DeleteBucket(wkey)
}

// RecordsSweepReset implements store.Store.
func (s *Store) RecordsSweepReset(ctx context.Context, p *store.RecordsSweepResetParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Stream.Validate(); err != nil {
		return err
	}
	if err := store.ValidateName("sync", p.Sync); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error { return deleteWindow(tx, windowKey(p.Stream, p.Sync)) })
}
