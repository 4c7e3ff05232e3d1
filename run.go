package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// RunState is the state of a run, a string: "running", "success", "failed", "cancelled" or
// "timed_out" (the constants below).
type RunState = store.RunState

// The run states.
const (
	RunRunning   = store.RunRunning
	RunSucceeded = store.RunSucceeded
	RunFailed    = store.RunFailed
	RunCancelled = store.RunCancelled
	RunTimedOut  = store.RunTimedOut
)

// ModelResult counts what a run did to one model. Its fields, with their JSON names:
//
//	Added      int  "added"       records new to the stream (or saved again after a deletion)
//	Updated    int  "updated"     records whose payload changed
//	Deleted    int  "deleted"     by BatchDelete and the TrackDeletes sweep
//	Unchanged  int  "unchanged"   records saved again with the same payload: no change in the feed
//	Duplicates int  "duplicates"  records dropped because a later one in the same call had their id
//	Ignored    int  "ignored"     BatchUpdate and BatchDelete of ids unknown or already deleted
//	Skipped    int  "skipped"     records another writer changed after the run's merging snapshot
type ModelResult = store.ModelResult

// Run triggers.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerWebhook  = "webhook"
	TriggerReset    = "reset"
)

// RunOptions adjust one run. The zero value is a normal run.
type RunOptions struct {
	// Reset clears the sync's checkpoint and deletion-tracking state before the run, so that it
	// starts over as an initial run.
	Reset bool
	// EmptyCache, with Reset, also removes the stream's records for good before the run; they
	// come back as ADDED. Cursors taken before become invalid.
	EmptyCache bool
	// ConfirmDeletes lets this run's TrackDeletes sweep go past the DeleteGuard.
	ConfirmDeletes bool
	// Trigger is recorded in the run history. Defaults to TriggerManual (TriggerReset with Reset).
	Trigger string

	// slot, for a scheduled run, is the time it was due: the run does not start when a run
	// started at or after it (another engine sharing the store ran the slot).
	slot time.Time
	// triggerID, for a run of a trigger saved in the sync's schedule (Trigger), is its id: the
	// run takes the saved trigger's options, does not start when the schedule holds none (an
	// engine sharing the store ran it), and clears it when it ends.
	triggerID string
}

// RunResult reports a finished run.
type RunResult struct {
	RunID       string
	Integration string
	Sync        string
	Connection  string
	Trigger     string
	State       RunState
	// Initial is true when no earlier run of the sync succeeded for the connection.
	Initial   bool
	StartedAt time.Time
	EndedAt   time.Time
	// Models counts the changes per model, including TrackDeletes deletions.
	Models map[string]ModelResult
	// RefusedDeletes lists, per model, how many deletions the DeleteGuard refused.
	RefusedDeletes map[string]int
	Warnings       []string
	// Err is why the run failed; nil on success.
	Err error
	// CheckpointFrom and CheckpointTo are the sync's checkpoint when the run started and when
	// it ended (nil when there was none), as the webhooks report them.
	CheckpointFrom json.RawMessage
	CheckpointTo   json.RawMessage
	// Webhooks are the ids of the webhook deliveries the run put in the outbox, in the same
	// transaction that recorded its end (see Engine.WebhookDelivery).
	Webhooks []string
}

// Duration is how long the run took.
func (r *RunResult) Duration() time.Duration { return r.EndedAt.Sub(r.StartedAt) }

// RunSync runs a sync for a connection now and waits for it. The error is the run's error (also
// in RunResult.Err) or why it could not start: ErrUnknownIntegration, ErrUnknownSync,
// ErrUnknownConnection, or ErrRunActive when the sync is already running for the connection
// (in this process or, through the store's lease, in another).
func (e *Engine) RunSync(ctx context.Context, integration, syncName, connection string, opts *RunOptions) (*RunResult, error) {
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	if o.EmptyCache && !o.Reset {
		return nil, configError("EmptyCache needs Reset")
	}
	return e.runOnce(ctx, store.SyncKey{Integration: integration, Sync: syncName, Connection: connection}, o)
}

