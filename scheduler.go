package nango

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/internal/scheduler"
	"github.com/gonango/nango/store"
)

// Run runs the scheduler until ctx is done: every registered sync of every connection runs at
// its frequency, and Trigger, Pause, Start, SetFrequency and provider webhook triggers take
// effect. With Config.Webhooks it also runs the webhook delivery worker (see WebhookConfig).
// When ctx is done, Run cancels the runs in progress, waits for them up to
// Config.ShutdownTimeout (they release their leases as they stop), and returns nil, or an error
// if some did not stop in time. A later Run resumes from the last committed checkpoints, and
// delivers the webhooks left in the outbox.
func (e *Engine) Run(ctx context.Context) error {
	err := e.sched.Run(ctx, e.schedIntegrations, func(runCtx context.Context) func() {
		stop := e.hooks.start(runCtx)       // the webhook delivery worker (webhook_delivery.go)
		unwatch := e.watch(runCtx)          // the other engines sharing the store (replicas.go)
		unprune := e.startRetention(runCtx) // retention.go
		e.logger.Info("engine started", "schedules", e.sched.Len(), "instance", e.cfg.InstanceID)
		e.warnUnencrypted()
		e.readyOnce.Do(func() { close(e.ready) })
		return func() { unprune(); unwatch(); stop() }
	})
	switch {
	case errors.Is(err, scheduler.ErrRunning):
		return ErrEngineRunning
	case err != nil:
		return fmt.Errorf("nango: %w", err)
	}
	e.logger.Info("engine stopped")
	return nil
}

// Ready returns a channel that is closed once Run has started the scheduler: from then on
// Trigger, Pause, Start and the other control calls take effect instead of answering
// ErrEngineNotRunning. A service that serves the REST API (package api) or the dashboard
// should wait for it before it starts listening, so that its first requests find the engine
// running.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// newScheduler returns the engine's scheduler (package internal/scheduler), with the engine
// as its Runner.
func newScheduler(e *Engine) *scheduler.Scheduler {
	c := &e.cfg
	var retry *scheduler.Retry
	if c.Retry != nil {
		retry = &scheduler.Retry{MaxRetries: c.Retry.MaxRetries,
			Backoff: backoff.Backoff{Initial: c.Retry.InitialBackoff, Max: c.Retry.MaxBackoff}}
	}
	return scheduler.New(scheduler.Config{
		Store:  e.store,
		Clock:  c.Clock,
		Logger: e.logger,
		Runner: schedRunner{e},
		ParseFrequency: func(f string) (time.Duration, error) {
			return parseFrequencyMin(f, c.MinFrequency)
		},
		MaxConcurrentRuns:               c.MaxConcurrentRuns,
		MaxConcurrentRunsPerIntegration: c.MaxConcurrentRunsPerIntegration,
		ShutdownTimeout:                 c.ShutdownTimeout,
		Retry:                           retry,
	})
}

// schedIntegrations returns the registered integrations as the scheduler sees them.
func (e *Engine) schedIntegrations() []scheduler.Integration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]scheduler.Integration, 0, len(e.integrations))
	for _, in := range e.integrations {
		out = append(out, schedIntegration(in))
	}
	return out
}

func schedIntegration(in *Integration) scheduler.Integration {
	si := scheduler.Integration{Key: in.Key, Syncs: make([]scheduler.Sync, len(in.Syncs))}
	for i, sc := range in.Syncs {
		si.Syncs[i] = scheduler.Sync{Name: sc.Name, Frequency: sc.Frequency, ManualStart: sc.ManualStart}
	}
	return si
}

// schedRunner runs the scheduler's runs on the engine.
type schedRunner struct{ e *Engine }

func (r schedRunner) Run(ctx context.Context, key store.SyncKey, job scheduler.Job) scheduler.Result {
	e := r.e
	o := RunOptions{Trigger: job.Trigger, Reset: job.Reset, EmptyCache: job.EmptyCache, triggerID: job.TriggerID}
	if job.Trigger == TriggerSchedule {
		o.slot = job.Due
	}
	res, err := e.runOnce(ctx, key, o)
	var held *store.LeaseHeld
	switch {
	case res != nil:
	case errors.As(err, &held):
		// Running on another engine sharing the store: losing the race is no failure.
		e.logger.Debug("sync is running on another engine", "integration", key.Integration, "sync", key.Sync,
			"connection_id", key.Connection, "owner", held.Owner, "lease_expires_at", held.Until)
		return scheduler.Result{Outcome: scheduler.Busy, RetryAt: held.Until}
	case errors.Is(err, store.ErrLeaseHeld):
		return scheduler.Result{Outcome: scheduler.Busy, RetryAt: e.cfg.Clock.Now().Add(e.cfg.LeaseTTL)}
	case errors.Is(err, errSlotTaken):
		return scheduler.Result{Outcome: scheduler.Skipped}
	case ctx.Err() != nil:
		return scheduler.Result{Outcome: scheduler.Cancelled} // shutting down: due again at the next start
	case errors.Is(err, ErrRunActive):
		e.logger.Info("scheduled run skipped: the sync is running in this process (RunSync)", "integration", key.Integration,
			"sync", key.Sync, "connection_id", key.Connection, "trigger", job.Trigger)
		return scheduler.Result{Outcome: scheduler.NotStarted}
	default:
		e.logger.Error("scheduled run could not start", "integration", key.Integration, "sync", key.Sync,
			"connection_id", key.Connection, "trigger", job.Trigger, "error", err)
		return scheduler.Result{Outcome: scheduler.NotStarted}
	}
	if job.Trigger == TriggerSchedule && !job.Due.IsZero() {
		e.metrics.scheduleLag(context.WithoutCancel(ctx), key.Integration, res.StartedAt.Sub(job.Due))
	}
	switch res.State {
	case RunSucceeded:
		return scheduler.Result{Outcome: scheduler.Succeeded}
	case RunCancelled:
		return scheduler.Result{Outcome: scheduler.Cancelled}
	}
	return scheduler.Result{Outcome: scheduler.Failed}
}

// frequency resolves the frequency of a sync for a connection.
func (e *Engine) frequency(sc *SyncConfig, override string) (time.Duration, error) {
	f := sc.Frequency
	if override != "" {
		f = override
	}
	return parseFrequencyMin(f, e.cfg.MinFrequency)
}
