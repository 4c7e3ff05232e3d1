package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
)

// Trigger queues a run of each key now, paused or not. Keys whose sync is running or queued
// already are left alone and returned in busy; keys without an entry (added since the caller
// listed them: their first run is due now anyway) are skipped. It returns ErrNotRunning when
// Run is not running.
func (s *Scheduler) Trigger(keys []Key, job Job) (busy []Key, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil, ErrNotRunning
	}
	for _, k := range keys {
		en := s.entries[k]
		if en == nil {
			continue
		}
		if en.state != entryIdle {
			busy = append(busy, k)
			continue
		}
		if job.TriggerID != "" {
			en.triggerID = job.TriggerID
		}
		s.enqueue(en, job)
	}
	s.signal()
	return busy, nil
}

// Busy returns the keys whose sync is running or queued in this scheduler. It returns
// ErrNotRunning when Run is not running.
func (s *Scheduler) Busy(keys []Key) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil, ErrNotRunning
	}
	var busy []Key
	for _, k := range keys {
		if en := s.entries[k]; en != nil && en.state != entryIdle {
			busy = append(busy, k)
		}
	}
	return busy, nil
}

// SetPaused pauses or starts key's entry and saves its schedule; starting runs it now (or, if
// it is running, again as soon as that run ends). It reports false, and does nothing, when key
// has no entry (Run is not running, or the connection is unknown).
func (s *Scheduler) SetPaused(ctx context.Context, key Key, paused bool) (bool, error) {
	s.mu.Lock()
	en := s.entries[key]
	if en != nil && en.paused != paused {
		en.paused = paused
		switch {
		case paused:
			s.unschedule(en)
		case en.state == entryIdle:
			// Starting runs it now: a slot that the other engines sharing the store get too,
			// so that one of them runs it.
			s.reslot(en, store.Timestamp(s.cfg.Clock.Now()))
			s.push(en)
		case en.state == entryRunning:
			en.startNow = true // run again as soon as this run is done
		}
		s.signal()
	}
	s.mu.Unlock()
	if en == nil {
		return false, nil
	}
	return true, s.persist(ctx, key)
}

// SetFrequency sets key's frequency override ("" for the sync's own) and its period, moves an
// idle entry to its slot on the new grid, and saves its schedule. It reports false, and does
// nothing, when key has no entry.
func (s *Scheduler) SetFrequency(ctx context.Context, key Key, freq time.Duration, override string) (bool, error) {
	s.mu.Lock()
	en := s.entries[key]
	if en != nil {
		en.freq, en.override = freq, override
		if en.state == entryIdle && !en.paused {
			s.reslot(en, NextSlot(key, freq, s.cfg.Clock.Now()))
			s.push(en)
			s.signal()
		}
	}
	s.mu.Unlock()
	if en == nil {
		return false, nil
	}
	return true, s.persist(ctx, key)
}

// WebhookTrigger runs key because of provider webhook events, debounced: an idle entry runs
// within debounce (events until then are part of that run), a queued one takes the events into
// its run, and a running one runs once more after it. It reports false when Run is not running.
func (s *Scheduler) WebhookTrigger(key Key, debounce time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return false
	}
	en := s.entries[key]
	if en == nil || en.paused {
		return true // a sync that is paused, or a connection being deleted, takes no trigger
	}
	switch en.state {
	case entryIdle:
		if due := s.cfg.Clock.Now().Add(debounce); due.Before(en.due) {
			en.due = due
		}
		if en.retryJob == nil {
			// A pending trigger (a reset waiting for a RunSync to end) keeps its options: it
			// syncs what the events changed all the same.
			en.retryJob = &Job{Trigger: TriggerWebhook}
		}
		s.push(en)
		s.signal()
	case entryRunning:
		en.followUp = true
	}
	return true
}

// State is what the scheduler knows of one entry.
type State struct {
	Paused bool
	// Override is the connection's frequency override, "" for none.
	Override string
	// NextRun is when it runs next; zero when it is queued or running.
	NextRun time.Time
}

// State returns key's state, and false when key has no entry.
func (s *Scheduler) State(key Key) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en := s.entries[key]
	if en == nil {
		return State{}, false
	}
	st := State{Paused: en.paused, Override: en.override, NextRun: en.due}
	if en.state != entryIdle {
		st.NextRun = time.Time{}
	}
	return st, true
}

// reslot moves an idle entry to a new due time set by a control call. A scheduled slot it was
// to look at again (its sync ran elsewhere) is dropped: the new due time is the slot now; a
// pending trigger (manual, reset, webhook) is kept. Callers hold s.mu.
func (s *Scheduler) reslot(en *entry, due time.Time) {
	en.due = due
	if en.retryJob != nil && en.retryJob.Trigger == TriggerSchedule {
		en.retryJob = nil
	}
}

