package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
)

func (s *Store) stream(st store.Stream) *stream {
	ds := s.streams[st]
	if ds == nil {
		ds = &stream{base: map[string]store.Held{}, live: map[string]bool{}, seen: map[string]map[string]struct{}{}}
		s.streams[st] = ds
	}
	return ds
}

// seed copies the records with these ids from the base into the sandbox, once each, opened
// with codec when it is not nil: the sandbox holds payloads in the clear. Callers hold s.mu.
func (s *Store) seed(ctx context.Context, st store.Stream, ds *stream, ids []string, codec store.PayloadCodec) error {
	var missing []string
	for _, id := range ids {
		if _, ok := ds.base[id]; !ok {
			missing = append(missing, id)
		}
	}
	for start := 0; start < len(missing); start += store.MaxListIDs {
		chunk := missing[start:min(start+store.MaxListIDs, len(missing))]
		res, err := s.base.RecordsList(ctx, &store.RecordsListParams{Stream: st, IDs: chunk, Limit: store.MaxListIDs})
		if err != nil {
			return fmt.Errorf("reading the stored records: %w", err)
		}
		for _, id := range chunk {
			ds.base[id] = store.Held{}
		}
		var live, deleted []store.RecordInput
		for _, r := range res.Records {
			del := r.LastAction == store.ActionDeleted
			data := r.Data
			if !r.PrunedAt.IsZero() {
				// The payload and its hash are gone: the sandbox holds the id alone, so a save
				// of the record counts as an update in a dry run.
				data, _ = json.Marshal(map[string]string{"id": r.ID})
			} else if codec != nil {
				var err error
				if data, err = codec.Open(r.ID, data); err != nil {
					return fmt.Errorf("reading the stored record %q: %w", r.ID, err)
				}
			}
			ds.base[r.ID] = store.Held{Exists: true, Deleted: del, Hash: store.Hash(data)}
			ds.live[r.ID] = !del
			live = append(live, store.RecordInput{Data: data})
			if del {
				deleted = append(deleted, store.RecordInput{ID: r.ID})
			}
		}
		if len(live) > 0 {
			if _, err := s.mem.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Mode: store.WriteSave, Records: live}); err != nil {
				return fmt.Errorf("copying stored records into the dry run: %w", err)
			}
		}
		if len(deleted) > 0 {
			if _, err := s.mem.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Mode: store.WriteDelete, Records: deleted}); err != nil {
				return fmt.Errorf("copying stored records into the dry run: %w", err)
			}
		}
	}
	return nil
}

// RecordsWrite implements store.Store: it writes into the sandbox.
func (s *Store) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	pw, err := store.PrepareWrite(p)
	if err != nil {
		return nil, err
	}
	if p.Mode == store.WriteReseal {
		// The sandbox holds payloads in the clear and leaves the base's as they are.
		return &store.RecordsWriteResult{Ignored: len(pw.Records)}, nil
	}
	s.mu.Lock()
	res, err := s.writeLocked(ctx, p, pw)
	onWrite := s.onWrite
	s.mu.Unlock()
	if err == nil && onWrite != nil {
		onWrite(p.Stream.Model, res)
	}
	return res, err
}

