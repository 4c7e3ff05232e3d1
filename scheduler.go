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
		stop := e.hooks.start(runCtx) // the webhook delivery worker (webhook_delivery.go)
		e.logger.Info("engine started", "schedules", e.sched.Len(), "instance", e.cfg.InstanceID)
		e.warnUnencrypted()
		return stop
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

func (r schedRunner) Run(ctx context.Context, key store.SyncKey, job scheduler.Job) scheduler.Outcome {
	e := r.e
	if job.Trigger == TriggerSchedule {
		e.metrics.scheduleLag(ctx, key.Integration, e.cfg.Clock.Now().Sub(job.Due))
	}
	res, err := e.runOnce(ctx, key, RunOptions{Trigger: job.Trigger, Reset: job.Reset, EmptyCache: job.EmptyCache})
	switch {
	case res == nil:
		if !errors.Is(err, ErrRunActive) {
			e.logger.Error("scheduled run could not start", "integration", key.Integration, "sync", key.Sync,
				"connection_id", key.Connection, "error", err)
		}
		return scheduler.NotStarted
	case res.State == RunSucceeded:
		return scheduler.Succeeded
	case res.State == RunCancelled:
		return scheduler.Cancelled
	}
	return scheduler.Failed
}

// frequency resolves the frequency of a sync for a connection.
func (e *Engine) frequency(sc *SyncConfig, override string) (time.Duration, error) {
	f := sc.Frequency
	if override != "" {
		f = override
	}
	return parseFrequencyMin(f, e.cfg.MinFrequency)
}
