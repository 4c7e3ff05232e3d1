// Package memory is a store.Store held in memory, for tests and examples. It passes the same
// conformance suite (package storetest) as the durable stores, so a sync tested on it behaves
// the same on bolt or PostgreSQL. Everything is lost when the process ends.
package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu          sync.RWMutex
	closed      bool
	streams     map[store.Stream]*stream
	windows     map[windowKey]map[string]struct{}
	checkpoints map[store.CheckpointKey]*store.Checkpoint
	runs        map[string]*store.Run
	runsByKey   map[store.SyncKey][]string // oldest first
	conns       map[connKey]*store.Connection
	leases      map[store.SyncKey]*leaseState
	schedules   map[store.SyncKey]*store.Schedule
	outbox      map[string]*store.OutboxEntry
	consumers   map[store.ConsumerKey]*store.ConsumerCursor
	signals     store.SignalHub // signal.go
}

var _ store.Store = (*Store)(nil)

type windowKey struct {
	stream store.Stream
	sync   string
}

type connKey struct{ integration, id string }

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

// New returns an empty store.
func New() *Store {
	return &Store{
		streams:     map[store.Stream]*stream{},
		windows:     map[windowKey]map[string]struct{}{},
		checkpoints: map[store.CheckpointKey]*store.Checkpoint{},
		runs:        map[string]*store.Run{},
		runsByKey:   map[store.SyncKey][]string{},
		conns:       map[connKey]*store.Connection{},
		leases:      map[store.SyncKey]*leaseState{},
		schedules:   map[store.SyncKey]*store.Schedule{},
		outbox:      map[string]*store.OutboxEntry{},
		consumers:   map[store.ConsumerKey]*store.ConsumerCursor{},
	}
}

