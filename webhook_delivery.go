package nango

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/store"
)

// WebhookConfig configures the webhooks sent to your backend after runs, in Nango's format
// (see WebhookPayload): after a run, one webhook per model that changed, and optionally one per
// failed run.
//
// Delivery is durable and at least once. The webhooks of a run are written to an outbox in the
// store in the same transaction that records the run's end, so a crash never loses them, and
// a background worker started by Engine.Run delivers them (Engine.DeliverWebhooks does one
// round without it). Each attempt POSTs the exact body with Content-Type application/json,
// X-Nango-Hmac-Sha256 (the hex HMAC-SHA256 of the body with the first signing key),
// X-Nango-Delivery-Id (the same on every attempt: drop the duplicates) and
// X-Nango-Delivery-Attempt. Network errors, timeouts, 408, 429 and 5xx are retried with
// exponential backoff and jitter, at least as late as a Retry-After header asks; other
// answers (3xx and 4xx) are final. A webhook that is refused, or still failing after
// MaxAttempts attempts or MaxAge, is kept as dead with its last error: see
// Engine.WebhookDeliveries and Engine.RedeliverWebhook. The delivered ones are pruned after
// Retention.
type WebhookConfig struct {
	// URLs receive every webhook, each its own delivery (Nango's primary and secondary URLs).
	// A connection's Connection.WebhookURLs replace them for that connection. Absolute http or
	// https URLs; empty sends webhooks only to connections with their own URLs.
	URLs []string
	// SigningKeys sign the webhooks: the first one signs. To rotate, put the new key first and
	// keep the old one in your receivers (VerifyWebhook accepts any of several keys) until every
	// webhook signed with it was delivered. Required.
	SigningKeys [][]byte
	// LegacySignature also sends Nango's legacy X-Nango-Signature header (see
	// LegacyWebhookSignature), for old receivers. Defaults to false.
	LegacySignature bool
	// AlwaysSend sends a success webhook for every model of a successful run, even when
	// nothing changed (Nango's "on sync completion always"). Defaults to false.
	AlwaysSend bool
	// OnFailure sends a failure webhook for every failed or timed-out run (Nango's "on sync
	// error"). Cancelled runs (the engine stopping) send none. Defaults to false.
	OnFailure bool

	// MaxAttempts is how many attempts a webhook gets. Defaults to 25.
	MaxAttempts int
	// MaxAge is how long after it was queued a webhook is still tried. Defaults to 72 hours.
	MaxAge time.Duration
	// InitialBackoff and MaxBackoff bound the wait between attempts: InitialBackoff doubles
	// with each failed attempt up to MaxBackoff, and the wait is between half and all of it.
	// Default to 5 seconds and 1 hour.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Timeout bounds one attempt. Defaults to 20 seconds (Nango's).
	Timeout time.Duration
	// MaxConcurrencyPerEndpoint bounds the attempts in flight to one URL. Defaults to 4.
	MaxConcurrencyPerEndpoint int
	// Client sends the webhooks. Defaults to a client that does not follow redirects (a
	// redirect is a final answer, as in Nango).
	Client *http.Client
	// Retention is how long delivered webhooks are kept in the outbox for inspection.
	// Defaults to 7 days; negative keeps them.
	Retention time.Duration
	// DeadRetention is how long dead webhooks are kept. Defaults to keeping them until they
	// are redelivered; a positive value prunes them that long after their last attempt.
	DeadRetention time.Duration
}

// maxRetryAfter bounds how long a Retry-After header can delay the next attempt.
const maxRetryAfter = 24 * time.Hour

// claimBatch returns how many deliveries a worker claims at once, and the claim's TTL: long
// enough for the batch to be attempted through one endpoint at its concurrency limit.
func (c *WebhookConfig) claimBatch() (int, time.Duration) {
	n := 4 * c.MaxConcurrencyPerEndpoint
	return n, c.Timeout*time.Duration(n/c.MaxConcurrencyPerEndpoint+1) + 30*time.Second
}

