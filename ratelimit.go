package nango

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/gonango/nango/internal/httpheader"
)

// RateLimit throttles the requests of each connection of an integration. The limiter and any
// pause the provider asks for belong to the connection: every sync and run of the connection
// shares them, so when the provider says "slow down" the whole connection waits, not only the
// request that was told.
//
// Whatever the configuration, a 429 or 503 response with a Retry-After header (in seconds or as
// an HTTP date), and a 403 with Retry-After (GitHub's secondary limits), pause the connection
// for that long.
type RateLimit struct {
	// Limit is the sustained rate of requests per second of one connection; for "100 a minute"
	// write rate.Every(time.Minute / 100). Zero means no client-side limit.
	Limit rate.Limit
	// Burst is how many requests may go at once before the Limit spaces them. Defaults to 1.
	Burst int
	// RemainingHeader names the response header that counts the requests left in the
	// provider's window ("X-RateLimit-Remaining"). When it reads 0, the connection waits until
	// the time in ResetHeader before its next request, and a 403 response is treated as a rate
	// limit, like a 429 (GitHub's primary limit). Empty means not read.
	RemainingHeader string
	// ResetHeader names the response header that says when the provider's window resets
	// ("X-RateLimit-Reset"); it is read on a 429 without Retry-After and when RemainingHeader
	// reads 0. Its value may be Unix seconds (a number of at least 1e9), Unix milliseconds (at
	// least 1e12), seconds to wait (a smaller number), an HTTP date or an RFC 3339 time. Empty
	// means not read.
	ResetHeader string
}

func resolveRateLimit(rl *RateLimit) (RateLimit, error) {
	if rl == nil {
		return RateLimit{}, nil
	}
	r := *rl
	if r.Limit < 0 || math.IsNaN(float64(r.Limit)) {
		return r, fmt.Errorf("RateLimit.Limit %v is negative", r.Limit)
	}
	switch {
	case r.Burst < 0:
		return r, fmt.Errorf("RateLimit.Burst %d is negative", r.Burst)
	case r.Burst == 0:
		r.Burst = 1
	}
	r.RemainingHeader = strings.TrimSpace(r.RemainingHeader)
	r.ResetHeader = strings.TrimSpace(r.ResetHeader)
	return r, nil
}

// limitInfo is what a response says about the provider's rate limit.
type limitInfo struct {
	// limited: the response is a refusal for rate, worth a retry after the wait.
	limited bool
	// hasWait: the provider said how long to wait (wait may be 0).
	hasWait bool
	wait    time.Duration
}

// info reads a response's rate-limit signals.
func (r RateLimit) info(status int, h http.Header, now time.Time) limitInfo {
	var li limitInfo
	retryAfter, hasRetryAfter := httpheader.RetryAfter(h.Get("Retry-After"), now)
	exhausted := r.RemainingHeader != "" && strings.TrimSpace(h.Get(r.RemainingHeader)) == "0"
	li.limited = status == http.StatusTooManyRequests ||
		(status == http.StatusForbidden && exhausted) ||
		(status == http.StatusForbidden && hasRetryAfter)
	switch {
	case hasRetryAfter && (li.limited || status == http.StatusServiceUnavailable):
		li.hasWait, li.wait = true, retryAfter
	case (li.limited || exhausted) && r.ResetHeader != "":
		li.wait, li.hasWait = httpheader.Reset(h.Get(r.ResetHeader), now)
	}
	return li
}

// gateRT pauses the connection when a response asks to slow down, and, with wait set, makes
// requests wait for the connection's pause and rate limiter first. Its logs go to logger.
type gateRT struct {
	c      *connHTTP
	logger *slog.Logger
	wait   bool
	next   http.RoundTripper
}

func (g *gateRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if g.wait {
		if err := g.c.wait(ctx, g.c.in.retry.MaxWait); err != nil {
			closeRequestBody(req)
			return nil, err
		}
	}
	resp, err := g.next.RoundTrip(req)
	if err == nil {
		g.c.observe(ctx, g.logger, resp)
	}
	return resp, err
}

// wait blocks until the connection may send a request: after any pause the provider asked
// for, and within the rate limit. A pause longer than maxWait fails with ErrRateLimited at
// once.
func (c *connHTTP) wait(ctx context.Context, maxWait time.Duration) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := c.clk.Now()
		c.mu.Lock()
		until := c.pauseUntil
		c.mu.Unlock()
		if !now.Before(until) {
			break
		}
		d := until.Sub(now)
		if d > maxWait {
			return fmt.Errorf("%w: connection %q must wait %s for the provider's rate limit, more than HTTPRetry.MaxWait (%s)",
				ErrRateLimited, c.id, d.Round(time.Second), maxWait)
		}
		if err := c.clk.Sleep(ctx, d); err != nil {
			return err
		}
		// The pause may have been extended meanwhile: look again.
	}
	if c.limiter == nil {
		return nil
	}
	now := c.clk.Now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("nango: connection %q: the rate limiter refuses every request (RateLimit.Burst)", c.id)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := c.clk.Sleep(ctx, d); err != nil {
			r.CancelAt(c.clk.Now())
			return err
		}
	}
	return nil
}

// observe pauses the connection when a response says to wait.
func (c *connHTTP) observe(ctx context.Context, logger *slog.Logger, resp *http.Response) {
	now := c.clk.Now()
	li := c.in.rate.info(resp.StatusCode, resp.Header, now)
	if !li.hasWait || li.wait <= 0 {
		return
	}
	until := now.Add(li.wait)
	c.mu.Lock()
	extended := until.After(c.pauseUntil)
	if extended {
		c.pauseUntil = until
	}
	c.mu.Unlock()
	if extended {
		logger.LogAttrs(ctx, slog.LevelInfo, "the provider asked to slow down: the connection waits",
			slog.Int("status", resp.StatusCode), slog.Duration("wait", li.wait))
	}
}
