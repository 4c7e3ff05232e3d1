package memory

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/gonango/nango/store"
)

type windowKey struct {
	stream store.Stream
	sync   string
}

type stream struct {
	epoch    uint32
	seq      uint64
	lastTime time.Time
	byID     map[string]*entry
	log      []logPos // ascending seq; positions whose entry moved on are stale
	stale    int
	live     int
	deleted  int
}

type logPos struct {
	seq uint64
	e   *entry
}

type entry struct {
	id   string
	data []byte
	hash uint64
	seq  uint64
	meta store.Metadata // Cursor unset
}

func (st *stream) append(e *entry) {
	st.seq++
	if e.seq != 0 {
		st.stale++
	}
	e.seq = st.seq
	st.log = append(st.log, logPos{seq: e.seq, e: e})
	if st.stale > 1024 && st.stale > len(st.log)/2 {
		kept := st.log[:0]
		for _, p := range st.log {
			if p.e.seq == p.seq {
				kept = append(kept, p)
			}
		}
		clear(st.log[len(kept):])
		st.log = kept
		st.stale = 0
	}
}

// RecordsWrite implements store.Store.
func (s *Store) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	pw, err := store.PrepareWrite(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	res := &store.RecordsWriteResult{Duplicates: pw.Duplicates, DuplicateIDs: pw.DuplicateIDs}
	// Everything that can fail is checked before anything changes.
	if err := s.checkFence(p.Fence); err != nil {
		return nil, err
	}
	if p.Checkpoint != nil {
		if err := s.checkVersion(p.Checkpoint.Key, p.Checkpoint.ExpectedVersion); err != nil {
			return nil, err
		}
	}
	st := s.streams[p.Stream]
	var newer func(seq uint64, epoch uint32) bool
	if p.IgnoreModifiedAfter != nil {
		if newer, err = p.IgnoreModifiedAfter.ModifiedAfter(p.Stream); err != nil {
			return nil, err
		}
		res.PrevCursor = s.head(p.Stream)
	}
	type change struct {
		id string
		e  *entry // nil for a new id
		d  store.Decision
	}
	changes := make([]change, 0, len(pw.Records))
	var restores []change
	var seen []string
	for _, r := range pw.Records {
		var e *entry
		var held store.Held
		if st != nil {
			e = st.byID[r.ID]
		}
		if e != nil {
			held = store.Held{Exists: true, Deleted: !e.meta.DeletedAt.IsZero(), Hash: e.hash, Data: e.data,
				Newer: newer != nil && newer(e.seq, st.epoch), Pruned: !e.meta.PrunedAt.IsZero()}
		}
		d, err := pw.Classify(held, r)
		if err != nil {
			return nil, err
		}
		res.Tally(r.ID, d)
		if d.Restore || d.Reseal {
			restores = append(restores, change{id: r.ID, e: e, d: d})
		}
		if d.Seen {
			seen = append(seen, r.ID)
		}
		if d.Verdict.Writes() {
			changes = append(changes, change{id: r.ID, e: e, d: d})
		}
	}
	if len(changes) > 0 {
		if st == nil {
			st = &stream{epoch: newEpoch(), byID: map[string]*entry{}}
			s.streams[p.Stream] = st
		}
		now := store.Clock(p.Now)
		if now.Before(st.lastTime) {
			now = st.lastTime
		}
		st.lastTime = now
		for _, c := range changes {
			e := c.e
			if e == nil {
				e = &entry{id: c.id}
				st.byID[c.id] = e
			}
			live, deleted := c.d.Verdict.StatsDelta()
			st.live += live
			st.deleted += deleted
			m := store.Metadata{FirstSeenAt: now, LastModifiedAt: now, LastAction: c.d.Verdict.Action()}
			if c.d.Verdict.KeepsFirstSeen() {
				m.FirstSeenAt = e.meta.FirstSeenAt
			}
			if c.d.Verdict == store.VerdictDeleted {
				m.DeletedAt = now
				m.PrunedAt = e.meta.PrunedAt
			} else {
				e.data = slices.Clone(c.d.Data)
			}
			e.meta, e.hash = m, c.d.Hash
			st.append(e)
		}
	}
	for _, c := range restores {
		c.e.data, c.e.hash = slices.Clone(c.d.Data), c.d.Hash
		if c.d.Restore {
			c.e.meta.PrunedAt = time.Time{}
		}
	}
	if p.TrackSeen != "" && len(seen) > 0 {
		wk := windowKey{p.Stream, p.TrackSeen}
		w := s.windows[wk]
		if w == nil {
			w = map[string]struct{}{}
			s.windows[wk] = w
		}
		for _, id := range seen {
			w[id] = struct{}{}
		}
	}
	if p.Checkpoint != nil {
		res.Checkpoint = s.putCheckpoint(p.Checkpoint)
	}
	if p.IgnoreModifiedAfter != nil {
		res.Cursor = s.head(p.Stream)
	}
	return res, nil
}

func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}