func (c *WebhookConfig) prepare() (*WebhookConfig, error) {
	o := *c
	if len(o.SigningKeys) == 0 {
		return nil, configError("webhooks need a signing key (WebhookConfig.SigningKeys)")
	}
	o.SigningKeys = make([][]byte, len(c.SigningKeys))
	for i, k := range c.SigningKeys {
		if len(k) == 0 {
			return nil, configError("webhook signing key %d is empty", i)
		}
		o.SigningKeys[i] = bytes.Clone(k)
	}
	o.URLs = append([]string(nil), c.URLs...)
	for _, u := range o.URLs {
		if err := checkWebhookURL(u); err != nil {
			return nil, configError("%v", err)
		}
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{{"max attempts", &o.MaxAttempts, 25}, {"max concurrency per endpoint", &o.MaxConcurrencyPerEndpoint, 4}}
	for _, d := range ints {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return nil, configError("webhook %s %d is negative", d.name, *d.v)
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"max age", &o.MaxAge, 72 * time.Hour},
		{"initial backoff", &o.InitialBackoff, 5 * time.Second},
		{"max backoff", &o.MaxBackoff, time.Hour},
		{"timeout", &o.Timeout, 20 * time.Second},
	}
	for _, d := range durs {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return nil, configError("webhook %s %s is negative", d.name, *d.v)
		}
	}
	if o.MaxBackoff < o.InitialBackoff {
		return nil, configError("webhook max backoff %s is less than the initial backoff %s", o.MaxBackoff, o.InitialBackoff)
	}
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.DeadRetention < 0 {
		return nil, configError("webhook dead retention %s is negative", o.DeadRetention)
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &o, nil
}

// checkWebhookURL checks that u is an absolute http or https URL.
func checkWebhookURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", redactURL(u), err)
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("webhook URL %q is not an absolute http or https URL", redactURL(u))
	}
	return nil
}

// redactURL drops the user information and the query of a URL, which may hold secrets, for
// messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i]
		}
		return u
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// delivery sends the outbox's webhooks.
type delivery struct {
	e    *Engine
	cfg  *WebhookConfig // nil: webhooks are off
	wake chan struct{}

	mu        sync.Mutex
	sems      map[string]chan struct{} // per endpoint
	lastPrune time.Time
}

