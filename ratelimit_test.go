package nango_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/gonango/nango"
)

// limitedServer answers the first request of each path with status and headers made by first,
// and every later one with 200.
func limitedServer(t *testing.T, calls *counter, first func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.inc(r.URL.Path) == 1 && first(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"path": r.URL.Path})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRetryAfterSecondsAndHTTPDate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value func(now time.Time) string
		want  time.Duration
	}{
		{"seconds", func(time.Time) string { return "7" }, 7 * time.Second},
		{"http date", func(now time.Time) string { return now.Add(90 * time.Second).Format(http.TimeFormat) }, 90 * time.Second},
		{"date in the past", func(now time.Time) string { return now.Add(-time.Hour).Format(http.TimeFormat) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls counter
			clock := newFakeClock()
			srv := limitedServer(t, &calls, func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Retry-After", tc.value(clock.now()))
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "slow down"})
				return true
			})
			f := newHTTPFixClock(t, nango.Integration{BaseURL: srv.URL}, clock)
			f.addConn(t, "c1", nil)
			resp, err := f.do(t, &nango.Request{Path: "/items"})
			require.NoError(t, err)
			require.Equal(t, 2, resp.Attempts)
			if tc.want == 0 {
				require.Empty(t, f.clock.slept())
			} else {
				require.Equal(t, []time.Duration{tc.want}, f.clock.slept(), "exactly the provider's wait, no jitter")
			}
			require.Equal(t, 2, calls.get("/items"))
		})
	}
}

func TestSlowDownPausesTheWholeConnection(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := limitedServer(t, &calls, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/first" {
			return false
		}
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 1}}})
	f.addConn(t, "c1", nil)
	f.addConn(t, "c2", nil)

	// Sync a is told to wait and, allowed one attempt, fails with the wait in its error.
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/first"})
		return err
	})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 20*time.Second, apiErr.RetryAfter)
	require.Empty(t, f.clock.slept())

	// Another connection is not held up.
	_, err = f.run(t.Context(), t, "c2", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/other"})
		return err
	})
	require.NoError(t, err)
	require.Empty(t, f.clock.slept())

	// Sync b of the same connection waits out the pause before its first request, and so does
	// its plain http.Client.
	_, err = f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		if _, err := n.Get(ctx, &nango.Request{Path: "/second"}); err != nil {
			return err
		}
		resp, err := n.HTTPClient().Get(srv.URL + "/plain")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}, "b")
	require.NoError(t, err)
	require.Equal(t, []time.Duration{20 * time.Second}, f.clock.slept())
	require.Contains(t, f.logs.String(), "the provider asked to slow down: the connection waits")
}

func TestRateLimitResetHeaders(t *testing.T) {
	t.Parallel()
	var calls counter
	clock := newFakeClock()
	srv := limitedServer(t, &calls, func(w http.ResponseWriter, r *http.Request) bool {
		reset := strconv.FormatInt(clock.now().Add(42*time.Second).Unix(), 10)
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", reset)
		switch r.URL.Path {
		case "/forbidden": // GitHub's primary rate limit
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "API rate limit exceeded"})
			return true
		case "/last-allowed": // the last request of the window succeeds
			writeJSON(w, http.StatusOK, map[string]string{})
			return true
		}
		return false
	})
	f := newHTTPFixClock(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{
		RateLimit: &nango.RateLimit{RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset"},
	}}, clock)
	f.addConn(t, "c1", nil)
	resp, err := f.do(t, &nango.Request{Path: "/forbidden"})
	require.NoError(t, err)
	require.Equal(t, 2, resp.Attempts)
	require.Equal(t, []time.Duration{42 * time.Second}, f.clock.slept())

	_, err = f.do(t, &nango.Request{Path: "/last-allowed"})
	require.NoError(t, err)
	_, err = f.do(t, &nango.Request{Path: "/next"})
	require.NoError(t, err)
	require.Equal(t, []time.Duration{42 * time.Second, 42 * time.Second}, f.clock.slept(), "the request after the last allowed one waits for the reset")
}

func TestRetryAfterBeyondMaxWaitFailsAtOnce(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := limitedServer(t, &calls, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "3600")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "daily quota exhausted"})
		return true
	})
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	_, err := f.do(t, &nango.Request{Path: "/items"})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.ErrorIs(t, err, nango.ErrRateLimited)
	require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	require.Equal(t, 1, apiErr.Attempts)
	require.Equal(t, time.Hour, apiErr.RetryAfter)
	require.EqualError(t, err, "nango: GET "+srv.URL+"/items: 429 Too Many Requests (retry after 1h0m0s): "+
		"rate limited by the provider: the provider asks to wait 1h0m0s, more than HTTPRetry.MaxWait (10m0s): "+
		`{"message":"daily quota exhausted"}`)
	require.Empty(t, f.clock.slept())

	// The connection stays paused: the next request fails at once too, without a call.
	_, err = f.do(t, &nango.Request{Path: "/other"})
	require.ErrorIs(t, err, nango.ErrRateLimited)
	require.ErrorContains(t, err, `connection "c1" must wait 1h0m0s for the provider's rate limit`)
	require.Equal(t, 0, calls.get("/other"))
}

func TestClientSideRateLimit(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := limitedServer(t, &calls, func(http.ResponseWriter, *http.Request) bool { return false })
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{
		RateLimit: &nango.RateLimit{Limit: rate.Every(500 * time.Millisecond), Burst: 2},
	}})
	f.addConn(t, "c1", nil)
	f.addConn(t, "c2", nil)
	for _, sync := range []string{"a", "b"} { // both syncs share the connection's limiter
		_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			for range 3 {
				if _, err := n.Get(ctx, &nango.Request{Path: "/items"}); err != nil {
					return err
				}
			}
			return nil
		}, sync)
		require.NoError(t, err)
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{500 * ms, 500 * ms, 500 * ms, 500 * ms}, f.clock.slept(), "a burst of 2, then one every 500ms")
	_, err := f.run(t.Context(), t, "c2", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/items"})
		return err
	})
	require.NoError(t, err)
	require.Len(t, f.clock.slept(), 4, "another connection has its own limiter")
}

func TestWaitForPauseHonoursCancellation(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := limitedServer(t, &calls, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	f.clock.mu.Lock()
	f.clock.block = true
	f.clock.sleepCh = make(chan time.Duration, 1)
	f.clock.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.clock.sleepCh // the request is waiting out the pause
		cancel()
	}()
	res, err := f.run(ctx, t, "c1", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/items"})
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, errors.Is(res.Err, context.Canceled))
	require.Equal(t, nango.RunCancelled, res.State)
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 1, apiErr.Attempts)
	require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	require.Equal(t, 30*time.Second, apiErr.RetryAfter)
	require.Equal(t, 1, calls.get("/items"))
}
