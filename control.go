package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gonango/nango/internal/jsonc"
	"github.com/gonango/nango/internal/scheduler"
	"github.com/gonango/nango/store"
)

// SyncSelector picks syncs of one integration: Syncs names them (empty: all the integration's
// syncs) and Connection picks one connection (empty: all of them).
type SyncSelector struct {
	Integration string
	Syncs       []string
	Connection  string
}

// TriggerParams select the syncs to run now and how.
type TriggerParams struct {
	SyncSelector
	// Reset clears the checkpoint and deletion-tracking state first; EmptyCache (with Reset)
	// also removes the records. See RunOptions.
	Reset      bool
	EmptyCache bool
}

// targets resolves a selector to sync keys, checking every name.
func (e *Engine) targets(ctx context.Context, sel SyncSelector) ([]store.SyncKey, error) {
	in, err := e.integration(sel.Integration)
	if err != nil {
		return nil, err
	}
	names := sel.Syncs
	if len(names) == 0 {
		for _, sc := range in.Syncs {
			names = append(names, sc.Name)
		}
	}
	for _, name := range names {
		if _, _, err := e.syncConfig(sel.Integration, name); err != nil {
			return nil, err
		}
	}
	var conns []string
	if sel.Connection != "" {
		if _, err := e.store.ConnectionGet(ctx, sel.Integration, sel.Connection); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, sel.Connection, sel.Integration)
			}
			return nil, fmt.Errorf("nango: loading connection %q: %w", sel.Connection, err)
		}
		conns = []string{sel.Connection}
	} else {
		all, err := e.store.ConnectionList(ctx, sel.Integration)
		if err != nil {
			return nil, fmt.Errorf("nango: listing connections of %s: %w", sel.Integration, err)
		}
		for _, c := range all {
			conns = append(conns, c.ID)
		}
	}
	keys := make([]store.SyncKey, 0, len(names)*len(conns))
	for _, name := range names {
		for _, c := range conns {
			keys = append(keys, store.SyncKey{Integration: sel.Integration, Sync: name, Connection: c})
		}
	}
	return keys, nil
}

// Trigger queues a run of the selected syncs now, paused or not, ahead of their schedule; it
// returns without waiting for them (use RunSync to wait). Syncs that are already running or
// queued are left alone and reported in an error that wraps ErrRunActive; the others are queued
// all the same. It needs the engine to be running (ErrEngineNotRunning).
//
// The trigger is saved in each sync's schedule before Trigger returns (one write per sync and
// connection: a trigger of every connection of an integration takes as long as that many small
// writes), and cleared by the run that ran it when that run ends: whichever engine sharing the store takes the sync's lease
// first runs it, and a trigger whose engine stopped before its run ended (a crash, a shutdown)
// runs on another engine, or on this one when it starts again. A trigger made while another
// still waits to run replaces it, keeping its Reset and EmptyCache: a reset asked for is never
// dropped.
func (e *Engine) Trigger(ctx context.Context, p TriggerParams) error {
	if p.EmptyCache && !p.Reset {
		return configError("EmptyCache needs Reset")
	}
	keys, err := e.targets(ctx, p.SyncSelector)
	if err != nil {
		return err
	}
	busy, err := e.sched.Busy(keys)
	if errors.Is(err, scheduler.ErrNotRunning) {
		return ErrEngineNotRunning
	}
	if err != nil {
		return fmt.Errorf("nango: %w", err)
	}
	now := e.now()
	trig := store.ScheduleTrigger{ID: newTriggerID(now), Reset: p.Reset, EmptyCache: p.EmptyCache, At: now}
	free := slices.DeleteFunc(slices.Clone(keys), func(k store.SyncKey) bool { return slices.Contains(busy, k) })
	if len(free) > 0 {
		sig := store.Signal{Kind: store.SignalTrigger, Integration: p.Integration, Connection: p.Connection}
		if len(p.Syncs) == 1 {
			sig.Sync = p.Syncs[0]
		}
		defer e.signal(ctx, sig) // what was saved, even if a later key failed
	}
	for _, k := range free {
		if err := e.saveTrigger(ctx, k, trig); err != nil {
			return err
		}
	}
	raced, err := e.sched.Trigger(free, scheduler.TriggerJob(trig))
	if errors.Is(err, scheduler.ErrNotRunning) {
		return ErrEngineNotRunning
	}
	for _, k := range raced {
		// Queued or started between the two looks: left alone, as if busy from the start.
		if err := e.clearTrigger(ctx, k, trig.ID); err != nil {
			e.logger.Warn("withdrawing a trigger failed; it runs after the sync's run", "integration", k.Integration,
				"sync", k.Sync, "connection_id", k.Connection, "error", err)
		}
	}
	busy = append(busy, raced...)
	if len(busy) > 0 {
		names := make([]string, len(busy))
		for i, k := range busy {
			names[i] = k.Sync + "/" + k.Connection
		}
		return fmt.Errorf("%w: %s", ErrRunActive, strings.Join(names, ", "))
	}
	return err
}

