package nango

import (
	"context"
	"errors"
	"sync"

	"github.com/gonango/nango/store"
)

// Several engines (replicas of a service, each with its own Engine) may share one store. Each
// schedules every connection; at a due time the sync's lease decides which runs it, and the
// others move on without counting it as a failure. Control calls write the store and then send
// a store.Signal when the store implements store.Signaler; every engine reloads what the signal
// names, and also reloads everything every Config.ReloadInterval, so that a lost signal only
// delays. A trigger is written to the sync's schedule (store.ScheduleTrigger) and run by the
// first engine to take the lease, which clears it when the run ends (control.go, run.go).

// signal tells the other engines sharing the store that something changed there. It is
// best-effort: a failure is logged, and the others catch up at their next reload.
func (e *Engine) signal(ctx context.Context, sig store.Signal) {
	sg, ok := e.store.(store.Signaler)
	if !ok {
		return
	}
	sig.Origin = e.cfg.InstanceID
	if err := sg.Signal(context.WithoutCancel(ctx), sig); err != nil {
		e.logger.Warn("signalling the other engines failed; they catch up at their next reload", "kind", string(sig.Kind),
			"integration", sig.Integration, "connection_id", sig.Connection, "sync", sig.Sync, "error", err)
	}
}

// watch receives the signals of the other engines and reloads the store every
// Config.ReloadInterval, until ctx is done or the returned function is called. It returns once
// it receives the signals (on PostgreSQL, once its LISTEN is in place), so that the engine is
// Ready only when it hears the others.
func (e *Engine) watch(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	sigs := e.signals(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := e.cfg.Clock.After(e.cfg.ReloadInterval)
		for {
			select {
			case <-ctx.Done():
				return
			case sig, ok := <-sigs:
				if !ok {
					sigs = nil // resubscribed at the next reload
					continue
				}
				if sig.Origin != e.cfg.InstanceID {
					e.onSignal(ctx, sig)
				}
			case <-tick:
				if err := e.sched.Resync(ctx, e.schedIntegrations()); err != nil && ctx.Err() == nil {
					e.logger.Warn("reloading schedules from the store failed", "error", err)
				}
				if sigs == nil {
					sigs = e.signals(ctx)
				}
				tick = e.cfg.Clock.After(e.cfg.ReloadInterval)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// signals returns the store's signals, or nil when it has none.
func (e *Engine) signals(ctx context.Context) <-chan store.Signal {
	sg, ok := e.store.(store.Signaler)
	if !ok {
		return nil
	}
	ch, err := sg.Signals(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Warn("receiving signals from the store failed; reloading at intervals only", "error", err)
		}
		return nil
	}
	return ch
}

// onSignal reloads what sig names.
func (e *Engine) onSignal(ctx context.Context, sig store.Signal) {
	in, err := e.integration(sig.Integration)
	if err != nil {
		return // not registered here
	}
	switch sig.Kind {
	case store.SignalConnection:
		_, err = e.store.ConnectionGet(ctx, sig.Integration, sig.Connection)
		switch {
		case errors.Is(err, store.ErrNotFound):
			e.sched.RemoveConnection(sig.Integration, sig.Connection)()
			e.http.forget(sig.Integration, sig.Connection)
			err = nil
		case err == nil:
			err = e.sched.AddConnection(ctx, schedIntegration(in), sig.Connection)
			if err == nil {
				err = e.sched.Reload(ctx, sig.Integration, sig.Connection, "")
			}
		}
	default:
		err = e.sched.Reload(ctx, sig.Integration, sig.Connection, sig.Sync)
	}
	if err != nil && ctx.Err() == nil {
		e.logger.Warn("applying a signal from another engine failed; retried at the next reload", "kind", string(sig.Kind),
			"integration", sig.Integration, "connection_id", sig.Connection, "sync", sig.Sync, "error", err)
	}
}