func (s *Store) writeLocked(ctx context.Context, p *store.RecordsWriteParams, pw *store.PreparedWrite) (*store.RecordsWriteResult, error) {
	if p.Checkpoint != nil {
		cur, err := s.checkpointVersion(ctx, p.Checkpoint.Key)
		if err != nil {
			return nil, err
		}
		if cur != p.Checkpoint.ExpectedVersion {
			return nil, fmt.Errorf("%w (at version %d, expected %d)", store.ErrVersionConflict, cur, p.Checkpoint.ExpectedVersion)
		}
	}
	ds := s.stream(p.Stream)
	ids := make([]string, len(pw.Records))
	for i, r := range pw.Records {
		ids[i] = r.ID
	}
	if err := s.seed(ctx, p.Stream, ds, ids, p.Codec); err != nil {
		return nil, err
	}
	w := *p
	w.Checkpoint, w.TrackSeen, w.Codec = nil, "", nil
	res, err := s.mem.RecordsWrite(ctx, &w)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		switch p.Mode {
		case store.WriteSave:
			ds.live[id] = true
		case store.WriteDelete:
			ds.live[id] = false
		}
	}
	if len(pw.SeenIDs) > 0 {
		seen := ds.seen[p.TrackSeen]
		if seen == nil {
			seen = map[string]struct{}{}
			ds.seen[p.TrackSeen] = seen
		}
		for _, id := range pw.SeenIDs {
			seen[id] = struct{}{}
		}
	}
	if p.Checkpoint != nil {
		if res.Checkpoint, err = s.putCheckpointLocked(ctx, p.Checkpoint); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// RecordsList implements store.Store. A listing by ids shows the run's writes; any other
// listing is the base's change feed.
func (s *Store) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
	res, err := s.base.RecordsList(ctx, p)
	if err != nil || len(p.IDs) == 0 {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.streams[p.Stream]
	if ds == nil {
		return res, nil
	}
	var touched []string
	for _, id := range p.IDs {
		if _, ok := ds.base[id]; ok {
			touched = append(touched, id)
		}
	}
	if len(touched) == 0 {
		return res, nil
	}
	mine, err := s.mem.RecordsList(ctx, &store.RecordsListParams{Stream: p.Stream, IDs: touched, Limit: store.MaxListIDs})
	if err != nil {
		return nil, err
	}
	out := &store.RecordsListResult{NextCursor: res.NextCursor}
	for _, r := range res.Records {
		if _, ok := ds.base[r.ID]; !ok {
			out.Records = append(out.Records, r)
		}
	}
	for _, r := range mine.Records {
		b := ds.base[r.ID]
		if b.Exists && b.Hash == store.Hash(r.Data) && b.Deleted == (r.LastAction == store.ActionDeleted) {
			// Unchanged by the run: the base's copy, with its metadata, is in res.
			if i := slices.IndexFunc(res.Records, func(x store.Record) bool { return x.ID == r.ID }); i >= 0 {
				out.Records = append(out.Records, res.Records[i])
			}
			continue
		}
		if !p.Filter.Match(r.LastAction) || (!p.ModifiedAfter.IsZero() && r.LastModifiedAt.Before(p.ModifiedAfter)) {
			continue
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}

// maxSweepSamples bounds the records a sweep keeps as samples of what it would delete.
const maxSweepSamples = 20

// RecordsSweep implements store.Store: it counts the live records of the base that the run
// did not write, and deletes nothing. The base's window may also hold ids written by failed
// runs since the last successful one; the sandbox does not see those.
func (s *Store) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.stream(p.Stream)
	seen := ds.seen[p.Sync]
	sw := &sweep{}
	params := &store.RecordsListParams{Stream: p.Stream, Filter: store.FilterAdded | store.FilterUpdated, Limit: 1000}
	for {
		page, err := s.base.RecordsList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("reading the stored records: %w", err)
		}
		for _, r := range page.Records {
			if _, touched := ds.base[r.ID]; touched {
				continue // counted below, from the sandbox
			}
			sw.live++
			if _, ok := seen[r.ID]; !ok {
				sw.unseen++
				if len(sw.samples) < maxSweepSamples {
					sw.samples = append(sw.samples, r)
				}
			}
		}
		if page.NextCursor == "" {
			break
		}
		params.Cursor = page.NextCursor
	}
	for id, live := range ds.live {
		if !live {
			continue
		}
		sw.live++
		if _, ok := seen[id]; !ok {
			sw.unseen++ // written without deletion tracking
		}
	}
	sw.refused = !p.Force && p.Guard.Refuses(sw.unseen, sw.live)
	ds.sweep = sw
	delete(ds.seen, p.Sync)
	res := &store.RecordsSweepResult{Live: sw.live, Unseen: sw.unseen, Refused: sw.refused}
	if !sw.refused {
		res.Deleted = sw.unseen
	}
	return res, nil
}

// RecordsSweepReset implements store.Store.
func (s *Store) RecordsSweepReset(_ context.Context, p *store.RecordsSweepResetParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.stream(p.Stream).seen, p.Sync)
	return nil
}

// StreamStats implements store.Store with the base's counts.
func (s *Store) StreamStats(ctx context.Context, st store.Stream) (*store.StreamStats, error) {
	return s.base.StreamStats(ctx, st)
}

// StreamCursor implements store.Store with the base's cursor.
func (s *Store) StreamCursor(ctx context.Context, st store.Stream) (string, error) {
	return s.base.StreamCursor(ctx, st)
}

// StreamDelete implements store.Store; a sandbox never empties a stream.
func (s *Store) StreamDelete(context.Context, store.Stream) error { return ErrUnsupported }