// push (re)places an idle entry in the heap. Callers hold s.mu.
func (s *Scheduler) push(en *entry) {
	if en.heapIdx >= 0 {
		heap.Fix(&s.heap, en.heapIdx)
		return
	}
	heap.Push(&s.heap, en)
}

// Reload applies the schedules of an integration's syncs as the store has them (another
// engine sharing the store paused, started or re-timed them): the pause, the frequency override
// and, for an idle entry that is not paused, the next run (zero: now). An empty connection or
// sync means all of them. Keys without an entry or without a saved schedule are left alone.
func (s *Scheduler) Reload(ctx context.Context, integration, connection, sync string) error {
	var scheds []*store.Schedule
	if connection != "" && sync != "" {
		saved, err := s.cfg.Store.ScheduleGet(ctx, Key{Integration: integration, Sync: sync, Connection: connection})
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("loading schedule of %s for %q: %w", sync, connection, err)
		}
		scheds = []*store.Schedule{saved}
	} else {
		all, err := s.cfg.Store.ScheduleList(ctx, integration)
		if err != nil {
			return fmt.Errorf("loading schedules of %s: %w", integration, err)
		}
		for _, sc := range all {
			if (connection == "" || sc.Key.Connection == connection) && (sync == "" || sc.Key.Sync == sync) {
				scheds = append(scheds, sc)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, saved := range scheds {
		if en := s.entries[saved.Key]; en != nil {
			s.apply(en, saved, true)
		}
	}
	return nil
}

// apply brings an entry in line with its saved schedule. With next, or when the pause or the
// frequency changed, an idle entry that is not paused takes the saved next run. A saved
// trigger it has not taken up yet is queued now, paused or not (or once the run in progress
// ends). Callers hold s.mu.
func (s *Scheduler) apply(en *entry, saved *store.Schedule, next bool) {
	changed := false
	if saved.Frequency != en.override {
		freq, err := s.frequency(en.sync, saved.Frequency)
		if err != nil {
			s.cfg.Logger.Warn("ignoring a saved frequency override", "integration", en.key.Integration, "sync", en.key.Sync,
				"connection_id", en.key.Connection, "error", err)
		} else {
			en.freq, en.override, changed = freq, saved.Frequency, true
		}
	}
	if saved.Paused != en.paused {
		en.paused, changed = saved.Paused, true
		if en.paused {
			s.unschedule(en)
		}
	}
	if t := saved.Trigger; !t.IsZero() && t.ID != en.triggerID {
		en.triggerID = t.ID
		job := TriggerJob(t)
		if en.state == entryIdle {
			s.enqueue(en, job)
			s.signal()
		} else {
			en.nextTrigger = &job
		}
	}
	if (!changed && !next) || en.paused || en.state != entryIdle {
		return
	}
	// A past due time is kept: the run is due at once, for the same slot as on the engine
	// that saved it, so that only one engine runs it.
	due := saved.NextRunAt
	if due.IsZero() {
		due = s.cfg.Clock.Now()
	}
	s.reslot(en, due)
	s.push(en)
	s.signal()
}

// Resync brings the entries of integrations in line with the store: it adds the connections
// added since, drops the deleted ones, and applies changed pauses and frequency overrides.
// Engines sharing a store call it at a slow interval, in case a signal was lost.
func (s *Scheduler) Resync(ctx context.Context, integrations []Integration) error {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return ErrNotRunning
	}
	gen := s.gen // entries added from now on may be missing from the lists below
	s.mu.Unlock()
	for _, in := range integrations {
		conns, err := s.cfg.Store.ConnectionList(ctx, in.Key)
		if err != nil {
			return fmt.Errorf("loading connections of %s: %w", in.Key, err)
		}
		scheds, err := s.cfg.Store.ScheduleList(ctx, in.Key)
		if err != nil {
			return fmt.Errorf("loading schedules of %s: %w", in.Key, err)
		}
		live := make(map[string]bool, len(conns))
		for _, c := range conns {
			live[c.ID] = true
		}
		byKey := make(map[Key]*store.Schedule, len(scheds))
		for _, sc := range scheds {
			byKey[sc.Key] = sc
		}
		s.mu.Lock()
		gone := map[string]bool{}
		for key, en := range s.entries {
			if key.Integration != in.Key {
				continue
			}
			if !live[key.Connection] {
				if en.gen <= gen {
					gone[key.Connection] = true
				}
				continue
			}
			if saved := byKey[key]; saved != nil {
				s.apply(en, saved, false)
			}
		}
		var missing []Key
		for _, c := range conns {
			for _, sc := range in.Syncs {
				key := Key{Integration: in.Key, Sync: sc.Name, Connection: c.ID}
				if s.entries[key] == nil {
					missing = append(missing, key)
				}
			}
		}
		s.mu.Unlock()
		for id := range gone {
			s.RemoveConnection(in.Key, id)()
		}
		for _, key := range missing {
			for _, sc := range in.Syncs {
				if sc.Name == key.Sync {
					if err := s.addEntry(ctx, key, sc, byKey[key]); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