func (s *Store) check(ctx context.Context) error {
	if s.closed {
		return store.ErrClosed
	}
	return ctx.Err()
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
	if p.Checkpoint != nil {
		if err := store.PrepareCheckpoint(p.Checkpoint); err != nil {
			return nil, err
		}
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
	type change struct {
		id   string
		e    *entry
		data []byte
		hash uint64
		act  store.Action
	}
	st := s.streams[p.Stream]
	skip, err := s.guard(p, st, res)
	if err != nil {
		return nil, err
	}
	changes := make([]change, 0, len(pw.Records))
	var merged []byte
	for _, r := range pw.Records {
		var e *entry
		if st != nil {
			e = st.byID[r.ID]
		}
		if skip(e, r.ID, res) {
			continue
		}
		live := e != nil && e.meta.DeletedAt.IsZero()
		switch p.Mode {
		case store.WriteSave:
			switch {
			case e == nil:
				changes = append(changes, change{id: r.ID, data: r.Data, hash: r.Hash, act: store.ActionAdded})
			case !live:
				changes = append(changes, change{id: r.ID, e: e, data: r.Data, hash: r.Hash, act: store.ActionAdded})
			case e.hash != r.Hash:
				changes = append(changes, change{id: r.ID, e: e, data: r.Data, hash: r.Hash, act: store.ActionUpdated})
			default:
				res.Unchanged++
			}
		case store.WriteMerge:
			if !live {
				res.Ignored++
				continue
			}
			if merged, err = store.Merge(e.data, r.Data); err != nil {
				return nil, &store.RecordError{Model: p.Stream.Model, Index: r.Index, ID: r.ID, Reason: err.Error(), Err: err}
			}
			if h := store.Hash(merged); h != e.hash {
				changes = append(changes, change{id: r.ID, e: e, data: merged, hash: h, act: store.ActionUpdated})
			} else {
				res.Unchanged++
			}
		case store.WriteDelete:
			if !live {
				res.Ignored++
				continue
			}
			changes = append(changes, change{id: r.ID, e: e, data: e.data, hash: e.hash, act: store.ActionDeleted})
		}
	}
	if len(changes) > 0 && st == nil {
		st = &stream{epoch: newEpoch(), byID: map[string]*entry{}}
		s.streams[p.Stream] = st
	}
	if len(changes) > 0 {
		now := store.Clock(p.Now)
		if now.Before(st.lastTime) {
			now = st.lastTime
		}
		st.lastTime = now
		for _, c := range changes {
			e := c.e
			if e == nil {
				e = &entry{id: c.id}
			}
			switch c.act {
			case store.ActionAdded:
				if c.e == nil {
					st.byID[c.id] = e
				} else {
					st.deleted--
				}
				st.live++
				e.meta = store.Metadata{FirstSeenAt: now, LastModifiedAt: now, LastAction: store.ActionAdded}
			case store.ActionUpdated:
				e.meta.LastModifiedAt, e.meta.LastAction = now, store.ActionUpdated
			case store.ActionDeleted:
				st.live--
				st.deleted++
				e.meta.LastModifiedAt, e.meta.DeletedAt, e.meta.LastAction = now, now, store.ActionDeleted
			}
			if c.act != store.ActionDeleted {
				e.data = slices.Clone(c.data)
			}
			e.hash = c.hash
			st.append(e)
			switch c.act {
			case store.ActionAdded:
				res.Added++
			case store.ActionUpdated:
				res.Updated++
			case store.ActionDeleted:
				res.Deleted++
			}
		}
	}
	if p.TrackSeen != "" && len(pw.SeenIDs) > 0 {
		wk := windowKey{p.Stream, p.TrackSeen}
		w := s.windows[wk]
		if w == nil {
			w = map[string]struct{}{}
			s.windows[wk] = w
		}
		for _, r := range pw.Records {
			if p.Mode == store.WriteMerge {
				if st == nil {
					break
				}
				if e := st.byID[r.ID]; e == nil || !e.meta.DeletedAt.IsZero() {
					continue
				}
			}
			w[r.ID] = struct{}{}
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
	if q.Cursor != "" && epoch != st.epoch {
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

func (s *Store) checkVersion(key store.CheckpointKey, expected int64) error {
	cur := int64(0)
	if cp := s.checkpoints[key]; cp != nil {
		cur = cp.Version
	}
	if expected != store.AnyVersion && cur != expected {
		return fmt.Errorf("%w (checkpoint %s/%s/%s is at version %d, expected %d)",
			store.ErrVersionConflict, key.Integration, key.Sync, key.Connection, cur, expected)
	}
	return nil
}

func (s *Store) putCheckpoint(p *store.CheckpointPutParams) *store.Checkpoint {
	cp := &store.Checkpoint{Data: slices.Clone(p.Data), Version: p.ExpectedVersion + 1, UpdatedAt: store.Clock(p.Now)}
	s.checkpoints[p.Key] = cp
	out := *cp
	out.Data = slices.Clone(cp.Data)
	return &out
}

// CheckpointGet implements store.Store.
func (s *Store) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	cp := s.checkpoints[key]
	if cp == nil {
		return nil, store.ErrNotFound
	}
	out := *cp
	out.Data = slices.Clone(cp.Data)
	return &out, nil
}

// CheckpointPut implements store.Store.
func (s *Store) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
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
	if err := s.checkVersion(p.Key, p.ExpectedVersion); err != nil {
		return nil, err
	}
	return s.putCheckpoint(p), nil
}

// CheckpointDelete implements store.Store.
func (s *Store) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.checkFence(p.Fence); err != nil {
		return err
	}
	if err := s.checkVersion(p.Key, p.ExpectedVersion); err != nil {
		return err
	}
	delete(s.checkpoints, p.Key)
	return nil
}

func cloneRun(r *store.Run) *store.Run {
	b, _ := json.Marshal(r)
	var out store.Run
	_ = json.Unmarshal(b, &out)
	return &out
}

// RunInsert implements store.Store.
func (s *Store) RunInsert(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, ok := s.runs[run.ID]; ok {
		return &store.ParamError{Param: "run id", Reason: fmt.Sprintf("%q already exists", run.ID)}
	}
	s.runs[run.ID] = cloneRun(run)
	s.runsByKey[run.Key] = append(s.runsByKey[run.Key], run.ID)
	return nil
}

// RunUpdate implements store.Store.
func (s *Store) RunUpdate(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	old, ok := s.runs[run.ID]
	if !ok {
		return fmt.Errorf("run %q: %w", run.ID, store.ErrNotFound)
	}
	if old.Key != run.Key {
		return &store.ParamError{Param: "run key", Reason: "a run cannot move to another sync or connection"}
	}
	s.runs[run.ID] = cloneRun(run)
	return nil
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, id string) (*store.Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	r, ok := s.runs[id]
	if !ok {
		return nil, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	return cloneRun(r), nil
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	limit, err := store.PrepareRunList(p)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := s.runsByKey[p.Key]
	end := len(ids)
	if p.Before != "" {
		end = slices.Index(ids, p.Before)
		if end < 0 {
			return nil, fmt.Errorf("run %q of %s: %w", p.Before, p.Key.Sync, store.ErrNotFound)
		}
	}
	out := []*store.Run{}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, cloneRun(s.runs[ids[i]]))
	}
	return out, nil
}

// RunLastSuccess implements store.Store.
func (s *Store) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := s.runsByKey[key]
	for i := len(ids) - 1; i >= 0; i-- {
		if r := s.runs[ids[i]]; r.State == store.RunSucceeded {
			return cloneRun(r), nil
		}
	}
	return nil, store.ErrNotFound
}