func newDelivery(e *Engine, cfg *WebhookConfig) (*delivery, error) {
	d := &delivery{e: e, wake: make(chan struct{}, 1), sems: map[string]chan struct{}{}}
	if cfg != nil {
		var err error
		if d.cfg, err = cfg.prepare(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// signal wakes the worker.
func (d *delivery) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// deliverySeq orders the deliveries made in one millisecond by one process.
var deliverySeq atomic.Uint32

// newDeliveryID returns an id that sorts in creation order (across processes, to the
// millisecond).
func newDeliveryID(t time.Time) string {
	var b [6]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("whd_%012x%08x%s", t.UnixMilli(), deliverySeq.Add(1), hex.EncodeToString(b[:]))
}

// entries returns the outbox entries of a finished run.
func (d *delivery) entries(n *Nango, res *RunResult) []*store.OutboxEntry {
	if d.cfg == nil {
		return nil
	}
	urls := d.cfg.URLs
	if len(n.conn.WebhookURLs) > 0 {
		urls = n.conn.WebhookURLs
	}
	if len(urls) == 0 {
		return nil
	}
	payloads := WebhookPayloads(res, d.cfg.AlwaysSend)
	if d.cfg.OnFailure {
		if p := FailureWebhookPayload(res); p != nil {
			payloads = append(payloads, *p)
		}
	}
	key := store.SyncKey{Integration: res.Integration, Sync: res.Sync, Connection: res.Connection}
	var out []*store.OutboxEntry
	for _, p := range payloads {
		body, err := p.Encode()
		if err != nil {
			n.logger.Error("encoding webhook failed", "model", p.Model, "error", err)
			continue
		}
		for _, u := range urls {
			out = append(out, &store.OutboxEntry{
				ID: newDeliveryID(res.EndedAt), Endpoint: u, Body: body, RunID: res.RunID, Key: key, Model: p.Model,
				CreatedAt: res.EndedAt,
			})
		}
	}
	return out
}

// DeliveryReport counts what one round of delivery did.
type DeliveryReport struct {
	// Attempted counts the webhooks sent; each ended Delivered, Retrying (due again later) or
	// Dead (given up).
	Attempted int
	Delivered int
	Retrying  int
	Dead      int
}

// DeliverWebhooks makes one round of delivery: every webhook due now is attempted once, within
// the per-endpoint concurrency limit, and the call returns when all the attempts are done.
// Engine.Run does this in the background, waking on Config.Clock; call it to deliver without
// Run, or to drive delivery step by step in tests with a fake clock. It returns
// ErrWebhooksDisabled without Config.Webhooks.
func (e *Engine) DeliverWebhooks(ctx context.Context) (*DeliveryReport, error) {
	if e.hooks.cfg == nil {
		return nil, ErrWebhooksDisabled
	}
	return e.hooks.round(ctx)
}

func (d *delivery) round(ctx context.Context) (*DeliveryReport, error) {
	rep := &DeliveryReport{}
	batch, ttl := d.cfg.claimBatch()
	var mu sync.Mutex
	for {
		// The time is read for each claim: a claim taken with a stale time would expire early
		// and let another engine deliver the same webhooks again.
		claimed, err := d.e.store.OutboxClaim(ctx, &store.OutboxClaimParams{Owner: d.e.cfg.InstanceID, Now: d.e.now(), Limit: batch, TTL: ttl})
		if err != nil {
			return rep, fmt.Errorf("nango: claiming webhooks to deliver: %w", err)
		}
		var wg sync.WaitGroup
		for _, en := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				state := d.deliver(ctx, en)
				mu.Lock()
				defer mu.Unlock()
				rep.Attempted++
				switch state {
				case store.OutboxDelivered:
					rep.Delivered++
				case store.OutboxDead:
					rep.Dead++
				default:
					rep.Retrying++
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if len(claimed) < batch {
			return rep, nil
		}
	}
}

// sem returns the semaphore of an endpoint.
func (d *delivery) sem(endpoint string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sems[endpoint]
	if s == nil {
		s = make(chan struct{}, d.cfg.MaxConcurrencyPerEndpoint)
		d.sems[endpoint] = s
	}
	return s
}

// deliver makes one attempt on a claimed entry and records its outcome.
func (d *delivery) deliver(ctx context.Context, en *store.OutboxEntry) store.OutboxState {
	sem := d.sem(en.Endpoint)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return store.OutboxPending // still claimed: due again when the claim expires
	}
	status, retryAfter, err := d.post(ctx, en)
	<-sem
	now := d.e.now()
	p := &store.OutboxSettleParams{ID: en.ID, ClaimToken: en.ClaimToken, Now: now, Status: status}
	attempts := en.Attempts + 1
	if err != nil {
		p.Error = err.Error()
	}
	switch {
	case err == nil:
		p.State = store.OutboxDelivered
	case ctx.Err() != nil:
		p.State, p.NextAttemptAt = store.OutboxPending, now // interrupted: the next worker tries at once
	case !retryable(status):
		p.State = store.OutboxDead
	case attempts >= d.cfg.MaxAttempts:
		p.State = store.OutboxDead
		p.Error = fmt.Sprintf("gave up after %d attempts: %v", attempts, err)
	default:
		wait := d.backoff(attempts)
		if retryAfter > wait {
			wait = min(retryAfter, maxRetryAfter)
		}
		next := now.Add(wait)
		if next.Sub(en.QueuedAt) > d.cfg.MaxAge {
			p.State = store.OutboxDead
			p.Error = fmt.Sprintf("gave up after %d attempts over %s: %v", attempts, now.Sub(en.QueuedAt).Round(time.Second), err)
		} else {
			p.State, p.NextAttemptAt = store.OutboxPending, next
		}
	}
	log := d.e.logger.With("delivery_id", en.ID, "url", redactURL(en.Endpoint), "integration", en.Key.Integration,
		"sync", en.Key.Sync, "connection_id", en.Key.Connection, "model", en.Model, "attempt", attempts)
	if _, serr := d.e.store.OutboxSettle(context.WithoutCancel(ctx), p); serr != nil {
		if errors.Is(serr, store.ErrClaimLost) {
			log.Debug("webhook outcome not recorded: the delivery was claimed again", "error", serr)
		} else {
			log.Warn("recording webhook outcome failed; it is attempted again when its claim expires", "error", serr)
		}
		return p.State
	}
	switch p.State {
	case store.OutboxDelivered:
		log.Debug("webhook delivered", "status", status)
	case store.OutboxDead:
		log.Warn("webhook given up", "status", status, "error", p.Error)
	default:
		log.Info("webhook attempt failed; will retry", "status", status, "error", p.Error, "next_attempt_at", p.NextAttemptAt)
	}
	return p.State
}

// retryable reports whether an attempt that got status (0: no response) may succeed later.
func retryable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// backoff returns the wait after the n-th failed attempt.
func (d *delivery) backoff(n int) time.Duration {
	return backoff.Backoff{Initial: d.cfg.InitialBackoff, Max: d.cfg.MaxBackoff}.Delay(n)
}

// post sends one attempt. It returns the status (0 without a response), the Retry-After the
// receiver asked for, and an error unless the receiver accepted it (2xx).
func (d *delivery) post(ctx context.Context, en *store.OutboxEntry) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	where := redactURL(en.Endpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, en.Endpoint, bytes.NewReader(en.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook URL %s: %w", where, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gonango-webhooks")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(d.cfg.SigningKeys[0], en.Body))
	if d.cfg.LegacySignature {
		req.Header.Set(WebhookLegacySignatureHeader, LegacyWebhookSignature(d.cfg.SigningKeys[0], en.Body))
	}
	req.Header.Set(WebhookDeliveryIDHeader, en.ID)
	req.Header.Set(WebhookAttemptHeader, strconv.Itoa(en.Attempts+1))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, query included
		}
		return 0, 0, fmt.Errorf("posting to %s: %w", where, err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, 0, nil
	}
	ra, _ := parseRetryAfter(resp.Header.Get("Retry-After"), d.e.now())
	msg := fmt.Sprintf("%s answered %s", where, resp.Status)
	if s := strings.TrimSpace(string(excerpt)); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, ra, errors.New(msg)
}

// start runs the delivery worker until ctx is done; the returned function waits for it.
func (d *delivery) start(ctx context.Context) (wait func()) {
	if d.cfg == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.loop(ctx)
	}()
	return func() { <-done }
}

