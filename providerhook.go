package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// ProviderWebhooks configures the webhooks a provider sends about an integration's
// connections (Integration.Webhooks), served by Engine.ProviderWebhookHandler. Each request is
// verified with Verify, then split by Events into events, each for one connection and of one
// type. An event goes to every sync of the integration whose WebhookSubscriptions name its
// type (or "*"): to the sync's OnWebhook handler, in a webhook run, or else as a trigger of a
// run of the sync, debounced so that a burst of events makes one run.
type ProviderWebhooks struct {
	// Verify checks that the request comes from the provider, usually by its signature of
	// body (the raw body, already read). An error rejects the request with 401 before anything
	// else looks at it. Required.
	Verify func(r *http.Request, body []byte) error
	// Events maps a verified request to its events. An error answers 400. Required.
	Events func(r *http.Request, body []byte) ([]ProviderEvent, error)
	// MaxBytes bounds the body. Defaults to 1 MiB.
	MaxBytes int64
	// Debounce is how long a triggered run waits for more events of the same sync and
	// connection; events that come while a run is queued are part of it, and those that come
	// while it runs make one more run after it. Defaults to 5 seconds.
	Debounce time.Duration
}

// ProviderEvent is one event of a provider webhook.
type ProviderEvent struct {
	// Connection is the id of the connection it concerns. Events for connections the engine
	// does not have are ignored.
	Connection string
	// Type is matched against the syncs' WebhookSubscriptions ("contact.propertyChange").
	Type string
	// Payload is what OnWebhook handlers get. Nil gives them the whole body.
	Payload json.RawMessage
}

// WebhookRunSuffix is appended to a sync's name to key its webhook runs: their run history
// (Engine.WebhookRunHistory), lease and checkpoint are apart from the sync's own, so a webhook
// run never moves the sync's LastSyncDate nor blocks its polling run.
const WebhookRunSuffix = "#webhook"

// prepareWebhooks validates the integration's provider webhooks and applies their defaults.
func (in *Integration) prepareWebhooks() error {
	for i := range in.Syncs {
		sc := &in.Syncs[i]
		sc.WebhookSubscriptions = slices.Clone(sc.WebhookSubscriptions)
		if len(sc.Name)+len(WebhookRunSuffix) > 255 && (sc.OnWebhook != nil) {
			return configError("integration %q: sync name %q is too long for webhook runs", in.Key, sc.Name)
		}
		if len(sc.WebhookSubscriptions) > 0 && in.Webhooks == nil {
			return configError("integration %q: sync %q subscribes to webhooks but the integration has no Webhooks", in.Key, sc.Name)
		}
	}
	if in.Webhooks == nil {
		return nil
	}
	w := *in.Webhooks
	if w.Verify == nil {
		return configError("integration %q: Webhooks.Verify is required: never accept unverified webhooks", in.Key)
	}
	if w.Events == nil {
		return configError("integration %q: Webhooks.Events is required", in.Key)
	}
	switch {
	case w.MaxBytes == 0:
		w.MaxBytes = 1 << 20
	case w.MaxBytes < 0:
		return configError("integration %q: webhook max bytes %d is negative", in.Key, w.MaxBytes)
	}
	switch {
	case w.Debounce == 0:
		w.Debounce = 5 * time.Second
	case w.Debounce < 0:
		return configError("integration %q: webhook debounce %s is negative", in.Key, w.Debounce)
	}
	in.Webhooks = &w
	return nil
}

// subscribed reports whether sc subscribes to events of type typ.
func (sc *SyncConfig) subscribed(typ string) bool {
	return slices.Contains(sc.WebhookSubscriptions, "*") || slices.Contains(sc.WebhookSubscriptions, typ)
}

// providerHook holds the state of incoming provider webhooks.
type providerHook struct {
	e     *Engine
	mu    sync.Mutex
	locks map[store.SyncKey]*keyLock // only keys held or waited for: the map does not grow
}

// keyLock is the lock of one key, with the number of its holders and waiters.
type keyLock struct {
	ch   chan struct{}
	refs int
}

func newProviderHook(e *Engine) *providerHook {
	return &providerHook{e: e, locks: map[store.SyncKey]*keyLock{}}
}