func cloneConn(c *store.Connection) *store.Connection {
	out := *c
	out.Metadata = slices.Clone(c.Metadata)
	out.Credentials = slices.Clone(c.Credentials)
	out.WebhookURLs = slices.Clone(c.WebhookURLs)
	return &out
}

// ConnectionPut implements store.Store.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.conns[connKey{c.Integration, c.ID}] = cloneConn(c)
	return nil
}

// ConnectionGet implements store.Store.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	c, ok := s.conns[connKey{integration, id}]
	if !ok {
		return nil, fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
	}
	return cloneConn(c), nil
}

// ConnectionList implements store.Store.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := []*store.Connection{}
	for k, c := range s.conns {
		if integration == "" || k.integration == integration {
			out = append(out, cloneConn(c))
		}
	}
	slices.SortFunc(out, func(a, b *store.Connection) int {
		if a.Integration != b.Integration {
			if a.Integration < b.Integration {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// ConnectionDelete implements store.Store.
func (s *Store) ConnectionDelete(ctx context.Context, integration, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	k := connKey{integration, id}
	if _, ok := s.conns[k]; !ok {
		return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
	}
	delete(s.conns, k)
	for key, st := range s.streams {
		if key.Integration == integration && key.Connection == id {
			// As in StreamDelete: an empty stream with a new epoch, so that old cursors are stale.
			s.streams[key] = &stream{epoch: newEpoch(), byID: map[string]*entry{}, lastTime: st.lastTime}
		}
	}
	for wk := range s.windows {
		if wk.stream.Integration == integration && wk.stream.Connection == id {
			delete(s.windows, wk)
		}
	}
	for ck := range s.checkpoints {
		if ck.Integration == integration && ck.Connection == id {
			delete(s.checkpoints, ck)
		}
	}
	for sk := range s.schedules {
		if sk.Integration == integration && sk.Connection == id {
			delete(s.schedules, sk)
		}
	}
	for sk, ls := range s.leases {
		if sk.Integration == integration && sk.Connection == id {
			ls.active = false // a run still going must not write into the deleted connection
		}
	}
	for ck := range s.consumers {
		if ck.Stream.Integration == integration && ck.Stream.Connection == id {
			delete(s.consumers, ck)
		}
	}
	for sk, ids := range s.runsByKey {
		if sk.Integration == integration && sk.Connection == id {
			for _, rid := range ids {
				delete(s.runs, rid)
			}
			delete(s.runsByKey, sk)
		}
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
