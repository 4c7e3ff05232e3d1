package nango

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// dryStore is the store of a dry run: a store.Store that reads the real store and writes into a
// sandbox held in memory, so that it works over any store. Records the run writes are first
// copied from the real store into the sandbox (with their state: live, deleted or absent), so
// the sandbox classifies every write against what the real store holds; checkpoints written by
// the run are kept beside it with the real store's version numbers. Leases, runs and schedules
// live in the sandbox. The one write that reaches the real store is a connection's refreshed
// credentials: a provider that rotates refresh tokens has already invalidated the old one.
type dryStore struct {
	base store.Store
	mem  *memory.Store

	mu          sync.Mutex
	streams     map[store.Stream]*dryStream
	checkpoints map[store.CheckpointKey]*dryCheckpoint
	conns       map[connKey]*store.Connection
	onWrite     func(model string, r *store.RecordsWriteResult)
}

var _ store.Store = (*dryStore)(nil)

// dryStream is what the sandbox knows of one stream.
type dryStream struct {
	base map[string]baseState // every id the run wrote: its state in the real store
	live map[string]bool      // every id the run wrote: live in the sandbox
	seen map[string]map[string]struct{}
	// sweep is the last TrackDeletes sweep's outcome, when there was one.
	sweep *drySweep
}

// baseState is a record's state in the real store before the run.
type baseState struct {
	found   bool
	deleted bool
	hash    uint64
}

type drySweep struct {
	live, unseen int
	refused      bool
	samples      []store.Record // of the records the sweep deletes
}

type dryCheckpoint struct {
	cp      store.Checkpoint
	deleted bool
}

func newDryStore(base store.Store) *dryStore {
	return &dryStore{
		base:        base,
		mem:         memory.New(),
		streams:     map[store.Stream]*dryStream{},
		checkpoints: map[store.CheckpointKey]*dryCheckpoint{},
		conns:       map[connKey]*store.Connection{},
	}
}

func (s *dryStore) stream(st store.Stream) *dryStream {
	ds := s.streams[st]
	if ds == nil {
		ds = &dryStream{base: map[string]baseState{}, live: map[string]bool{}, seen: map[string]map[string]struct{}{}}
		s.streams[st] = ds
	}
	return ds
}

// seed copies the records with these ids from the real store into the sandbox, once each.
// Callers hold s.mu.
func (s *dryStore) seed(ctx context.Context, st store.Stream, ds *dryStream, ids []string) error {
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
			ds.base[id] = baseState{}
		}
		var live []store.RecordInput
		var deleted []store.RecordInput
		for _, r := range res.Records {
			del := r.LastAction == store.ActionDeleted
			ds.base[r.ID] = baseState{found: true, deleted: del, hash: store.Hash(r.Data)}
			ds.live[r.ID] = !del
			live = append(live, store.RecordInput{Data: r.Data})
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

// checkpointLocked returns the current checkpoint of key as the run sees it. Callers hold s.mu.
func (s *dryStore) checkpointLocked(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if dc := s.checkpoints[key]; dc != nil {
		if dc.deleted {
			return nil, store.ErrNotFound
		}
		cp := dc.cp
		return &cp, nil
	}
	return s.base.CheckpointGet(ctx, key)
}

func (s *dryStore) checkpointVersion(ctx context.Context, key store.CheckpointKey) (int64, error) {
	cp, err := s.checkpointLocked(ctx, key)
	switch {
	case err == nil:
		return cp.Version, nil
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	default:
		return 0, err
	}
}

func (s *dryStore) putCheckpointLocked(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	cur, err := s.checkpointVersion(ctx, p.Key)
	if err != nil {
		return nil, err
	}
	if cur != p.ExpectedVersion {
		return nil, fmt.Errorf("%w (at version %d, expected %d)", store.ErrVersionConflict, cur, p.ExpectedVersion)
	}
	cp := store.Checkpoint{Data: bytes.Clone(p.Data), Version: cur + 1, UpdatedAt: store.Clock(p.Now)}
	s.checkpoints[p.Key] = &dryCheckpoint{cp: cp}
	out := cp
	return &out, nil
}

// RecordsWrite implements store.Store: it writes into the sandbox.
func (s *dryStore) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
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
	res, err := s.writeLocked(ctx, p, pw)
	onWrite := s.onWrite
	s.mu.Unlock()
	if err == nil && onWrite != nil {
		onWrite(p.Stream.Model, res)
	}
	return res, err
}