// runOnce is one run, whoever asked for it: RunSync or the scheduler.
func (e *Engine) runOnce(ctx context.Context, key store.SyncKey, o RunOptions) (res *RunResult, err error) {
	if o.Trigger == "" {
		o.Trigger = TriggerManual
		if o.Reset {
			o.Trigger = TriggerReset
		}
	}
	in, sc, err := e.syncConfig(key.Integration, key.Sync)
	if err != nil {
		return nil, err
	}
	if !o.slot.IsZero() {
		// A slot that an engine sharing the store ran already is skipped with one read, before
		// the lease is written (claim looks again once it is held).
		runs, err := e.store.RunList(ctx, &store.RunListParams{Key: key, Limit: 1})
		if err != nil {
			return nil, within(err, "loading the latest run of %s for %q", key.Sync, key.Connection)
		}
		if len(runs) > 0 && runs[0].State != store.RunRunning && slotRan(runs[0], o.slot) {
			return nil, errSlotTaken
		}
	}
	if o.triggerID != "" {
		// Likewise a trigger that an engine sharing the store ran already.
		sc, err := e.store.ScheduleGet(ctx, key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sc.Trigger.IsZero()) {
			return nil, errSlotTaken
		}
	}
	conn, err := e.store.ConnectionGet(ctx, key.Integration, key.Connection)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, key.Connection, key.Integration)
		}
		return nil, within(err, "loading connection %q", key.Connection)
	}
	if !e.acquire(key) {
		return nil, fmt.Errorf("%w (sync %q, connection %q)", ErrRunActive, key.Sync, key.Connection)
	}
	defer e.release(key)
	lease, err := e.store.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: key, Owner: e.cfg.InstanceID, TTL: e.cfg.LeaseTTL, Now: e.now()})
	if err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil, chain(ErrRunActive, err)
		}
		return nil, within(err, "taking the lease of %s for %q", key.Sync, key.Connection)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopRenewing := e.keepLease(runCtx, cancel, lease)
	defer func() {
		current := stopRenewing()
		if err := e.store.LeaseRelease(context.WithoutCancel(ctx), current); err != nil {
			e.logger.Warn("releasing lease failed; it expires by itself", "sync", key.Sync, "connection_id", key.Connection, "error", err)
		}
	}()
	if err := e.claim(runCtx, key, o.slot); err != nil {
		return nil, err
	}
	if o.triggerID != "" {
		if err := e.claimTrigger(runCtx, key, &o); err != nil {
			return nil, err
		}
		defer func() {
			// A run cut short by a shutdown, or that lost its lease, leaves the trigger to the
			// engine that runs the sync next. Any other end clears it, a run that failed
			// before its sync started included: a trigger is run once, not at every start.
			if ctx.Err() == nil && !errors.Is(context.Cause(runCtx), store.ErrLeaseLost) {
				if err := e.clearTrigger(context.WithoutCancel(ctx), key, o.triggerID); err != nil {
					e.logger.Warn("clearing the trigger the run ran failed; it may run once more", "integration", key.Integration,
						"sync", key.Sync, "connection_id", key.Connection, "error", err)
				}
			}
		}()
	}

	if o.Reset {
		if err := e.reset(runCtx, key, sc, o.EmptyCache, lease); err != nil {
			return nil, err
		}
	}
	n, err := e.newRun(runCtx, in, sc, conn, key, o.Trigger)
	if err != nil {
		return nil, err
	}
	n.lease = lease
	defer e.progress.track(n)() // progress.go
	e.metrics.runStarted(ctx, key.Integration, key.Sync)
	res = e.execute(runCtx, n, sc, o)
	e.metrics.runFinished(context.WithoutCancel(ctx), res)
	return res, res.Err
}

// errSlotTaken: another engine sharing the store already ran a scheduled run's slot, or a
// saved trigger.
var errSlotTaken = errors.New("nango: another engine ran this slot")

// claimTrigger, once this engine holds the lease, takes up the trigger saved in key's schedule:
// the run gets its options (the latest trigger's, if another was saved since the job was
// queued). None saved means that an engine sharing the store ran it: errSlotTaken.
func (e *Engine) claimTrigger(ctx context.Context, key store.SyncKey, o *RunOptions) error {
	sc, err := e.store.ScheduleGet(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errSlotTaken
	case err != nil:
		return within(err, "loading the schedule of %s for %q", key.Sync, key.Connection)
	case sc.Trigger.IsZero():
		return errSlotTaken
	}
	t := sc.Trigger
	o.triggerID, o.Reset, o.EmptyCache = t.ID, t.Reset, t.EmptyCache
	o.Trigger = TriggerManual
	if t.Reset {
		o.Trigger = TriggerReset
	}
	return nil
}