// maxIdle is the longest the worker sleeps without looking at the outbox: it also notices
// webhooks written by other engines on the store, and a clock that jumped.
const maxIdle = time.Minute

func (d *delivery) loop(ctx context.Context) {
	var wait time.Duration // the first round starts at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.e.cfg.Clock.After(wait):
		case <-d.wake:
		}
		wait = maxIdle
		if _, err := d.round(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.e.logger.Warn("delivering webhooks failed", "error", err)
			wait = 5 * time.Second
		} else if st, err := d.e.store.OutboxStats(ctx); err == nil && st.Pending > 0 {
			wait = min(wait, max(st.NextAttemptAt.Sub(d.e.now()), 0))
		}
		d.prune(ctx)
	}
}

// prune removes old finished deliveries, at most once an hour.
func (d *delivery) prune(ctx context.Context) {
	now := d.e.now()
	d.mu.Lock()
	due := now.Sub(d.lastPrune) >= time.Hour
	if due {
		d.lastPrune = now
	}
	d.mu.Unlock()
	if !due {
		return
	}
	p := &store.OutboxPruneParams{}
	if d.cfg.Retention > 0 {
		p.DeliveredBefore = now.Add(-d.cfg.Retention)
	}
	if d.cfg.DeadRetention > 0 {
		p.DeadBefore = now.Add(-d.cfg.DeadRetention)
	}
	if p.DeliveredBefore.IsZero() && p.DeadBefore.IsZero() {
		return
	}
	if n, err := d.e.store.OutboxPrune(ctx, p); err != nil {
		d.e.logger.Warn("pruning delivered webhooks failed", "error", err)
	} else if n > 0 {
		d.e.logger.Debug("pruned finished webhooks", "count", n)
	}
}

// WebhookState is where a webhook delivery stands.
type WebhookState = store.OutboxState

// The webhook delivery states.
const (
	WebhookPending   = store.OutboxPending
	WebhookDelivered = store.OutboxDelivered
	WebhookDead      = store.OutboxDead
)

// WebhookStats counts the outbox's deliveries per state, with the next due time.
type WebhookStats = store.OutboxStats

// WebhookDelivery is one webhook to one URL, as the outbox holds it.
type WebhookDelivery struct {
	// ID is sent in the X-Nango-Delivery-Id header.
	ID  string
	URL string
	// Body is the exact body sent; Payload decodes it.
	Body        json.RawMessage
	RunID       string
	Integration string
	Sync        string
	Connection  string
	Model       string
	State       WebhookState
	Attempts    int
	// CreatedAt is when the run ended; QueuedAt when the current round of attempts began (a
	// redelivery starts a new one).
	CreatedAt     time.Time
	QueuedAt      time.Time
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	DeliveredAt   time.Time
	// LastStatus is the HTTP status of the last attempt (0 without a response); LastError why
	// it failed.
	LastStatus int
	LastError  string
}