func (s *dryStore) writeLocked(ctx context.Context, p *store.RecordsWriteParams, pw *store.PreparedWrite) (*store.RecordsWriteResult, error) {
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
	if err := s.seed(ctx, p.Stream, ds, ids); err != nil {
		return nil, err
	}
	w := *p
	w.Checkpoint, w.TrackSeen = nil, ""
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
// listing is the real store's change feed.
func (s *dryStore) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
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
		if b.found && b.hash == store.Hash(r.Data) && b.deleted == (r.LastAction == store.ActionDeleted) {
			// Unchanged by the run: the real store's copy, with its metadata, is in res.
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

// RecordsSweep implements store.Store: it counts the live records of the real store that the
// run did not write, and deletes nothing. The real store's window may also hold ids written by
// failed runs since the last successful one; the dry run does not see those.
func (s *dryStore) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.stream(p.Stream)
	seen := ds.seen[p.Sync]
	sw := &drySweep{}
	const samples = 20
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
				if len(sw.samples) < samples {
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
func (s *dryStore) RecordsSweepReset(_ context.Context, p *store.RecordsSweepResetParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.stream(p.Stream).seen, p.Sync)
	return nil
}

// StreamStats implements store.Store with the real store's counts.
func (s *dryStore) StreamStats(ctx context.Context, st store.Stream) (*store.StreamStats, error) {
	return s.base.StreamStats(ctx, st)
}

var errDryRunUnsupported = errors.New("nango: not supported in a dry run")

// StreamDelete implements store.Store; a dry run never empties a stream.
func (s *dryStore) StreamDelete(context.Context, store.Stream) error { return errDryRunUnsupported }

// CheckpointGet implements store.Store.
func (s *dryStore) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpointLocked(ctx, key)
}

// CheckpointPut implements store.Store: the checkpoint is kept in the sandbox.
func (s *dryStore) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putCheckpointLocked(ctx, p)
}

// CheckpointDelete implements store.Store.
func (s *dryStore) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.checkpointVersion(ctx, p.Key)
	if err != nil {
		return err
	}
	if p.ExpectedVersion != store.AnyVersion && cur != p.ExpectedVersion {
		return fmt.Errorf("%w (at version %d, expected %d)", store.ErrVersionConflict, cur, p.ExpectedVersion)
	}
	s.checkpoints[p.Key] = &dryCheckpoint{deleted: true}
	return nil
}

// RunInsert implements store.Store: runs are kept in the sandbox.
func (s *dryStore) RunInsert(ctx context.Context, run *store.Run) error {
	return s.mem.RunInsert(ctx, run)
}

// RunUpdate implements store.Store.
func (s *dryStore) RunUpdate(ctx context.Context, run *store.Run) error {
	return s.mem.RunUpdate(ctx, run)
}

// RunGet implements store.Store.
func (s *dryStore) RunGet(ctx context.Context, id string) (*store.Run, error) {
	r, err := s.mem.RunGet(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.base.RunGet(ctx, id)
	}
	return r, err
}

// RunList implements store.Store: the sandbox's runs, then the real store's.
func (s *dryStore) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	mine, err := s.mem.RunList(ctx, p)
	if err != nil || p.Before != "" {
		return mine, err
	}
	theirs, err := s.base.RunList(ctx, p)
	if err != nil {
		return nil, err
	}
	out := append(mine, theirs...)
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	return out[:min(len(out), limit)], nil
}

// RunLastSuccess implements store.Store with the real store's history.
func (s *dryStore) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	return s.base.RunLastSuccess(ctx, key)
}

// ConnectionPut implements store.Store. Refreshed credentials reach the real store; any other
// change stays in the sandbox.
func (s *dryStore) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	s.conns[connKey{c.Integration, c.ID}] = &cp
	real, err := s.base.ConnectionGet(ctx, c.Integration, c.ID)
	if err != nil {
		return nil // not in the real store: nothing to keep up to date
	}
	if bytes.Equal(real.Metadata, c.Metadata) && !bytes.Equal(real.Credentials, c.Credentials) {
		real.Credentials, real.UpdatedAt = c.Credentials, c.UpdatedAt
		return s.base.ConnectionPut(ctx, real)
	}
	return nil
}

// ConnectionGet implements store.Store.
func (s *dryStore) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	s.mu.Lock()
	c := s.conns[connKey{integration, id}]
	s.mu.Unlock()
	if c != nil {
		cp := *c
		return &cp, nil
	}
	return s.base.ConnectionGet(ctx, integration, id)
}

// ConnectionList implements store.Store with the real store's connections.
func (s *dryStore) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	return s.base.ConnectionList(ctx, integration)
}

// ConnectionDelete implements store.Store; a dry run never deletes a connection.
func (s *dryStore) ConnectionDelete(context.Context, string, string) error {
	return errDryRunUnsupported
}

// LeaseAcquire implements store.Store: the dry run's lease is the sandbox's.
func (s *dryStore) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	return s.mem.LeaseAcquire(ctx, p)
}

// LeaseRenew implements store.Store.
func (s *dryStore) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	return s.mem.LeaseRenew(ctx, p)
}

// LeaseRelease implements store.Store.
func (s *dryStore) LeaseRelease(ctx context.Context, l *store.Lease) error {
	return s.mem.LeaseRelease(ctx, l)
}

// SchedulePut implements store.Store: schedules stay in the sandbox.
func (s *dryStore) SchedulePut(ctx context.Context, sc *store.Schedule) error {
	return s.mem.SchedulePut(ctx, sc)
}

// ScheduleGet implements store.Store.
func (s *dryStore) ScheduleGet(ctx context.Context, key store.SyncKey) (*store.Schedule, error) {
	sc, err := s.mem.ScheduleGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return s.base.ScheduleGet(ctx, key)
	}
	return sc, err
}

// ScheduleList implements store.Store with the real store's schedules.
func (s *dryStore) ScheduleList(ctx context.Context, integration string) ([]*store.Schedule, error) {
	return s.base.ScheduleList(ctx, integration)
}

// Close releases the sandbox; the real store stays open.
func (s *dryStore) Close() error { return s.mem.Close() }