// lock serialises the webhook runs of a key in this process.
func (h *providerHook) lock(ctx context.Context, key store.SyncKey) (unlock func(), err error) {
	h.mu.Lock()
	l := h.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		h.locks[key] = l
	}
	l.refs++
	h.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		return func() {
			<-l.ch
			h.release(key, l)
		}, nil
	case <-ctx.Done():
		h.release(key, l)
		return nil, ctx.Err()
	}
}

// release drops a reference to a key's lock, and the lock when it was the last one.
func (h *providerHook) release(key store.SyncKey, l *keyLock) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(h.locks, key)
	}
}

// ProviderWebhookResult is the JSON answer of the provider webhook handler.
type ProviderWebhookResult struct {
	// Events counts the events of the request.
	Events int `json:"events"`
	// Handled counts the webhook runs (OnWebhook) that succeeded; Triggered the runs of syncs
	// triggered; Ignored the events no sync subscribes to or for unknown connections.
	Handled   int `json:"handled"`
	Triggered int `json:"triggered"`
	Ignored   int `json:"ignored"`
	// Error says why the request failed, when it did.
	Error string `json:"error,omitempty"`
}

// ProviderWebhookHandler returns the http.Handler that receives the provider's webhooks for an
// integration with Webhooks. Mount it where the provider sends them. It accepts POST only,
// limits the body (413), verifies it (401: nothing else runs), maps it to events (400), and
// handles each event: OnWebhook handlers run before it answers, so that their failure gets a
// 500 and the provider sends the event again; triggered runs need Engine.Run (503 without
// it). Otherwise it answers 200 with a ProviderWebhookResult.
func (e *Engine) ProviderWebhookHandler(integration string) (http.Handler, error) {
	in, err := e.integration(integration)
	if err != nil {
		return nil, err
	}
	if in.Webhooks == nil {
		return nil, configError("integration %q has no Webhooks", integration)
	}
	return &providerHandler{e: e, in: in}, nil
}

type providerHandler struct {
	e  *Engine
	in *Integration
}

func writeResult(w http.ResponseWriter, status int, res *ProviderWebhookResult) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// ServeHTTP implements http.Handler.
func (h *providerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, in, cfg := h.e, h.in, h.in.Webhooks
	log := e.logger.With("integration", in.Key)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeResult(w, http.StatusMethodNotAllowed, &ProviderWebhookResult{Error: "webhooks are POSTed"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.MaxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeResult(w, http.StatusRequestEntityTooLarge, &ProviderWebhookResult{Error: fmt.Sprintf("body larger than %d bytes", cfg.MaxBytes)})
			return
		}
		writeResult(w, http.StatusBadRequest, &ProviderWebhookResult{Error: "cannot read the body"})
		return
	}
	if err := cfg.Verify(r, body); err != nil {
		log.Warn("provider webhook rejected: verification failed", "remote_addr", r.RemoteAddr, "error", err)
		writeResult(w, http.StatusUnauthorized, &ProviderWebhookResult{Error: "verification failed"})
		return
	}
	events, err := cfg.Events(r, body)
	if err != nil {
		writeResult(w, http.StatusBadRequest, &ProviderWebhookResult{Error: "cannot read the events: " + err.Error()})
		return
	}
	res := &ProviderWebhookResult{Events: len(events)}
	status := http.StatusOK
	for _, ev := range events {
		if ev.Connection == "" {
			res.Ignored++
			continue
		}
		if _, err := e.store.ConnectionGet(r.Context(), in.Key, ev.Connection); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				log.Debug("provider webhook for an unknown connection ignored", "connection_id", ev.Connection, "type", ev.Type)
				res.Ignored++
				continue
			}
			res.Error, status = err.Error(), http.StatusInternalServerError
			break
		}
		payload := ev.Payload
		if payload == nil {
			payload = body
		}
		matched := false
		for i := range in.Syncs {
			sc := &in.Syncs[i]
			if !sc.subscribed(ev.Type) {
				continue
			}
			matched = true
			if sc.OnWebhook != nil {
				if _, err := e.runWebhook(r.Context(), in, sc, ev.Connection, payload); err != nil {
					log.Error("webhook run failed", "sync", sc.Name, "connection_id", ev.Connection, "type", ev.Type, "error", err)
					res.Error, status = err.Error(), http.StatusInternalServerError
					if errors.Is(err, ErrRunActive) {
						status = http.StatusServiceUnavailable
					}
					continue
				}
				res.Handled++
				continue
			}
			if !e.sched.WebhookTrigger(store.SyncKey{Integration: in.Key, Sync: sc.Name, Connection: ev.Connection}, cfg.Debounce) {
				res.Error = ErrEngineNotRunning.Error()
				if status == http.StatusOK {
					status = http.StatusServiceUnavailable
				}
				continue
			}
			res.Triggered++
		}
		if !matched {
			res.Ignored++
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeResult(w, status, res)
}

