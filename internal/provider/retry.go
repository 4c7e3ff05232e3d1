package provider

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/internal/clock"
)

// Policy is a resolved retry policy (package nango's HTTPRetry with its defaults applied).
type Policy struct {
	// MaxAttempts counts the attempts, the first included.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the exponential backoff between attempts.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxWait is the longest wait the provider may ask for; beyond it the request fails.
	MaxWait time.Duration
	// Statuses are the retried response statuses; nil means 429 and every 5xx.
	Statuses []int
}

// Retries reports whether a response status is retried.
func (p Policy) Retries(status int) bool {
	if p.Statuses == nil {
		return status == http.StatusTooManyRequests || (status >= 500 && status <= 599)
	}
	return slices.Contains(p.Statuses, status)
}

// Backoff is the wait after the given failed attempt (1 for the first), with equal jitter.
func (p Policy) Backoff(attempt int) time.Duration {
	return backoff.Backoff{Initial: p.InitialBackoff, Max: p.MaxBackoff}.Delay(attempt)
}

// Idempotent reports whether requests with method may be sent twice without harm.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// Attempt is the outcome of one attempt: a response (Status, Header, Body, FinalURL) or an
// error that got none.
type Attempt struct {
	Status   int
	Header   http.Header
	Body     []byte
	FinalURL *url.URL
	Err      error
	// Permanent marks an Err that no retry can cure.
	Permanent bool
}

// Loop sends one request with the retries its policy allows, waiting for the connection's
// gate before each attempt.
type Loop struct {
	Policy Policy
	// Retryable says whether the request may be sent again at all (an idempotent method, or
	// one the caller marked safe to retry).
	Retryable bool
	Gate      *Gate
	Clock     clock.Clock
	// Logger receives the retry decisions.
	Logger *slog.Logger
	// Send makes one attempt.
	Send func(ctx context.Context) *Attempt
	// Done, when set, is told of each attempt as it ends, with its number and duration.
	Done func(ctx context.Context, a *Attempt, attempt int, d time.Duration)
}

// Result is how a Loop ended.
type Result struct {
	// OK: Last is a response with a status below 400.
	OK bool
	// Last is the last attempt; nil when none was made.
	Last *Attempt
	// Attempts counts the attempts made.
	Attempts int
	// LastWait is the last wait the provider asked for.
	LastWait time.Duration
	// Err, when set, is why no further attempt was made although the policy allowed one (the
	// context ended, or the provider asked to wait longer than MaxWait).
	Err error
}

// Run sends the request until an attempt succeeds, fails for good, or the policy gives up.
func (l *Loop) Run(ctx context.Context) Result {
	clk := clock.OrSystem(l.Clock)
	var r Result
	for attempt := 1; ; attempt++ {
		if err := l.Gate.Wait(ctx, l.Policy.MaxWait); err != nil {
			r.Err = err
			return r
		}
		start := clk.Now()
		res := l.Send(ctx)
		r.Last, r.Attempts = res, attempt
		if l.Done != nil {
			l.Done(ctx, res, attempt, clk.Now().Sub(start))
		}
		if res.Err == nil && res.Status < 400 {
			r.OK = true
			return r
		}
		var lim LimitInfo
		if res.Err == nil {
			lim = l.Gate.Limits().Info(res.Status, res.Header, clk.Now())
			if lim.HasWait {
				r.LastWait = lim.Wait
			}
		}
		again := !res.Permanent && (res.Err != nil || l.Policy.Retries(res.Status) || lim.Limited)
		if !again || !l.Retryable || attempt >= l.Policy.MaxAttempts {
			return r
		}
		if lim.HasWait {
			// The gate has paused the whole connection; the next wait honours it.
			if lim.Wait > l.Policy.MaxWait {
				r.Err = fmt.Errorf("%w: the provider asks to wait %s, more than HTTPRetry.MaxWait (%s)", ErrRateLimited, lim.Wait, l.Policy.MaxWait)
				return r
			}
			l.Logger.LogAttrs(ctx, slog.LevelDebug, "retrying provider request", slog.Int("attempt", attempt),
				slog.Int("status", res.Status), slog.Duration("wait", lim.Wait))
			continue
		}
		delay := l.Policy.Backoff(attempt)
		l.Logger.LogAttrs(ctx, slog.LevelDebug, "retrying provider request", slog.Int("attempt", attempt),
			slog.Int("status", res.Status), slog.Duration("wait", delay))
		if err := clk.Sleep(ctx, delay); err != nil {
			r.Err = err
			return r
		}
	}
}
