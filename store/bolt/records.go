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

// RecordsWrite implements store.Store. Each record's fate is decided by store's classifier;
// this store reads what the classifier needs and persists what it decided.
func (s *Store) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	pw, err := store.PrepareWrite(p)
	if err != nil {
		return nil, err
	}
	var newer func(seq uint64, epoch uint32) bool
	if p.IgnoreModifiedAfter != nil {
		if newer, err = p.IgnoreModifiedAfter.ModifiedAfter(p.Stream); err != nil {
			return nil, err
		}
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
		if newer != nil {
			res.PrevCursor = head(tx, p.Stream)
		}
		if err := writeRecords(tx, pw, newer, res); err != nil {
			return err
		}
		if p.Checkpoint != nil {
			cp, err := putCheckpoint(tx, p.Checkpoint)
			if err != nil {
				return err
			}
			res.Checkpoint = cp
		}
		if newer != nil {
			res.Cursor = head(tx, p.Stream)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// writeRecords applies a prepared batch in tx. newer, when not nil, is the IgnoreModifiedAfter
// check of the write.
func writeRecords(tx *bbolt.Tx, pw *store.PreparedWrite, newer func(uint64, uint32) bool, res *store.RecordsWriteResult) error {
	recs := pw.Records
	if len(recs) == 0 {
		return nil
	}
	sb := openStream(tx, pw.Stream)
	now := micros(store.Clock(pw.Now))
	if sb != nil {
		now = max(now, sb.state.lastTime)
	}
	// The index is read and written in id order, so that neighbouring ids share pages; the log
	// is written in batch order, which is the order of the changes in the feed. Ids are unique in
	// a prepared batch, so the order of the index operations does not matter otherwise.
	order := idOrder(recs)
	held := make([]heldEntry, len(recs))
	if sb != nil {
		ic := sb.index.Cursor() // one cursor for all the lookups: no index write comes between
		for _, i := range order {
			iv := lookup(ic, idBytes(recs[i].ID))
			switch {
			case iv == nil:
			case len(iv) != indexLen:
				return fmt.Errorf("bolt: corrupt index entry for %q in %s", recs[i].ID, pw.Stream)
			default:
				e := decodeIndex(iv)
				held[i] = heldEntry{seq: e.seq, Held: store.Held{Exists: true, Deleted: e.deleted, Hash: e.hash,
					Newer: newer != nil && newer(e.seq, sb.state.epoch), Pruned: e.pruned}}
			}
		}
	}
	var ar arena
	puts := make([][]byte, len(recs))
	seen := make([]bool, len(recs))
	changed := false
	for i, r := range recs {
		h := &held[i]
		var first, prunedAt uint64
		if h.NeedsData(pw.Mode) {
			prev, payload, err := readLog(sb, &ar, h.seq, r.ID)
			if err != nil {
				return err
			}
			h.Data, first, prunedAt = payload, prev.firstSeen, prev.prunedAt
		}
		d, err := pw.Classify(h.Held, r)
		if err != nil {
			return err
		}
		res.Tally(r.ID, d)
		seen[i] = d.Seen
		if d.Restore || d.Reseal {
			if err := restorePayload(sb, &ar, h.seq, r.ID, d); err != nil {
				return err
			}
			continue
		}
		if !d.Verdict.Writes() {
			continue
		}
		if sb == nil {
			if sb, err = createStream(tx, pw.Stream); err != nil {
				return err
			}
		}
		hdr := logHeader{action: d.Verdict.Action(), firstSeen: now, lastModified: now}
		if d.Verdict.KeepsFirstSeen() {
			if !h.NeedsData(pw.Mode) {
				if first, err = firstSeen(sb, &ar, h.seq, r.ID); err != nil {
					return err
				}
			}
			hdr.firstSeen = first
		}
		if d.Verdict == store.VerdictDeleted {
			hdr.deletedAt, hdr.prunedAt = now, prunedAt
		}
		// Encoded before the old entry is deleted, since d.Data may point into it.
		entry := ar.log(hdr, r.ID, d.Data)
		if h.Exists {
			if err := sb.log.Delete(ar.u64(h.seq)); err != nil {
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
		puts[i] = ar.index(indexEntry{seq: seq, hash: d.Hash, deleted: d.Verdict == store.VerdictDeleted, pruned: hdr.prunedAt != 0})
		live, deleted := d.Verdict.StatsDelta()
		// Two's complement: adding a negative delta converted to uint64 subtracts.
		sb.state.live += uint64(live)
		sb.state.deleted += uint64(deleted)
		changed = true
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
	if pw.TrackSeen != "" {
		ids := make([]string, 0, len(recs))
		for _, i := range order {
			if seen[i] {
				ids = append(ids, recs[i].ID)
			}
		}
		if len(ids) > 0 {
			if err := appendWindow(tx, pw.Stream, pw.TrackSeen, ids); err != nil {
				return err
			}
		}
	}
	return nil
}

// restorePayload puts a record's payload and hash in place (Decision.Restore, Decision.Reseal):
// same sequence, same times. A restore clears pruned_at and lowers the stream's prune mark
// below the record.
func restorePayload(sb *streamBuckets, ar *arena, seq uint64, id string, d store.Decision) error {
	prev, _, err := readLog(sb, ar, seq, id)
	if err != nil {
		return err
	}
	if d.Restore {
		prev.prunedAt = 0
	}
	if err := sb.log.Put(ar.u64(seq), ar.log(prev, id, d.Data)); err != nil {
		return err
	}
	e := indexEntry{seq: seq, hash: d.Hash, deleted: prev.action == store.ActionDeleted, pruned: prev.prunedAt != 0}
	if err := sb.index.Put(idBytes(id), ar.index(e)); err != nil {
		return err
	}
	if d.Restore && pruneMark(sb.root) >= seq {
		return sb.root.Put(keyPruneMark, ar.u64(seq-1))
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

// heldEntry is what the index held for a record before a write, and where its log entry is.
type heldEntry struct {
	store.Held
	seq uint64
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
	t, ok := logFirstSeen(sb.log.Get(ar.u64(seq)))
	if !ok {
		return 0, fmt.Errorf("bolt: index of %q points at missing log entry %d", id, seq)
	}
	return t, nil
}

// RecordsList implements store.Store.
func (s *Store) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
	q, err := store.PrepareListQuery(p)
	if err != nil {
		return nil, err
	}
	codec, after := q.Codec, q.After
	res := &store.RecordsListResult{Records: []store.Record{}}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		sb := openStream(tx, q.Stream)
		if sb == nil {
			return nil
		}
		if q.Stale(sb.state.epoch) {
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
			return listIDs(sb, q.RecordsListParams, after, take)
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

// lastModifiedAtLeast reports whether the log value v was changed at or after minMod.
func lastModifiedAtLeast(v []byte, minMod uint64) bool {
	t, ok := logLastModified(v)
	return ok && t >= minMod
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
		case lastModifiedAtLeast(v, minMod):
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
	if err := root.Delete(keyPruneMark); err != nil {
		return err
	}
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

// head is the cursor of a stream's newest change, or "".
func head(tx *bbolt.Tx, s store.Stream) string {
	sb := openStream(tx, s)
	if sb == nil {
		return ""
	}
	seq := sb.log.Sequence()
	if seq == 0 {
		return ""
	}
	return store.NewCursorCodec(s).Encode(seq, sb.state.epoch)
}

// StreamCursor implements store.Store.
func (s *Store) StreamCursor(ctx context.Context, stream store.Stream) (string, error) {
	if err := stream.Validate(); err != nil {
		return "", err
	}
	var out string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = head(tx, stream)
		return nil
	})
	return out, err
}