// newTriggerID returns a new id for a saved trigger.
func newTriggerID(t time.Time) string {
	return "trigger_" + strings.TrimPrefix(newRunID(t), "run_")
}

// saveTrigger saves t in k's schedule, replacing a trigger not run yet.
func (e *Engine) saveTrigger(ctx context.Context, k store.SyncKey, t store.ScheduleTrigger) error {
	err := e.updateSchedule(ctx, k, func(sc *store.Schedule) {
		// A trigger saved before and not run yet is replaced, but its reset is not lost.
		if !sc.Trigger.IsZero() {
			t.Reset = t.Reset || sc.Trigger.Reset
			t.EmptyCache = t.EmptyCache || sc.Trigger.EmptyCache
		}
		sc.Trigger, sc.UpdatedAt = t, t.At
	})
	if err != nil {
		return fmt.Errorf("nango: saving the trigger of %s for %q: %w", k.Sync, k.Connection, err)
	}
	return nil
}

// clearTrigger removes the trigger id from k's schedule; a later trigger saved since stays.
func (e *Engine) clearTrigger(ctx context.Context, k store.SyncKey, id string) error {
	_, err := e.store.ScheduleUpdate(ctx, k, func(sc *store.Schedule) error {
		if sc.Trigger.ID == id {
			sc.Trigger = store.ScheduleTrigger{}
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // the connection is gone
	}
	return err
}

// updateSchedule changes k's saved schedule in one step; a schedule not saved yet starts as a
// new connection's would.
func (e *Engine) updateSchedule(ctx context.Context, k store.SyncKey, set func(*store.Schedule)) error {
	_, err := e.store.ScheduleUpdate(ctx, k, func(sc *store.Schedule) error { set(sc); return nil })
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	saved, err := e.schedule(ctx, k)
	if err != nil {
		return err
	}
	set(saved)
	return e.store.SchedulePut(ctx, saved)
}

// Pause stops scheduling the selected syncs; a run in progress finishes. The state is kept in
// the store, so it survives restarts.
func (e *Engine) Pause(ctx context.Context, sel SyncSelector) error {
	return e.setPaused(ctx, sel, true)
}

// Start schedules the selected syncs again and runs them now, as Nango does.
func (e *Engine) Start(ctx context.Context, sel SyncSelector) error {
	return e.setPaused(ctx, sel, false)
}

func (e *Engine) setPaused(ctx context.Context, sel SyncSelector, paused bool) error {
	keys, err := e.targets(ctx, sel)
	if err != nil {
		return err
	}
	sig := store.Signal{Kind: store.SignalSchedule, Integration: sel.Integration, Connection: sel.Connection}
	if len(sel.Syncs) == 1 {
		sig.Sync = sel.Syncs[0]
	}
	defer e.signal(ctx, sig) // what was saved, even if a later key failed
	for _, k := range keys {
		found, err := e.sched.SetPaused(ctx, k, paused)
		if err != nil {
			return fmt.Errorf("nango: %w", err)
		}
		if found {
			continue
		}
		// Not scheduled now (the engine is not running): change the saved schedule.
		err = e.updateSchedule(ctx, k, func(saved *store.Schedule) {
			if saved.Paused && !paused {
				saved.NextRunAt = time.Time{} // run as soon as the engine runs
			}
			saved.Paused, saved.UpdatedAt = paused, e.now()
		})
		if err != nil {
			return fmt.Errorf("nango: saving schedule of %s for %q: %w", k.Sync, k.Connection, err)
		}
	}
	return nil
}

// schedule returns the saved schedule of k, or the one a new connection would get.
func (e *Engine) schedule(ctx context.Context, k store.SyncKey) (*store.Schedule, error) {
	saved, err := e.store.ScheduleGet(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		_, sc, err := e.syncConfig(k.Integration, k.Sync)
		if err != nil {
			return nil, err
		}
		return &store.Schedule{Key: k, Paused: sc.ManualStart}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nango: loading schedule of %s for %q: %w", k.Sync, k.Connection, err)
	}
	return saved, nil
}

// SetFrequency overrides a sync's frequency for one connection; an empty frequency reverts to
// the sync's own. The next run moves to the new grid.
func (e *Engine) SetFrequency(ctx context.Context, integration, syncName, connection, frequency string) error {
	_, sc, err := e.syncConfig(integration, syncName)
	if err != nil {
		return err
	}
	freq, err := e.frequency(sc, frequency)
	if err != nil {
		return err
	}
	keys, err := e.targets(ctx, SyncSelector{Integration: integration, Syncs: []string{syncName}, Connection: connection})
	if err != nil {
		return err
	}
	k := keys[0]
	defer e.signal(ctx, store.Signal{Kind: store.SignalSchedule, Integration: integration, Connection: connection, Sync: syncName})
	if found, err := e.sched.SetFrequency(ctx, k, freq, frequency); found || err != nil {
		if err != nil {
			return fmt.Errorf("nango: %w", err)
		}
		return nil
	}
	err = e.updateSchedule(ctx, k, func(saved *store.Schedule) {
		saved.Frequency = frequency
		saved.NextRunAt = scheduler.NextSlot(k, freq, e.cfg.Clock.Now())
		saved.UpdatedAt = e.now()
	})
	if err != nil {
		return fmt.Errorf("nango: saving schedule of %s for %q: %w", k.Sync, k.Connection, err)
	}
	return nil
}

// UpdateConnectionMetadata replaces a connection's metadata, or deep-merges it into the current
// one when merge is true (both must then be JSON objects).
func (e *Engine) UpdateConnectionMetadata(ctx context.Context, integration, id string, metadata any, merge bool) error {
	raw, err := json.Marshal(metadata)
	if err != nil {
		return fmt.Errorf("nango: encoding metadata of connection %q: %w", id, err)
	}
	canon, err := jsonc.Canonical(nil, raw)
	if err != nil {
		return fmt.Errorf("nango: metadata of connection %q: %w", id, err)
	}
	now := e.now()
	// Only the metadata changes, read and written in one step: a token refresh meanwhile stays,
	// and two merges never lose each other's keys.
	var mergeErr error
	_, err = e.store.ConnectionUpdate(ctx, integration, id, func(c *store.Connection) error {
		meta := canon
		if merge && len(c.Metadata) > 0 {
			base, err := jsonc.Canonical(nil, c.Metadata)
			if err != nil {
				mergeErr = fmt.Errorf("nango: stored metadata of connection %q: %w", id, err)
				return mergeErr
			}
			if meta, err = jsonc.Merge(nil, base, canon); err != nil {
				mergeErr = fmt.Errorf("nango: merging metadata of connection %q: both must be JSON objects: %w", id, err)
				return mergeErr
			}
		}
		if string(meta) == "null" {
			meta = nil
		}
		c.Metadata, c.UpdatedAt = slices.Clone(meta), now
		return nil
	})
	switch {
	case mergeErr != nil:
		return mergeErr
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, id, integration)
	case err != nil:
		return fmt.Errorf("nango: saving connection %q: %w", id, err)
	}
	return nil
}
