package nango

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
	"time"

	"github.com/gonango/nango/internal/provider"
)

// HTTPRetry says which failed requests are tried again, how often, and how long to wait in
// between. Only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) are retried, and
// POST or PATCH requests that set Request.Retry. Every wait ends early when the request's ctx
// is done. Zero fields take their defaults.
type HTTPRetry struct {
	// MaxAttempts is the number of attempts, the first included; 1 disables retries. Defaults
	// to 5.
	MaxAttempts int
	// InitialBackoff is the wait after the first failed attempt; it doubles after each further
	// one, up to MaxBackoff. Each wait is drawn at random between half and all of that ("equal
	// jitter"), so that connections do not retry in step. Defaults to 1 second.
	InitialBackoff time.Duration
	// MaxBackoff caps one wait of the exponential backoff. Defaults to 30 seconds.
	MaxBackoff time.Duration
	// MaxWait is the longest the engine waits when the provider says how long to wait
	// (Retry-After, a rate-limit reset). When the provider asks for more, the request fails at
	// once with an *APIError whose RetryAfter says how long, and the run fails; the next run
	// tries again. Defaults to 10 minutes.
	MaxWait time.Duration
	// Statuses are the response statuses that are retried. Defaults to 429 and every 5xx.
	// Network errors and attempts that time out are always retried, and so are responses that
	// RateLimit identifies as rate limits; transport errors that match ErrPermanent never are.
	Statuses []int
}

func resolveRetry(p *HTTPRetry) (provider.Policy, error) {
	r, err := resolveHTTPRetry(p)
	return provider.Policy{MaxAttempts: r.MaxAttempts, InitialBackoff: r.InitialBackoff, MaxBackoff: r.MaxBackoff,
		MaxWait: r.MaxWait, Statuses: r.Statuses}, err
}

func resolveHTTPRetry(p *HTTPRetry) (HTTPRetry, error) {
	var r HTTPRetry
	if p != nil {
		r = *p
	}
	switch {
	case r.MaxAttempts < 0:
		return r, fmt.Errorf("HTTPRetry.MaxAttempts %d is negative", r.MaxAttempts)
	case r.MaxAttempts == 0:
		r.MaxAttempts = 5
	}
	switch {
	case r.InitialBackoff < 0:
		return r, fmt.Errorf("HTTPRetry.InitialBackoff %s is negative", r.InitialBackoff)
	case r.InitialBackoff == 0:
		r.InitialBackoff = time.Second
	}
	switch {
	case r.MaxBackoff < 0:
		return r, fmt.Errorf("HTTPRetry.MaxBackoff %s is negative", r.MaxBackoff)
	case r.MaxBackoff == 0:
		r.MaxBackoff = max(30*time.Second, r.InitialBackoff)
	case r.MaxBackoff < r.InitialBackoff:
		return r, fmt.Errorf("HTTPRetry.MaxBackoff %s is less than InitialBackoff %s", r.MaxBackoff, r.InitialBackoff)
	}
	switch {
	case r.MaxWait < 0:
		return r, fmt.Errorf("HTTPRetry.MaxWait %s is negative", r.MaxWait)
	case r.MaxWait == 0:
		r.MaxWait = 10 * time.Minute
	}
	for _, s := range r.Statuses {
		if s < 100 || s > 599 {
			return r, fmt.Errorf("HTTPRetry.Statuses: %d is not an HTTP status", s)
		}
	}
	return r, nil
}

// APIError is the final failure of a provider request: the provider's error status (after the
// retries the policy allowed), or the network error, timeout or cancellation that ended the
// attempts. It never contains credentials: URL and Body are redacted.
type APIError struct {
	// Method and URL identify the request. The URL's secret query parameters are redacted.
	Method string
	URL    string
	// StatusCode is the last response's status, or 0 when no response arrived.
	StatusCode int
	// Body is the beginning (up to 1 KiB) of the last response's body.
	Body string
	// Attempts is the number of attempts made.
	Attempts int
	// RetryAfter is the last wait the provider asked for (Retry-After or a rate-limit reset),
	// or 0.
	RetryAfter time.Duration
	// Err is why the attempts stopped without a response, or why no more were made (a
	// cancelled context, ErrTimeout, ErrRateLimited, an *AuthError); nil when the provider's
	// status says it all.
	Err error
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nango: %s %s: ", e.Method, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Attempts > 1 {
			fmt.Fprintf(&b, " after %d attempts", e.Attempts)
		}
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
		}
		if e.Err != nil {
			fmt.Fprintf(&b, ": %s", bareMessage(e.Err))
		}
		if e.Body != "" {
			fmt.Fprintf(&b, ": %s", e.Body)
		}
		return b.String()
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "after %d attempts: ", e.Attempts)
	}
	b.WriteString(bareMessage(e.Err))
	return b.String()
}

// Unwrap returns Err.
func (e *APIError) Unwrap() error { return e.Err }