// claim looks at the sync's latest run once this engine holds the lease. A run still RUNNING was
// left by an engine that stopped, or lost its lease, before it finished (nobody else can hold
// the lease now): it is recorded as ended, and this run takes over from its last checkpoint.
// For a scheduled run (slot not zero), a run that started at or after the slot, or that was
// going at the slot, means another engine has run it: errSlotTaken.
func (e *Engine) claim(ctx context.Context, key store.SyncKey, slot time.Time) error {
	runs, err := e.store.RunList(ctx, &store.RunListParams{Key: key, Limit: 1})
	if err != nil {
		return within(err, "loading the latest run of %s for %q", key.Sync, key.Connection)
	}
	if len(runs) == 0 {
		return nil
	}
	last := runs[0]
	if last.State == store.RunRunning {
		return e.endInterrupted(ctx, last)
	}
	if !slot.IsZero() && slotRan(last, slot) {
		return errSlotTaken
	}
	return nil
}

// slotRan reports whether last, a run that ended, ran the slot. A run that started at or after
// the slot ran it; so did one that was going at the slot, as on a single engine a slot that
// comes while the sync runs is skipped. A cancelled run (cut short by a shutdown, say) does not
// count: the slot is due again.
func slotRan(last *store.Run, slot time.Time) bool {
	slot = store.Timestamp(slot)
	return last.State != store.RunCancelled && (!last.StartedAt.Before(slot) || !last.EndedAt.Before(slot))
}

// InterruptedRunError is the error recorded for a run whose engine stopped (a crash, a kill, a
// lost lease) before it finished. Its changes up to its last commit are kept; the next run
// continues from its checkpoint.
const InterruptedRunError = "interrupted: the engine running it stopped or lost its lease before the run finished; " +
	"the changes it committed are kept and the next run continues from its last checkpoint"

// endInterrupted records a run left RUNNING by an engine that is gone as failed.
func (e *Engine) endInterrupted(ctx context.Context, run *store.Run) error {
	run.State, run.EndedAt, run.Error = store.RunFailed, e.now(), InterruptedRunError
	if run.EndedAt.Before(run.StartedAt) {
		run.EndedAt = run.StartedAt
	}
	if err := e.store.RunUpdate(ctx, run); err != nil {
		return within(err, "recording the end of interrupted run %s", run.ID)
	}
	e.logger.Warn("recorded an interrupted run as failed; this run takes over", "integration", run.Key.Integration,
		"sync", run.Key.Sync, "connection_id", run.Key.Connection, "run_id", run.ID, "started_at", run.StartedAt)
	return nil
}

// keepLease renews the lease every third of its TTL until the returned function is called; that
// function returns the lease as last renewed. When the lease is lost the run's context is
// cancelled with ErrLeaseLost.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelCauseFunc, lease *store.Lease) func() *store.Lease {
	var mu sync.Mutex
	current := lease
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-e.cfg.Clock.After(e.cfg.LeaseTTL / 3):
			}
			mu.Lock()
			l := current
			mu.Unlock()
			renewed, err := e.store.LeaseRenew(ctx, &store.LeaseRenewParams{Lease: l, TTL: e.cfg.LeaseTTL, Now: e.now()})
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				e.logger.Error("lease lost: stopping the run", "sync", l.Key.Sync, "connection_id", l.Key.Connection)
				cancel(err)
				return
			case err != nil:
				// Try again at the next tick; fencing keeps writes safe meanwhile.
				e.logger.Warn("renewing lease failed", "sync", l.Key.Sync, "connection_id", l.Key.Connection, "error", err)
			default:
				mu.Lock()
				current = renewed
				mu.Unlock()
			}
		}
	}()
	return func() *store.Lease {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return current
	}
}

func (e *Engine) acquire(key store.SyncKey) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.active[key]; busy {
		return false
	}
	e.active[key] = struct{}{}
	return true
}

func (e *Engine) release(key store.SyncKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.active, key)
}

