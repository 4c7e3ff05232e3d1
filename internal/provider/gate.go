package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gonango/nango/internal/clock"
	"github.com/gonango/nango/internal/httpheader"
)

// ErrRateLimited is matched by the errors of requests the provider refused for their rate, or
// that would have to wait longer than allowed for the provider's pause. Package nango exports
// it as nango.ErrRateLimited.
var ErrRateLimited = errors.New("nango: rate limited by the provider")

// Limits names the response headers that report a provider's rate-limit window.
type Limits struct {
	// RemainingHeader counts the requests left in the window; when it reads 0 the connection
	// waits for the reset, and a 403 counts as a rate limit. Empty: not read.
	RemainingHeader string
	// ResetHeader says when the window resets. Empty: not read.
	ResetHeader string
}

// LimitInfo is what a response says about the provider's rate limit.
type LimitInfo struct {
	// Limited: the response is a refusal for rate, worth a retry after the wait.
	Limited bool
	// HasWait: the provider said how long to wait (Wait may be 0).
	HasWait bool
	Wait    time.Duration
}

// Info reads a response's rate-limit signals: 429, a 403 with Retry-After or with the
// remaining count at 0, Retry-After on those and on 503, and the reset header.
func (l Limits) Info(status int, h http.Header, now time.Time) LimitInfo {
	var li LimitInfo
	retryAfter, hasRetryAfter := httpheader.RetryAfter(h.Get("Retry-After"), now)
	exhausted := l.RemainingHeader != "" && strings.TrimSpace(h.Get(l.RemainingHeader)) == "0"
	li.Limited = status == http.StatusTooManyRequests ||
		(status == http.StatusForbidden && exhausted) ||
		(status == http.StatusForbidden && hasRetryAfter)
	switch {
	case hasRetryAfter && (li.Limited || status == http.StatusServiceUnavailable):
		li.HasWait, li.Wait = true, retryAfter
	case (li.Limited || exhausted) && l.ResetHeader != "":
		li.Wait, li.HasWait = httpheader.Reset(h.Get(l.ResetHeader), now)
	}
	return li
}

// Gate is one connection's rate gate: its client-side limiter and the pause its provider
// asked for. Every sync and run of the connection shares it. It is safe for concurrent use.
type Gate struct {
	connection string // for messages
	clock      clock.Clock
	limits     Limits
	limiter    *rate.Limiter // nil: no client-side limit

	mu         sync.Mutex
	pauseUntil time.Time
}

// NewGate returns the gate of a connection. A zero limit means no client-side limit.
func NewGate(connection string, clk clock.Clock, limit rate.Limit, burst int, limits Limits) *Gate {
	g := &Gate{connection: connection, clock: clock.OrSystem(clk), limits: limits}
	if limit > 0 {
		g.limiter = rate.NewLimiter(limit, burst)
	}
	return g
}

// Limits returns the headers the gate reads.
func (g *Gate) Limits() Limits { return g.limits }

// Wait blocks until the connection may send a request: after any pause the provider asked
// for, and within the rate limit. A pause longer than maxWait fails with ErrRateLimited at
// once.
func (g *Gate) Wait(ctx context.Context, maxWait time.Duration) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := g.clock.Now()
		g.mu.Lock()
		until := g.pauseUntil
		g.mu.Unlock()
		if !now.Before(until) {
			break
		}
		d := until.Sub(now)
		if d > maxWait {
			return fmt.Errorf("%w: connection %q must wait %s for the provider's rate limit, more than HTTPRetry.MaxWait (%s)",
				ErrRateLimited, g.connection, d.Round(time.Second), maxWait)
		}
		if err := g.clock.Sleep(ctx, d); err != nil {
			return err
		}
		// The pause may have been extended meanwhile: look again.
	}
	if g.limiter == nil {
		return nil
	}
	now := g.clock.Now()
	r := g.limiter.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("nango: connection %q: the rate limiter refuses every request (RateLimit.Burst)", g.connection)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := g.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(g.clock.Now())
			return err
		}
	}
	return nil
}

// Observe pauses the connection when a response says to wait, and logs it to logger when it
// extends the pause.
func (g *Gate) Observe(ctx context.Context, logger *slog.Logger, resp *http.Response) {
	now := g.clock.Now()
	li := g.limits.Info(resp.StatusCode, resp.Header, now)
	if !li.HasWait || li.Wait <= 0 {
		return
	}
	until := now.Add(li.Wait)
	g.mu.Lock()
	extended := until.After(g.pauseUntil)
	if extended {
		g.pauseUntil = until
	}
	g.mu.Unlock()
	if extended {
		logger.LogAttrs(ctx, slog.LevelInfo, "the provider asked to slow down: the connection waits",
			slog.Int("status", resp.StatusCode), slog.Duration("wait", li.Wait))
	}
}

// GateTransport sends requests through a connection's gate: every response is observed
// (pausing the connection when it says to wait), and with Wait set each request first waits
// for the gate (the retry loop waits before each attempt itself, so it leaves Wait unset).
type GateTransport struct {
	Gate    *Gate
	Wait    bool
	MaxWait time.Duration
	Logger  *slog.Logger
	Next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *GateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.Wait {
		if err := t.Gate.Wait(ctx, t.MaxWait); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
	}
	resp, err := t.Next.RoundTrip(req)
	if err == nil {
		t.Gate.Observe(ctx, t.Logger, resp)
	}
	return resp, err
}