// RecordsList implements store.Store.
func (s *Store) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
	q, err := store.PrepareListQuery(p)
	if err != nil {
		return nil, err
	}
	codec, after := q.Codec, q.After
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	res := &store.RecordsListResult{Records: []store.Record{}}
	st := s.streams[q.Stream]
	if st == nil {
		return res, nil
	}
	if q.Stale(st.epoch) {
		return nil, store.ErrCursorStale
	}
	match := func(e *entry) bool {
		return e.seq > after && q.Filter.Match(e.meta.LastAction) &&
			(q.ModifiedAfter.IsZero() || !e.meta.LastModifiedAt.Before(q.ModifiedAfter))
	}
	var picked []*entry
	if len(q.IDs) > 0 {
		for _, id := range q.IDs {
			if e := st.byID[id]; e != nil && match(e) && !slices.Contains(picked, e) {
				picked = append(picked, e)
			}
		}
		slices.SortFunc(picked, func(a, b *entry) int { return int64Cmp(a.seq, b.seq) })
		if len(picked) > q.Limit+1 {
			picked = picked[:q.Limit+1]
		}
	} else {
		i := sort.Search(len(st.log), func(i int) bool { return st.log[i].seq > after })
		for ; i < len(st.log) && len(picked) <= q.Limit; i++ {
			pos := st.log[i]
			if pos.e.seq == pos.seq && match(pos.e) {
				picked = append(picked, pos.e)
			}
		}
	}
	more := len(picked) > q.Limit
	if more {
		picked = picked[:q.Limit]
	}
	for _, e := range picked {
		m := e.meta
		m.Cursor = codec.Encode(e.seq, st.epoch)
		res.Records = append(res.Records, store.Record{ID: e.id, Data: slices.Clone(e.data), Metadata: m})
	}
	if more {
		res.NextCursor = res.Records[len(res.Records)-1].Cursor
	}
	return res, nil
}

func int64Cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RecordsSweep implements store.Store.
func (s *Store) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := validateSweep(p.Stream, p.Sync); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.checkFence(p.Fence); err != nil {
		return nil, err
	}
	wk := windowKey{p.Stream, p.Sync}
	window := s.windows[wk]
	delete(s.windows, wk)
	res := &store.RecordsSweepResult{}
	st := s.streams[p.Stream]
	if st == nil {
		return res, nil
	}
	res.Live = st.live
	var unseen []*entry
	for _, pos := range st.log {
		e := pos.e
		if pos.seq != e.seq || !e.meta.DeletedAt.IsZero() {
			continue
		}
		if _, ok := window[e.id]; !ok {
			unseen = append(unseen, e)
		}
	}
	res.Unseen = len(unseen)
	if !p.Force && p.Guard.Refuses(res.Unseen, res.Live) {
		res.Refused = true
		return res, nil
	}
	if len(unseen) == 0 {
		return res, nil
	}
	slices.SortFunc(unseen, func(a, b *entry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	now := store.Clock(p.Now)
	if now.Before(st.lastTime) {
		now = st.lastTime
	}
	st.lastTime = now
	for _, e := range unseen {
		e.meta.LastModifiedAt, e.meta.DeletedAt, e.meta.LastAction = now, now, store.ActionDeleted
		st.append(e)
		st.live--
		st.deleted++
	}
	res.Deleted = len(unseen)
	return res, nil
}

func validateSweep(s store.Stream, sync string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return store.ValidateName("sync", sync)
}

// RecordsSweepReset implements store.Store.
func (s *Store) RecordsSweepReset(ctx context.Context, p *store.RecordsSweepResetParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := validateSweep(p.Stream, p.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	delete(s.windows, windowKey{p.Stream, p.Sync})
	return nil
}

// StreamStats implements store.Store.
func (s *Store) StreamStats(ctx context.Context, key store.Stream) (*store.StreamStats, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	st := s.streams[key]
	if st == nil {
		return &store.StreamStats{}, nil
	}
	return &store.StreamStats{Live: st.live, Deleted: st.deleted}, nil
}

// StreamDelete implements store.Store.
func (s *Store) StreamDelete(ctx context.Context, key store.Stream) error {
	if err := key.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if st := s.streams[key]; st != nil {
		// Keep an empty stream with a new epoch so that old cursors are recognised as stale.
		s.streams[key] = &stream{epoch: newEpoch(), byID: map[string]*entry{}, lastTime: st.lastTime}
	}
	for wk := range s.windows {
		if wk.stream == key {
			delete(s.windows, wk)
		}
	}
	return nil
}

// head is the cursor of a stream's newest change, or "". Callers hold s.mu.
func (s *Store) head(key store.Stream) string {
	st := s.streams[key]
	if st == nil || st.seq == 0 {
		return ""
	}
	return store.NewCursorCodec(key).Encode(st.seq, st.epoch)
}

// StreamCursor implements store.Store.
func (s *Store) StreamCursor(ctx context.Context, key store.Stream) (string, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return "", err
	}
	return s.head(key), nil
}

// RecordsPrune implements store.Store.
func (s *Store) RecordsPrune(ctx context.Context, p *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	q, err := store.PreparePrune(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	res := &store.RecordsPruneResult{}
	st := s.streams[q.Stream]
	if st == nil {
		return res, nil
	}
	if q.Stale(st.epoch) {
		return nil, store.ErrCursorStale
	}
	for _, pos := range st.log {
		e := pos.e
		if e.seq != pos.seq {
			continue
		}
		if !q.Selects(e.seq, e.meta.LastModifiedAt) {
			break
		}
		if !e.meta.PrunedAt.IsZero() {
			continue
		}
		if res.Count == q.Limit {
			res.HasMore = true
			break
		}
		e.data, e.meta.PrunedAt = nil, q.Now
		res.Count++
	}
	return res, nil
}
