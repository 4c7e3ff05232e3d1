package nango

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gonango/nango/internal/delivery"
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
// Retention, and beyond the newest RetentionCount.
//
// Every committed change is announced by some webhook: the changes of runs that sent no
// success webhook (failed, cancelled, or killed with their process) are covered by the next
// successful run, whose modifiedAfter reaches back to the start of the earliest such run, with
// a webhook for every model whose stream changed since then.
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
	// MaxConcurrencyPerEndpoint bounds the attempts in flight to one URL. The worker passes over
	// a URL at its limit, so a slow or silent receiver delays only its own webhooks. Defaults
	// to 4.
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
	// RetentionCount is how many delivered webhooks are kept at most, the newest (by delivery
	// time), whatever their age. Defaults to 100,000; negative sets no count.
	RetentionCount int
	// DeadRetentionCount is how many dead webhooks are kept at most, the newest (by last
	// attempt). Defaults to no count; a positive value prunes the oldest beyond it.
	DeadRetentionCount int
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
	if o.RetentionCount == 0 {
		o.RetentionCount = 100_000
	}
	if o.DeadRetentionCount < 0 {
		return nil, configError("webhook dead retention count %d is negative", o.DeadRetentionCount)
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
func redactURL(u string) string { return delivery.RedactURL(u) }

// outgoing holds the engine's outgoing webhooks: what goes into the outbox (entries) and the
// worker that delivers it (package internal/delivery).
type outgoing struct {
	cfg    *WebhookConfig // nil: webhooks are off
	worker *delivery.Worker
}

func newOutgoing(e *Engine, cfg *WebhookConfig) (*outgoing, error) {
	o := &outgoing{}
	if cfg == nil {
		return o, nil
	}
	var err error
	if o.cfg, err = cfg.prepare(); err != nil {
		return nil, err
	}
	c := o.cfg
	o.worker = delivery.New(delivery.Config{
		Owner: e.cfg.InstanceID, MaxAttempts: c.MaxAttempts, MaxAge: c.MaxAge,
		InitialBackoff: c.InitialBackoff, MaxBackoff: c.MaxBackoff, Timeout: c.Timeout,
		MaxConcurrencyPerEndpoint: c.MaxConcurrencyPerEndpoint, Client: c.Client,
		Retention: c.Retention, DeadRetention: c.DeadRetention,
		RetentionCount: c.RetentionCount, DeadRetentionCount: c.DeadRetentionCount, Header: c.header,
	}, e.store, e.cfg.Clock, e.logger)
	return o, nil
}

// header sets the headers of a delivery attempt.
func (c *WebhookConfig) header(h http.Header, en *store.OutboxEntry, attempt int) {
	h.Set(WebhookSignatureHeader, SignWebhook(c.SigningKeys[0], en.Body))
	if c.LegacySignature {
		h.Set(WebhookLegacySignatureHeader, LegacyWebhookSignature(c.SigningKeys[0], en.Body))
	}
	h.Set(WebhookDeliveryIDHeader, en.ID)
	h.Set(WebhookAttemptHeader, strconv.Itoa(attempt))
}

// signal wakes the delivery worker.
func (o *outgoing) signal() {
	if o.worker != nil {
		o.worker.Signal()
	}
}

// start runs the delivery worker until ctx is done; the returned function waits for it.
func (o *outgoing) start(ctx context.Context) (wait func()) {
	if o.worker == nil {
		return func() {}
	}
	return o.worker.Start(ctx)
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
func (o *outgoing) entries(ctx context.Context, n *Nango, res *RunResult) []*store.OutboxEntry {
	if o.cfg == nil {
		return nil
	}
	urls := o.cfg.URLs
	if len(n.conn.WebhookURLs) > 0 {
		urls = n.conn.WebhookURLs
	}
	if len(urls) == 0 {
		return nil
	}
	payloads := WebhookPayloads(res, o.cfg.AlwaysSend)
	if res.State == RunSucceeded {
		payloads = n.coverGap(ctx, res, payloads)
	}
	if o.cfg.OnFailure {
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

// maxGapRuns bounds how many earlier runs a success webhook looks back over.
const maxGapRuns = 100

// coverGap extends the success webhooks of a run to the changes that no success webhook
// announced: those committed by the runs since the last successful one that failed, were
// cancelled or died with their process. Their modifiedAfter moves back to the start of the
// earliest such run, and a model this run did not change gets a webhook too when its stream
// changed since then. Without such runs the payloads are returned as they are.
func (n *Nango) coverGap(ctx context.Context, res *RunResult, payloads []WebhookPayload) []WebhookPayload {
	e := n.engine
	from := res.StartedAt
	// Usually the previous run succeeded: read the history a few runs at a time.
	before, seen := res.RunID, 0
walk:
	for seen < maxGapRuns {
		runs, err := e.store.RunList(ctx, &store.RunListParams{Key: n.run.Key, Before: before, Limit: 4})
		if err != nil {
			n.logger.Warn("webhooks cover only this run: listing the earlier runs failed", "error", err)
			return payloads
		}
		for _, r := range runs {
			if r.State == store.RunSucceeded {
				break walk
			}
			if r.StartedAt.Before(from) {
				from = r.StartedAt
			}
			before, seen = r.ID, seen+1
		}
		if len(runs) < 4 {
			break
		}
	}
	if !from.Before(res.StartedAt) {
		return payloads
	}
	stamp := from.UTC().Format(time.RFC3339Nano)
	have := map[string]bool{}
	for i := range payloads {
		payloads[i].ModifiedAfter, payloads[i].QueryTimeStamp = stamp, stamp
		have[payloads[i].Model] = true
	}
	for _, m := range n.sync.Models {
		if have[m.Name] {
			continue
		}
		page, err := e.store.RecordsList(ctx, &store.RecordsListParams{Stream: n.stream(m.Name), ModifiedAfter: from, Limit: 1})
		if err != nil {
			n.logger.Warn("webhooks may miss changes of an earlier run: reading the change feed failed", "model", m.Name, "error", err)
			continue
		}
		if len(page.Records) == 0 {
			continue
		}
		one := WebhookPayloads(&RunResult{
			State: RunSucceeded, Integration: res.Integration, Sync: res.Sync, Connection: res.Connection,
			Trigger: res.Trigger, Initial: res.Initial, StartedAt: from,
			CheckpointFrom: res.CheckpointFrom, CheckpointTo: res.CheckpointTo,
			Models: map[string]ModelResult{m.Name: {}},
		}, true)
		payloads = append(payloads, one...)
	}
	slices.SortFunc(payloads, func(a, b WebhookPayload) int { return strings.Compare(a.Model, b.Model) })
	return payloads
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
	rep, err := e.hooks.worker.Round(ctx)
	out := &DeliveryReport{Attempted: rep.Attempted, Delivered: rep.Delivered, Retrying: rep.Retrying, Dead: rep.Dead}
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("nango: %w", err)
	}
	return out, err
}

// WebhookState is where a webhook delivery stands, a string: "pending" (waiting for its next
// attempt), "delivered" or "dead" (out of attempts; Engine.RedeliverWebhook sends it again).
type WebhookState = store.OutboxState

// The webhook delivery states.
const (
	WebhookPending   = store.OutboxPending
	WebhookDelivered = store.OutboxDelivered
	WebhookDead      = store.OutboxDead
)

// WebhookStats counts the outbox's deliveries per state. Its fields:
//
//	Pending       int        deliveries waiting for an attempt
//	Delivered     int        deliveries the endpoint accepted (until pruned)
//	Dead          int        deliveries out of attempts
//	NextAttemptAt time.Time  the earliest due time of the pending ones; zero when none
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
