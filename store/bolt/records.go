package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// RecordsWrite implements store.Store.
func (s *Store) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	pw, err := store.PrepareWrite(p)
	if err != nil {
		return nil, err
	}
	if p.Checkpoint != nil {
		if err := store.PrepareCheckpoint(p.Checkpoint); err != nil {
			return nil, err
		}
	}
	if p.IgnoreModifiedAfter != nil {
		return s.recordsWriteGuarded(ctx, p, pw) // guard.go
	}
	var res *store.RecordsWriteResult
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		res = &store.RecordsWriteResult{Duplicates: pw.Duplicates, DuplicateIDs: pw.DuplicateIDs}
		if err := checkFence(tx, p.Fence); err != nil {
			return err
		}
		if p.Checkpoint != nil {
			if err := checkVersion(tx, p.Checkpoint.Key, p.Checkpoint.ExpectedVersion); err != nil {
				return err
			}
		}
		if err := writeRecords(tx, pw, res); err != nil {
			return err
		}
		if p.Checkpoint != nil {
			cp, err := putCheckpoint(tx, p.Checkpoint)
			if err != nil {
				return err
			}
			res.Checkpoint = cp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func writeRecords(tx *bbolt.Tx, pw *store.PreparedWrite, res *store.RecordsWriteResult) error {
	if len(pw.Records) == 0 {
		return nil
	}
	var sb *streamBuckets
	var err error
	if pw.Mode == store.WriteSave {
		sb, err = createStream(tx, pw.Stream)
		if err != nil {
			return err
		}
	} else if sb = openStream(tx, pw.Stream); sb == nil {
		res.Ignored = len(pw.Records)
		return nil
	}
	now := micros(store.Clock(pw.Now))
	if now < sb.state.lastTime {
		now = sb.state.lastTime
	}
	changed := false
	seen := pw.SeenIDs
	if pw.Mode == store.WriteMerge {
		seen = seen[:0:0]
	}
	recs := pw.Records
	// The index is read and written in id order, so that neighbouring ids share pages; the log
	// is written in batch order, which is the order of the changes in the feed. Ids are unique in
	// a prepared batch, so the order of the index operations does not matter otherwise.
	order := idOrder(recs)
	olds := make([]oldEntry, len(recs))
	ic := sb.index.Cursor() // one cursor for all the lookups: no index write comes between
	for _, i := range order {
		iv := lookup(ic, idBytes(recs[i].ID))
		switch {
		case iv == nil:
		case len(iv) != indexLen:
			olds[i].corrupt = true
		default:
			olds[i] = oldEntry{indexEntry: decodeIndex(iv), exists: true}
		}
	}
	var ar arena
	puts := make([][]byte, len(recs))
	for i, r := range recs {
		if olds[i].corrupt {
			return fmt.Errorf("bolt: corrupt index entry for %q in %s", r.ID, pw.Stream)
		}
		old, exists := olds[i].indexEntry, olds[i].exists
		live := exists && !old.deleted
		var h logHeader
		payload := r.Data
		hash := r.Hash
		switch pw.Mode {
		case store.WriteSave:
			switch {
			case !exists:
				h = logHeader{action: store.ActionAdded, firstSeen: now}
				sb.state.live++
			case !live:
				h = logHeader{action: store.ActionAdded, firstSeen: now}
				sb.state.live++
				sb.state.deleted--
			case old.hash != r.Hash:
				first, err := firstSeen(sb, &ar, old.seq, r.ID)
				if err != nil {
					return err
				}
				h = logHeader{action: store.ActionUpdated, firstSeen: first}
			default:
				res.Unchanged++
				continue
			}
		case store.WriteMerge:
			if !live {
				res.Ignored++
				continue
			}
			seen = append(seen, r.ID)
			prev, oldPayload, err := readLog(sb, &ar, old.seq, r.ID)
			if err != nil {
				return err
			}
			merged, err := store.Merge(oldPayload, r.Data)
			if err != nil {
				return &store.RecordError{Model: pw.Stream.Model, Index: r.Index, ID: r.ID, Reason: err.Error(), Err: err}
			}
			if hash = store.Hash(merged); hash == old.hash {
				res.Unchanged++
				continue
			}
			payload = merged
			h = logHeader{action: store.ActionUpdated, firstSeen: prev.firstSeen}
		case store.WriteDelete:
			if !live {
				res.Ignored++
				continue
			}
			prev, oldPayload, err := readLog(sb, &ar, old.seq, r.ID)
			if err != nil {
				return err
			}
			// payload aliases the old entry: the new entry copies it before the old one goes.
			payload = oldPayload
			hash = old.hash
			h = logHeader{action: store.ActionDeleted, firstSeen: prev.firstSeen, deletedAt: now}
			sb.state.live--
			sb.state.deleted++
		}
		h.lastModified = now
		// Encoded before the old entry is deleted, since payload may point into it.
		entry := ar.log(h, r.ID, payload)
		if exists {
			if err := sb.log.Delete(ar.u64(old.seq)); err != nil {
				return err
			}
		}
		seq, err := sb.log.NextSequence()
		if err != nil {
			return err
		}
		if err := sb.log.Put(ar.u64(seq), entry); err != nil {
			return err
		}
		puts[i] = ar.index(indexEntry{seq: seq, hash: hash, deleted: h.action == store.ActionDeleted})
		changed = true
		switch h.action {
		case store.ActionAdded:
			res.Added++
		case store.ActionUpdated:
			res.Updated++
		case store.ActionDeleted:
			res.Deleted++
		}
	}
	if changed {
		for _, i := range order {
			if puts[i] != nil {
				if err := sb.index.Put(idBytes(recs[i].ID), puts[i]); err != nil {
					return err
				}
			}
		}
		sb.state.lastTime = now
		if err := sb.state.put(sb.root); err != nil {
			return err
		}
	}
	if pw.TrackSeen != "" && len(seen) > 0 {
		if pw.Mode == store.WriteMerge {
			slices.Sort(seen) // pw.SeenIDs are sorted already
		}
		if err := appendWindow(tx, pw.Stream, pw.TrackSeen, seen); err != nil {
			return err
		}
	}
	return nil
}

// lookup is Bucket.Get on a cursor that is reused, for a bucket without nested buckets.
func lookup(c *bbolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// oldEntry is what the index held for a record before a write.
type oldEntry struct {
	indexEntry
	exists  bool
	corrupt bool
}

// idOrder returns the positions of recs sorted by id.
func idOrder(recs []store.PreparedRecord) []int32 {
	order := make([]int32, len(recs))
	sorted := true
	for i := range order {
		order[i] = int32(i)
		if i > 0 && recs[i-1].ID > recs[i].ID {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(order, func(a, b int32) int { return strings.Compare(recs[a].ID, recs[b].ID) })
	}
	return order
}

func readLog(sb *streamBuckets, ar *arena, seq uint64, id string) (logHeader, []byte, error) {
	v := sb.log.Get(ar.u64(seq))
	if v == nil {
		return logHeader{}, nil, fmt.Errorf("bolt: index of %q points at missing log entry %d", id, seq)
	}
	h, _, payload, err := decodeLog(v)
	return h, payload, err
}

func firstSeen(sb *streamBuckets, ar *arena, seq uint64, id string) (uint64, error) {
	v := sb.log.Get(ar.u64(seq))
	if len(v) < logHeaderLen {
		return 0, fmt.Errorf("bolt: index of %q points at missing log entry %d", id, seq)
	}
	return binary.BigEndian.Uint64(v[2:10]), nil
}

// RecordsList implements store.Store.
func (s *Store) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
	q, err := store.PrepareList(p)
	if err != nil {
		return nil, err
	}
	codec := store.NewCursorCodec(q.Stream)
	var after uint64
	var epoch uint32
	if q.Cursor != "" {
		if after, epoch, err = codec.Decode(q.Cursor); err != nil {
			return nil, err
		}
	}
	res := &store.RecordsListResult{Records: []store.Record{}}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		sb := openStream(tx, q.Stream)
		if sb == nil {
			return nil
		}
		if q.Cursor != "" && epoch != sb.state.epoch {
			return store.ErrCursorStale
		}
		minMod := micros(q.ModifiedAfter)
		take := func(seq uint64, v []byte) (bool, error) {
			h, id, payload, err := decodeLog(v)
			if err != nil {
				s.skip(fmt.Sprintf("change log entry %d of %s", seq, q.Stream), err)
				return false, nil
			}
			if !q.Filter.Match(h.action) || h.lastModified < minMod {
				return false, nil
			}
			m := h.metadata()
			m.Cursor = codec.Encode(seq, sb.state.epoch)
			res.Records = append(res.Records, store.Record{ID: string(id), Data: bytes.Clone(payload), Metadata: m})
			return true, nil
		}
		if len(q.IDs) > 0 {
			return listIDs(sb, q, after, take)
		}
		c := sb.log.Cursor()
		start := after + 1
		if minMod > 0 {
			start = max(start, seekModified(c, start, sb.log.Sequence(), minMod))
		}
		for k, v := c.Seek(u64(start)); k != nil && len(res.Records) <= q.Limit; k, v = c.Next() {
			if _, err := take(binary.BigEndian.Uint64(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(res.Records) > q.Limit {
		res.Records = res.Records[:q.Limit]
		res.NextCursor = res.Records[q.Limit-1].Cursor
	}
	return res, nil
}

// seekModified finds by bisection a start sequence at or after lo from which a scan skips no
// change at or after minMod, relying on change times never decreasing in sequence order.
func seekModified(c *bbolt.Cursor, lo, maxSeq, minMod uint64) uint64 {
	hi := maxSeq + 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, v := c.Seek(u64(mid))
		switch {
		case k == nil:
			hi = mid
		case len(v) >= logHeaderLen && binary.BigEndian.Uint64(v[10:18]) >= minMod:
			hi = mid
		default:
			lo = binary.BigEndian.Uint64(k) + 1
		}
	}
	return lo
}

func listIDs(sb *streamBuckets, q store.RecordsListParams, after uint64, take func(uint64, []byte) (bool, error)) error {
	seqs := make([]uint64, 0, len(q.IDs))
	for _, id := range q.IDs {
		iv := sb.index.Get([]byte(id))
		if len(iv) != indexLen {
			continue
		}
		if e := decodeIndex(iv); e.seq > after {
			seqs = append(seqs, e.seq)
		}
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	n := 0
	for _, seq := range seqs {
		if n > q.Limit {
			break
		}
		v := sb.log.Get(u64(seq))
		if v == nil {
			return damaged("stream "+q.Stream.String(), "the index points at missing change log entry %d", seq)
		}
		ok, err := take(seq, v)
		if err != nil {
			return err
		}
		if ok {
			n++
		}
	}
	return nil
}

// StreamStats implements store.Store.
func (s *Store) StreamStats(ctx context.Context, stream store.Stream) (*store.StreamStats, error) {
	if err := stream.Validate(); err != nil {
		return nil, err
	}
	out := &store.StreamStats{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		st, err := readStats(tx, stream)
		out.Live, out.Deleted = int(st.live), int(st.deleted)
		return err
	})
	return out, err
}

// StreamDelete implements store.Store.
func (s *Store) StreamDelete(ctx context.Context, stream store.Stream) error {
	if err := stream.Validate(); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := deleteWindows(tx, streamKey(stream)); err != nil {
			return err
		}
		if sb := openStream(tx, stream); sb != nil {
			return emptyStream(sb.root)
		}
		return nil
	})
}

// emptyStream removes a stream's records and gives it a new epoch, keeping its sequence and
// last change time so that new cursors and times keep growing.
func emptyStream(root *bbolt.Bucket) error {
	log := root.Bucket(bucketLog)
	seq := log.Sequence()
	state := streamState{epoch: newEpoch(), lastTime: readState(root).lastTime}
	for _, name := range [][]byte{bucketIndex, bucketLog} {
		if err := root.DeleteBucket(name); err != nil {
			return err
		}
	}
	if _, err := root.CreateBucket(bucketIndex); err != nil {
		return err
	}
	log, err := root.CreateBucket(bucketLog)
	if err != nil {
		return err
	}
	if err := log.SetSequence(seq); err != nil {
		return err
	}
	return state.put(root)
}