// runWebhook runs sc's OnWebhook handler for a connection as a webhook run, and waits for it.
func (e *Engine) runWebhook(ctx context.Context, in *Integration, sc *SyncConfig, connection string, payload json.RawMessage) (*RunResult, error) {
	key := store.SyncKey{Integration: in.Key, Sync: sc.Name + WebhookRunSuffix, Connection: connection}
	unlock, err := e.incoming.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	conn, err := e.store.ConnectionGet(ctx, in.Key, connection)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, in.Key)
		}
		return nil, within(err, "loading connection %q", connection)
	}
	lease, err := e.store.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: key, Owner: e.cfg.InstanceID, TTL: e.cfg.LeaseTTL, Now: e.now()})
	if err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil, chain(ErrRunActive, err) // a webhook run of another engine
		}
		return nil, within(err, "taking the lease of the webhook runs of %s for %q", sc.Name, connection)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopRenewing := e.keepLease(runCtx, cancel, lease)
	defer func() {
		if err := e.store.LeaseRelease(context.WithoutCancel(ctx), stopRenewing()); err != nil {
			e.logger.Warn("releasing lease failed; it expires by itself", "sync", key.Sync, "connection_id", connection, "error", err)
		}
	}()
	n, err := e.newRun(runCtx, in, sc, conn, key, TriggerWebhook)
	if err != nil {
		return nil, err
	}
	n.lease = lease
	n.run.Initial = false
	n.lastSuccess = time.Time{}
	if last, err := e.store.RunLastSuccess(runCtx, store.SyncKey{Integration: in.Key, Sync: sc.Name, Connection: connection}); err == nil {
		n.lastSuccess = last.StartedAt
	}
	n.handler = SyncFunc(func(ctx context.Context, n *Nango) error { return sc.OnWebhook(ctx, n, payload) })
	e.metrics.runStarted(ctx, in.Key, sc.Name)
	res := e.execute(runCtx, n, sc, RunOptions{Trigger: TriggerWebhook})
	e.metrics.runFinished(context.WithoutCancel(ctx), res)
	return res, res.Err
}

// Trigger is what started the run: TriggerSchedule, TriggerManual, TriggerReset, or
// TriggerWebhook for a run triggered by provider webhooks and for webhook runs (OnWebhook).
func (n *Nango) Trigger() string { return n.run.Trigger }

// HandleProviderWebhook runs the OnWebhook handler of a sync for one connection with payload,
// as the provider webhook handler does for a matching event, and waits for the webhook run.
// It is for events that reach the process another way (a queue) and for tests.
func (e *Engine) HandleProviderWebhook(ctx context.Context, integration, syncName, connection string, payload json.RawMessage) (*RunResult, error) {
	in, sc, err := e.syncConfig(integration, syncName)
	if err != nil {
		return nil, err
	}
	if sc.OnWebhook == nil {
		return nil, configError("sync %q of integration %q has no OnWebhook handler", syncName, integration)
	}
	return e.runWebhook(ctx, in, sc, connection, payload)
}

// WebhookRunHistory lists the webhook runs (OnWebhook) of a sync for a connection, newest
// first.
func (e *Engine) WebhookRunHistory(ctx context.Context, p RunHistoryParams) ([]*Run, error) {
	if _, _, err := e.syncConfig(p.Integration, p.Sync); err != nil {
		return nil, err
	}
	runs, err := e.store.RunList(ctx, &store.RunListParams{
		Key:   store.SyncKey{Integration: p.Integration, Sync: p.Sync + WebhookRunSuffix, Connection: p.Connection},
		Limit: p.Limit, Before: p.Before,
	})
	if err != nil {
		return nil, within(err, "listing webhook runs of %s for %q", p.Sync, p.Connection)
	}
	return runs, nil
}
