// Package delivery sends the webhooks that the store's outbox holds.
//
// It owns the delivery worker: claiming due entries, one attempt per entry within a
// per-endpoint concurrency limit, the retry schedule (backoff, Retry-After, attempt and age
// limits), dead-lettering, and pruning finished entries. What a webhook says, who receives it
// and how it is signed belong to package nango, which hands this package finished outbox
// entries and a function that sets the headers of an attempt. It imports the store contract
// and the internal backoff, clock and httpheader packages, never package nango.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/internal/clock"
	"github.com/gonango/nango/internal/httpheader"
	"github.com/gonango/nango/store"
)

// MaxRetryAfter bounds how long a Retry-After header can delay the next attempt.
const MaxRetryAfter = 24 * time.Hour

// maxIdle is the longest the worker sleeps without looking at the outbox: it also notices
// webhooks written by other engines on the store, and a clock that jumped.
const maxIdle = time.Minute

// pruneEvery is how often the worker prunes finished entries.
const pruneEvery = time.Hour

// maxPruneRounds bounds the store calls of one prune.
const maxPruneRounds = 100

// Outbox is what the worker needs of a store.
type Outbox interface {
	OutboxClaim(ctx context.Context, params *store.OutboxClaimParams) ([]*store.OutboxEntry, error)
	OutboxSettle(ctx context.Context, params *store.OutboxSettleParams) (*store.OutboxEntry, error)
	OutboxStats(ctx context.Context) (*store.OutboxStats, error)
	OutboxPrune(ctx context.Context, params *store.OutboxPruneParams) (int, error)
}

// Config is a resolved configuration: every field is set (package nango applies the defaults
// and checks the values).
type Config struct {
	// Owner names this process in claims.
	Owner string
	// MaxAttempts and MaxAge bound the attempts of one round of delivery.
	MaxAttempts int
	MaxAge      time.Duration
	// InitialBackoff and MaxBackoff bound the wait between attempts.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// MaxConcurrencyPerEndpoint bounds the attempts in flight to one URL.
	MaxConcurrencyPerEndpoint int
	// Client sends the attempts.
	Client *http.Client
	// Retention and DeadRetention are how long delivered and dead entries are kept; zero or
	// negative keeps them.
	Retention     time.Duration
	DeadRetention time.Duration
	// RetentionCount and DeadRetentionCount are how many delivered and dead entries are kept at
	// most, the newest; zero or negative sets no count.
	RetentionCount     int
	DeadRetentionCount int
	// Header sets the headers of an attempt besides Content-Type and User-Agent: the
	// signatures, the delivery id and the attempt number (1 for the first).
	Header func(h http.Header, entry *store.OutboxEntry, attempt int)
}

// Report counts what one round of delivery did.
type Report struct {
	Attempted int
	Delivered int
	Retrying  int
	Dead      int
}

// Worker delivers the outbox's webhooks.
type Worker struct {
	cfg    Config
	store  Outbox
	clock  clock.Clock
	logger *slog.Logger
	wake   chan struct{}

	mu        sync.Mutex
	sems      map[string]*endpointSem // endpoints with attempts in flight or waiting
	lastPrune time.Time
}

// endpointSem bounds the attempts in flight to one endpoint; refs counts its users, so that
// it is dropped when the last one is done.
type endpointSem struct {
	ch   chan struct{}
	refs int
}

// New returns a worker. It does nothing until Start or Round is called.
func New(cfg Config, st Outbox, clk clock.Clock, logger *slog.Logger) *Worker {
	return &Worker{
		cfg: cfg, store: st, clock: clock.OrSystem(clk), logger: logger,
		wake: make(chan struct{}, 1), sems: map[string]*endpointSem{},
	}
}

func (w *Worker) now() time.Time { return store.Timestamp(w.clock.Now()) }

// Signal wakes the worker: new entries are due.
func (w *Worker) Signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// claimBatch returns how many entries the worker claims at once, and the claim's TTL: long
// enough for the batch to be attempted through one endpoint at its concurrency limit.
func (w *Worker) claimBatch() (int, time.Duration) {
	n := 4 * w.cfg.MaxConcurrencyPerEndpoint
	return n, w.cfg.Timeout*time.Duration(n/w.cfg.MaxConcurrencyPerEndpoint+1) + 30*time.Second
}