// Payload decodes the delivery's body.
func (w *WebhookDelivery) Payload() (*WebhookPayload, error) {
	var p WebhookPayload
	if err := json.Unmarshal(w.Body, &p); err != nil {
		return nil, fmt.Errorf("nango: decoding webhook %s: %w", w.ID, err)
	}
	return &p, nil
}

func fromOutbox(e *store.OutboxEntry) *WebhookDelivery {
	w := &WebhookDelivery{
		ID: e.ID, URL: e.Endpoint, Body: e.Body, RunID: e.RunID,
		Integration: e.Key.Integration, Sync: e.Key.Sync, Connection: e.Key.Connection, Model: e.Model,
		State: e.State, Attempts: e.Attempts, CreatedAt: e.CreatedAt, QueuedAt: e.QueuedAt,
		LastAttemptAt: e.LastAttemptAt, DeliveredAt: e.DeliveredAt, LastStatus: e.LastStatus, LastError: e.LastError,
	}
	if e.State == store.OutboxPending {
		w.NextAttemptAt = e.NextAttemptAt
	}
	return w
}

// WebhookDeliveriesParams select deliveries, oldest first.
type WebhookDeliveriesParams struct {
	// State keeps the deliveries in this state; empty keeps all.
	State WebhookState
	// RunID keeps the deliveries of one run.
	RunID string
	// After continues after the delivery with this id (the last of the previous page).
	After string
	// Limit is the page size, 1 to 10,000. Defaults to 100.
	Limit int
}

// WebhookDeliveries lists webhook deliveries from the outbox, oldest first: pending, delivered
// (kept for WebhookConfig.Retention) and dead ones.
func (e *Engine) WebhookDeliveries(ctx context.Context, p WebhookDeliveriesParams) ([]*WebhookDelivery, error) {
	es, err := e.store.OutboxList(ctx, &store.OutboxListParams{State: p.State, RunID: p.RunID, After: p.After, Limit: p.Limit})
	if err != nil {
		return nil, fmt.Errorf("nango: listing webhook deliveries: %w", err)
	}
	out := make([]*WebhookDelivery, len(es))
	for i, en := range es {
		out[i] = fromOutbox(en)
	}
	return out, nil
}

// WebhookDelivery returns one delivery, or an error matching ErrUnknownWebhookDelivery.
func (e *Engine) WebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error) {
	en, err := e.store.OutboxGet(ctx, id)
	if err != nil {
		return nil, deliveryError(id, err)
	}
	return fromOutbox(en), nil
}

func deliveryError(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w %q", ErrUnknownWebhookDelivery, id)
	}
	return fmt.Errorf("nango: webhook delivery %q: %w", id, err)
}

// WebhookStats counts the deliveries in the outbox per state.
func (e *Engine) WebhookStats(ctx context.Context) (*WebhookStats, error) {
	st, err := e.store.OutboxStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("nango: counting webhook deliveries: %w", err)
	}
	return st, nil
}

// RedeliverWebhook queues a delivery again, dead or delivered, with a fresh round of attempts
// due now (the same id and body: receivers that already have it drop it).
func (e *Engine) RedeliverWebhook(ctx context.Context, id string) (*WebhookDelivery, error) {
	en, err := e.store.OutboxRequeue(ctx, &store.OutboxRequeueParams{ID: id, Now: e.now()})
	if err != nil {
		return nil, deliveryError(id, err)
	}
	e.hooks.signal()
	return fromOutbox(en), nil
}

// RedeliverDeadWebhooks queues every dead delivery again, as RedeliverWebhook does, and
// returns how many.
func (e *Engine) RedeliverDeadWebhooks(ctx context.Context) (int, error) {
	n := 0
	for {
		// Requeued entries leave the dead state, so every page starts at the beginning.
		page, err := e.store.OutboxList(ctx, &store.OutboxListParams{State: store.OutboxDead, Limit: store.MaxListLimit})
		if err != nil {
			return n, fmt.Errorf("nango: listing dead webhooks: %w", err)
		}
		for _, en := range page {
			if _, err := e.RedeliverWebhook(ctx, en.ID); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < store.MaxListLimit {
			return n, nil
		}
	}
}