func (e *Engine) reset(ctx context.Context, key store.SyncKey, sc *SyncConfig, emptyCache bool, lease *store.Lease) error {
	err := e.store.CheckpointDelete(ctx, &store.CheckpointDeleteParams{Key: store.CheckpointKey(key), ExpectedVersion: store.AnyVersion, Fence: lease})
	if err != nil {
		return within(err, "resetting checkpoint of %s", key.Sync)
	}
	for _, m := range sc.Models {
		stream := store.Stream{Integration: key.Integration, Connection: key.Connection, Model: m.Name}
		if err := e.store.RecordsSweepReset(ctx, &store.RecordsSweepResetParams{Stream: stream, Sync: key.Sync}); err != nil {
			return within(err, "resetting deletion tracking of %s", stream)
		}
		if emptyCache {
			if err := e.store.StreamDelete(ctx, stream); err != nil {
				return within(err, "emptying %s", stream)
			}
		}
	}
	return nil
}

func (e *Engine) newRun(ctx context.Context, in *Integration, sc *SyncConfig, conn *store.Connection, key store.SyncKey, trigger string) (*Nango, error) {
	now := e.now()
	run := &store.Run{ID: newRunID(now), Key: key, Trigger: trigger, State: store.RunRunning, StartedAt: now}
	last, err := e.store.RunLastSuccess(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		run.Initial = true
	case err != nil:
		return nil, within(err, "loading run history of %s", key.Sync)
	case trigger == TriggerReset:
		// A reset starts over: an initial run, with no last sync date (as Nango clears it).
		run.Initial, last = true, nil
	}
	var cpVersion int64
	var cpFrom json.RawMessage
	if cp, err := e.store.CheckpointGet(ctx, store.CheckpointKey(key)); err == nil {
		cpVersion = cp.Version
		if cpFrom, err = e.openCheckpoint(ctx, store.CheckpointKey(key), cp.Data); err != nil {
			return nil, fmt.Errorf("nango: loading checkpoint of %s: %w", key.Sync, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, within(err, "loading checkpoint of %s", key.Sync)
	}
	// Not cancelled midway: an insert that commits while the caller sees its context's error
	// would leave a run RUNNING that nobody finishes. Once it is in, execute records its end.
	if err := e.store.RunInsert(context.WithoutCancel(ctx), run); err != nil {
		return nil, within(err, "recording run start")
	}
	logs := newRunLog(e.cfg.RunLogLines)
	n := &Nango{
		engine:      e,
		integration: in,
		sync:        sc,
		conn:        conn,
		run:         run,
		logs:        logs,
		cpVersion:   cpVersion,
		cpFrom:      cpFrom,
		results:     map[string]*ModelResult{},
	}
	if last != nil {
		n.lastSuccess = last.StartedAt
	}
	n.logger = e.logger.With("integration", key.Integration, "sync", key.Sync, "connection_id", key.Connection, "run_id", run.ID)
	n.logger = newTeeLogger(n.logger, logs)
	return n, nil
}

// execute runs the sync code and finishes the run. It never returns a nil result.
func (e *Engine) execute(parent context.Context, n *Nango, sc *SyncConfig, o RunOptions) *RunResult {
	ctx, cancel := context.WithTimeout(parent, e.cfg.RunTimeout)
	defer cancel()
	n.logger.Info("run started", "trigger", n.run.Trigger, "initial", n.run.Initial)
	code := sc.Sync
	if n.handler != nil {
		code = n.handler // a webhook run (providerhook.go)
	}
	err := callSync(ctx, code, n)
	res := &RunResult{
		RunID: n.run.ID, Integration: n.run.Key.Integration, Sync: sc.Name, Connection: n.run.Key.Connection,
		Trigger: n.run.Trigger, Initial: n.run.Initial, StartedAt: n.run.StartedAt,
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // the sync ignored cancellation but its context is done: not a success
	}
	if cause := context.Cause(parent); errors.Is(cause, store.ErrLeaseLost) {
		err = within(cause, "run stopped")
	}
	// The handle stops working before the sweep, so that a goroutine the sync left behind cannot
	// write into the deletion-tracking window while it is swept.
	n.finish()
	if err == nil && sc.TrackDeletes && n.handler == nil {
		err = n.sweep(parent, sc, o.ConfirmDeletes, res)
	}
	switch {
	case err == nil:
		res.State = RunSucceeded
	case errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil:
		res.State = RunTimedOut
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		res.State = RunCancelled
	default:
		res.State = RunFailed
	}
	res.Err = err
	var pe *PanicError
	switch {
	case errors.As(err, &pe):
		n.logger.Error("sync panicked", "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	case res.State == RunCancelled:
		// Asked for (a shutdown, a deleted connection, the caller's context): not an error.
		n.logger.Info("run cancelled", "error", err)
	case err != nil:
		n.logger.Error("run failed", "state", string(res.State), "error", err)
	}
	res.Models = n.modelResults()
	res.EndedAt = e.now()
	n.logger.Info("run finished", "state", string(res.State), "duration", res.Duration().String())

	run := n.run
	run.State, run.EndedAt, run.Results, run.Warnings = res.State, res.EndedAt, res.Models, res.Warnings
	if err != nil {
		run.Error = err.Error()
	}
	run.Log = n.logs.lines()
	// The run record is written even when the caller's context is cancelled, with its webhooks
	// in the same transaction.
	finishCtx := context.WithoutCancel(parent)
	res.CheckpointFrom = n.cpFrom
	if cp, cerr := e.store.CheckpointGet(finishCtx, store.CheckpointKey(n.run.Key)); cerr == nil {
		var oerr error
		if res.CheckpointTo, oerr = e.openCheckpoint(ctx, store.CheckpointKey(n.run.Key), cp.Data); oerr != nil {
			e.logger.Error("reading the run's last checkpoint failed", "run_id", run.ID, "error", oerr)
		}
	}
	outbox := e.hooks.entries(finishCtx, n, res)
	if uerr := e.store.RunFinish(finishCtx, &store.RunFinishParams{Run: run, Outbox: outbox}); uerr != nil {
		e.logger.Error("recording run end failed", "run_id", run.ID, "error", uerr)
		if res.Err == nil {
			res.Err = within(uerr, "recording run end")
			res.State = RunFailed
		}
	} else if len(outbox) > 0 {
		for _, o := range outbox {
			res.Webhooks = append(res.Webhooks, o.ID)
		}
		e.hooks.signal()
	}
	return res
}

func callSync(ctx context.Context, s Sync, n *Nango) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if pe, ok := v.(*PanicError); ok {
				err = pe // a panic of another goroutine of the call (encodeInto), with its stack
				return
			}
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return s.Exec(ctx, n)
}

// sweep runs the TrackDeletes sweep of every model of a successful run.
func (n *Nango) sweep(ctx context.Context, sc *SyncConfig, confirm bool, res *RunResult) error {
	guard := *n.engine.cfg.DeleteGuard
	if sc.DeleteGuard != nil {
		guard = *sc.DeleteGuard
	}
	now := n.engine.now()
	for _, m := range sc.Models {
		stream := n.stream(m.Name)
		sr, err := n.engine.store.RecordsSweep(ctx, &store.RecordsSweepParams{
			Stream: stream, Sync: sc.Name, Now: now,
			Guard: &store.DeleteGuard{MaxShare: guard.MaxShare, MinRecords: guard.MinRecords}, Force: confirm, Fence: n.lease,
		})
		if err != nil {
			return within(err, "deleting records of %s that the run did not see", m.Name)
		}
		if sr.Refused {
			if res.RefusedDeletes == nil {
				res.RefusedDeletes = map[string]int{}
			}
			res.RefusedDeletes[m.Name] = sr.Unseen
			msg := fmt.Sprintf("TrackDeletes refused to delete %d of %d records of model %s (more than %.0f%% of a stream of %d or more): "+
				"nothing was deleted; run again with RunOptions.ConfirmDeletes if the provider really removed them, or raise the DeleteGuard",
				sr.Unseen, sr.Live, m.Name, guard.MaxShare*100, guard.MinRecords)
			res.Warnings = append(res.Warnings, msg)
			n.logger.Warn(msg, "model", m.Name, "unseen", sr.Unseen, "live", sr.Live)
			continue
		}
		if sr.Deleted > 0 {
			n.addResult(m.Name, &store.RecordsWriteResult{Deleted: sr.Deleted})
			n.engine.subs.publish(n, m.Name, &store.RecordsWriteResult{Deleted: sr.Deleted})
			n.logger.Info("deleted records the run did not see", "model", m.Name, "deleted", sr.Deleted)
		}
	}
	slices.Sort(res.Warnings)
	return nil
}