// Is reports whether target is ErrRateLimited and the status was 429.
func (e *APIError) Is(target error) bool {
	return target == ErrRateLimited && e.StatusCode == http.StatusTooManyRequests
}

const maxErrorBody = 1024

// apiError builds the final error of a request: an *APIError, or the *AuthError that stopped
// it. last is the last attempt (nil when none was made); err, when set, is why no further
// attempt was made.
func (c *connHTTP) apiError(p *prepared, attempts int, last *provider.Attempt, retryAfter time.Duration, err error) error {
	var ae *AuthError
	if errors.As(err, &ae) || (last != nil && errors.As(last.Err, &ae)) {
		return ae // it says all there is to say: the connection must be authorised again
	}
	e := &APIError{Method: p.method, URL: p.display, Attempts: attempts, RetryAfter: retryAfter, Err: err}
	if last != nil {
		e.StatusCode = last.Status
		if last.Err != nil && e.Err == nil {
			e.Err = last.Err
		}
		if len(last.Body) > 0 {
			e.Body = provider.Excerpt(c.secrets.Redact(string(last.Body)), maxErrorBody)
		}
	}
	return e
}

// attempt sends one attempt, once the caller has waited for the connection's gate.
func (c *connHTTP) attempt(ctx context.Context, logger *slog.Logger, p *prepared) *provider.Attempt {
	actx, cancel := context.WithTimeout(ctx, c.in.timeout)
	defer cancel()
	r := p.tmpl.Clone(actx)
	if p.body != nil {
		body := p.body
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	resp, err := c.client(logger, false).Do(r)
	if err != nil {
		return c.failed(ctx, actx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.in.maxBody+1))
	if err != nil {
		return c.failed(ctx, actx, err)
	}
	if int64(len(body)) > c.in.maxBody {
		return &provider.Attempt{Err: fmt.Errorf("nango: the response is larger than HTTPConfig.MaxResponseBytes (%d bytes)", c.in.maxBody), Permanent: true}
	}
	return &provider.Attempt{Status: resp.StatusCode, Header: resp.Header, Body: body, FinalURL: resp.Request.URL}
}

// failed classifies the error of an attempt that got no (whole) response.
func (c *connHTTP) failed(ctx, actx context.Context, err error) *provider.Attempt {
	if ctx.Err() != nil {
		return &provider.Attempt{Err: ctx.Err(), Permanent: true}
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		return &provider.Attempt{Err: ae, Permanent: true}
	}
	if errors.Is(err, ErrRateLimited) {
		return &provider.Attempt{Err: err, Permanent: true}
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &provider.Attempt{Err: fmt.Errorf("%w (HTTPConfig.Timeout is %s)", ErrTimeout, c.in.timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message holds the whole URL
	}
	permanent := errors.Is(err, ErrPermanent)
	var re *provider.RedactedError
	if errors.As(err, &re) {
		return &provider.Attempt{Err: re, Permanent: permanent}
	}
	return &provider.Attempt{Err: &provider.RedactedError{Msg: c.secrets.Redact(err.Error()), Err: err}, Permanent: permanent}
}

func (c *connHTTP) logAttempt(ctx context.Context, logger *slog.Logger, method string, u *url.URL, res *provider.Attempt, attempt int, d time.Duration) {
	if !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", c.secrets.Redact(u.EscapedPath())),
		slog.String("query", c.redactor().Query(u.RawQuery)),
	}
	if res.Status != 0 {
		attrs = append(attrs, slog.Int("status", res.Status))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("error", c.secrets.Redact(res.Err.Error())))
	}
	attrs = append(attrs, slog.Duration("duration", d), slog.Int("attempt", attempt))
	logger.LogAttrs(ctx, slog.LevelDebug, "provider request", attrs...)
}

// do sends a request with the retries its policy allows (internal/provider's Loop).
func (c *connHTTP) do(ctx context.Context, logger *slog.Logger, req *Request) (*Response, error) {
	p, err := c.prepare(req)
	if err != nil {
		return nil, err
	}
	pol := c.in.retry
	if req.MaxAttempts > 0 {
		pol.MaxAttempts = req.MaxAttempts
	}
	loop := &provider.Loop{
		Policy: pol, Retryable: provider.Idempotent(p.method) || req.Retry, Gate: c.gate, Clock: c.clk, Logger: logger,
		Send: func(ctx context.Context) *provider.Attempt { return c.attempt(ctx, logger, p) },
		Done: func(ctx context.Context, a *provider.Attempt, attempt int, d time.Duration) {
			c.logAttempt(ctx, logger, p.method, p.url, a, attempt, d)
		},
	}
	r := loop.Run(ctx)
	if r.OK {
		return &Response{StatusCode: r.Last.Status, Header: r.Last.Header, Body: r.Last.Body, Attempts: r.Attempts,
			method: p.method, url: r.Last.FinalURL, display: p.display}, nil
	}
	return nil, c.apiError(p, r.Attempts, r.Last, r.LastWait, r.Err)
}
