package scheduler

import (
	"container/heap"
	"context"
	"time"
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
		s.enqueue(en, job)
	}
	s.signal()
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
			en.due = s.cfg.Clock.Now() // starting runs it now
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
			en.due = NextSlot(key, freq, s.cfg.Clock.Now())
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

// push (re)places an idle entry in the heap. Callers hold s.mu.
func (s *Scheduler) push(en *entry) {
	if en.heapIdx >= 0 {
		heap.Fix(&s.heap, en.heapIdx)
		return
	}
	heap.Push(&s.heap, en)
}