// Round attempts every entry due now once, within the per-endpoint concurrency limit, and
// returns when all the attempts are done.
func (w *Worker) Round(ctx context.Context) (Report, error) {
	var rep Report
	batch, ttl := w.claimBatch()
	var mu sync.Mutex
	for {
		// The time is read for each claim: a claim taken with a stale time would expire early
		// and let another engine deliver the same webhooks again.
		claimed, err := w.store.OutboxClaim(ctx, &store.OutboxClaimParams{Owner: w.cfg.Owner, Now: w.now(), Limit: batch, TTL: ttl})
		if err != nil {
			return rep, fmt.Errorf("claiming webhooks to deliver: %w", err)
		}
		var wg sync.WaitGroup
		for _, en := range claimed {
			wg.Add(1)
			sem := w.sem(en.Endpoint)
			go func() {
				defer wg.Done()
				state := w.deliver(ctx, en, sem)
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

// sem returns the semaphore of an endpoint; the caller must call release when done with it.
func (w *Worker) sem(endpoint string) *endpointSem {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sems[endpoint]
	if s == nil {
		s = &endpointSem{ch: make(chan struct{}, w.cfg.MaxConcurrencyPerEndpoint)}
		w.sems[endpoint] = s
	}
	s.refs++
	return s
}

// release drops a reference to an endpoint's semaphore.
func (w *Worker) release(endpoint string, s *endpointSem) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(w.sems, endpoint)
	}
}

// fullEndpoints returns the endpoints with as many attempts in flight or waiting as allowed.
func (w *Worker) fullEndpoints() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for endpoint, s := range w.sems {
		if s.refs >= w.cfg.MaxConcurrencyPerEndpoint && len(out) < store.MaxClaimLimit {
			out = append(out, endpoint)
		}
	}
	return out
}

// deliver makes one attempt on a claimed entry, once it gets a place in its endpoint's
// semaphore (sem, from w.sem, which deliver releases), and records the outcome.
func (w *Worker) deliver(ctx context.Context, en *store.OutboxEntry, sem *endpointSem) store.OutboxState {
	select {
	case sem.ch <- struct{}{}:
	case <-ctx.Done():
		w.release(en.Endpoint, sem)
		return store.OutboxPending // still claimed: due again when the claim expires
	}
	status, retryAfter, err := w.post(ctx, en)
	<-sem.ch
	w.release(en.Endpoint, sem)
	now := w.now()
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
	case !Retryable(status):
		p.State = store.OutboxDead
	case attempts >= w.cfg.MaxAttempts:
		p.State = store.OutboxDead
		p.Error = fmt.Sprintf("gave up after %d attempts: %v", attempts, err)
	default:
		wait := backoff.Backoff{Initial: w.cfg.InitialBackoff, Max: w.cfg.MaxBackoff}.Delay(attempts)
		if retryAfter > wait {
			wait = min(retryAfter, MaxRetryAfter)
		}
		next := now.Add(wait)
		if next.Sub(en.QueuedAt) > w.cfg.MaxAge {
			p.State = store.OutboxDead
			p.Error = fmt.Sprintf("gave up after %d attempts over %s: %v", attempts, now.Sub(en.QueuedAt).Round(time.Second), err)
		} else {
			p.State, p.NextAttemptAt = store.OutboxPending, next
		}
	}
	log := w.logger.With("delivery_id", en.ID, "url", RedactURL(en.Endpoint), "integration", en.Key.Integration,
		"sync", en.Key.Sync, "connection_id", en.Key.Connection, "model", en.Model, "attempt", attempts)
	if _, serr := w.store.OutboxSettle(context.WithoutCancel(ctx), p); serr != nil {
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

// Retryable reports whether an attempt that got status (0: no response) may succeed later:
// network errors, timeouts, 408, 429 and 5xx. Other answers are final.
func Retryable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// post sends one attempt. It returns the status (0 without a response), the Retry-After the
// receiver asked for, and an error unless the receiver accepted it (2xx).
func (w *Worker) post(ctx context.Context, en *store.OutboxEntry) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	where := RedactURL(en.Endpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, en.Endpoint, bytes.NewReader(en.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook URL %s: %w", where, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gonango-webhooks")
	if w.cfg.Header != nil {
		w.cfg.Header(req.Header, en, en.Attempts+1)
	}
	resp, err := w.cfg.Client.Do(req)
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
	ra, _ := httpheader.RetryAfter(resp.Header.Get("Retry-After"), w.now())
	msg := fmt.Sprintf("%s answered %s", where, resp.Status)
	if s := strings.TrimSpace(string(excerpt)); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, ra, errors.New(msg)
}

// Start runs the worker until ctx is done; the returned function waits for it to stop.
func (w *Worker) Start(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx)
	}()
	return func() { <-done }
}

// loop claims and attempts due entries until ctx is done. Unlike Round it does not wait for
// the attempts it starts: it claims again as soon as one ends, passing over the endpoints that
// have as many attempts in flight as they may, so that a slow or silent endpoint holds up only
// its own webhooks.
func (w *Worker) loop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ended := make(chan struct{}, 1) // an attempt ended: an endpoint may have room again
	var wait time.Duration          // the first claim is made at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.clock.After(wait):
		case <-w.wake:
		case <-ended:
		}
		wait = maxIdle
		n, skipped, err := w.dispatch(ctx, &wg, ended)
		batch, _ := w.claimBatch()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			w.logger.Warn("delivering webhooks failed", "error", err)
			wait = 5 * time.Second
		case n == batch:
			wait = 0 // more may be due
		default:
			if st, err := w.store.OutboxStats(ctx); err == nil && st.Pending > 0 {
				// With endpoints skipped, what is due now may be theirs: the end of one of their
				// attempts wakes the loop. Otherwise sleep until the next entry is due.
				if next := max(st.NextAttemptAt.Sub(w.now()), 0); next > 0 || !skipped {
					wait = min(wait, next)
				}
			}
		}
		w.prune(ctx)
	}
}

// dispatch claims the due entries of the endpoints with room and starts their attempts. It
// returns how many it claimed and whether it passed over endpoints.
func (w *Worker) dispatch(ctx context.Context, wg *sync.WaitGroup, ended chan<- struct{}) (int, bool, error) {
	batch, ttl := w.claimBatch()
	full := w.fullEndpoints()
	claimed, err := w.store.OutboxClaim(ctx, &store.OutboxClaimParams{
		Owner: w.cfg.Owner, Now: w.now(), Limit: batch, TTL: ttl, SkipEndpoints: full,
	})
	if err != nil {
		return 0, len(full) > 0, fmt.Errorf("claiming webhooks to deliver: %w", err)
	}
	for _, en := range claimed {
		sem := w.sem(en.Endpoint) // counted before the next claim looks at the endpoints
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.deliver(ctx, en, sem)
			select {
			case ended <- struct{}{}:
			default:
			}
		}()
	}
	return len(claimed), len(full) > 0, nil
}

// prune removes old finished entries, at most once per pruneEvery.
func (w *Worker) prune(ctx context.Context) {
	now := w.now()
	w.mu.Lock()
	due := now.Sub(w.lastPrune) >= pruneEvery
	if due {
		w.lastPrune = now
	}
	w.mu.Unlock()
	if !due {
		return
	}
	p := &store.OutboxPruneParams{KeepDelivered: max(w.cfg.RetentionCount, 0), KeepDead: max(w.cfg.DeadRetentionCount, 0)}
	if w.cfg.Retention > 0 {
		p.DeliveredBefore = now.Add(-w.cfg.Retention)
	}
	if w.cfg.DeadRetention > 0 {
		p.DeadBefore = now.Add(-w.cfg.DeadRetention)
	}
	if p.DeliveredBefore.IsZero() && p.DeadBefore.IsZero() && p.KeepDelivered == 0 && p.KeepDead == 0 {
		return
	}
	// Short writes of store.DefaultPruneLimit entries each, up to maxPruneRounds of them: what
	// is left waits for the next prune.
	total := 0
	for range maxPruneRounds {
		n, err := w.store.OutboxPrune(ctx, p)
		total += n
		if err != nil {
			w.logger.Warn("pruning delivered webhooks failed", "error", err)
			break
		}
		if n < store.DefaultPruneLimit || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		w.logger.Debug("pruned finished webhooks", "count", total)
	}
}

// RedactURL drops the user information and the query of a URL, which may hold secrets, for
// messages.
func RedactURL(u string) string {
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
