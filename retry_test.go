package nango_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// stormServer answers 503 to the first failures requests of each path, then 200.
func stormServer(t *testing.T, calls *counter, failures int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.inc(r.URL.Path) <= failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"overloaded, try later"}`)
			return
		}
		writeJSON(w, http.StatusOK, []item{{ID: "1"}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestServiceUnavailableStormIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := stormServer(t, &calls, 4)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{
		Retry: &nango.HTTPRetry{MaxAttempts: 5, InitialBackoff: time.Second, MaxBackoff: 5 * time.Second},
	}})
	f.addConn(t, "c1", nil)
	resp, err := f.do(t, &nango.Request{Path: "/items"})
	require.NoError(t, err)
	require.Equal(t, 5, resp.Attempts)
	slept := f.clock.slept()
	require.Len(t, slept, 4)
	// Exponential (1s, 2s, 4s, then capped at 5s), each between half and all of it.
	for i, ceiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second} {
		require.GreaterOrEqual(t, slept[i], ceiling/2, "wait %d", i)
		require.LessOrEqual(t, slept[i], ceiling, "wait %d", i)
	}
	require.Contains(t, f.logs.String(), `"msg":"retrying provider request"`)
}

func TestServiceUnavailableStormGivesUp(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := stormServer(t, &calls, 100)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	res, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/items", Query: map[string][]string{"page": {"2"}}})
		return err
	})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, nango.APIError{Method: "GET", URL: srv.URL + "/items?page=2", StatusCode: 503,
		Body: `{"error":"overloaded, try later"}`, Attempts: 5}, *apiErr)
	require.EqualError(t, err, "nango: GET "+srv.URL+`/items?page=2: 503 Service Unavailable after 5 attempts: {"error":"overloaded, try later"}`)
	require.Equal(t, 5, calls.get("/items"), "the default policy makes 5 attempts")
	require.Len(t, f.clock.slept(), 4)
	require.Equal(t, nango.RunFailed, res.State)
	require.Contains(t, f.runLog(t, res.RunID), "503 Service Unavailable after 5 attempts")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := nango.HTTPRetry{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for range 100 {
		for attempt, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 60: time.Second} {
			d := nango.Backoff(p, attempt)
			require.GreaterOrEqual(t, d, ceiling/2)
			require.LessOrEqual(t, d, ceiling)
		}
	}
	// Defaults: 1s doubling to 30s.
	require.LessOrEqual(t, nango.Backoff(nango.HTTPRetry{}, 1), time.Second)
	require.GreaterOrEqual(t, nango.Backoff(nango.HTTPRetry{}, 30), 15*time.Second)
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc(r.URL.Path)
		http.Error(w, "no such thing: "+strings.Repeat("x", 2000), http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	_, err := f.do(t, &nango.Request{Path: "/missing"})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 404, apiErr.StatusCode)
	require.Equal(t, 1, apiErr.Attempts)
	require.Len(t, apiErr.Body, 1024+len("…"), "an excerpt of the body")
	require.True(t, strings.HasPrefix(apiErr.Body, "no such thing: xxx"))
	require.Equal(t, 1, calls.get("/missing"))
	require.False(t, errors.Is(err, nango.ErrRateLimited))
}

func TestRetryStatusesAreConfigurable(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.inc(r.URL.Path)
		switch {
		case r.URL.Path == "/409" && n == 1:
			w.WriteHeader(http.StatusConflict)
		case r.URL.Path == "/500":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{
		Retry: &nango.HTTPRetry{Statuses: []int{http.StatusConflict}},
	}})
	f.addConn(t, "c1", nil)
	resp, err := f.do(t, &nango.Request{Path: "/409"})
	require.NoError(t, err)
	require.Equal(t, 2, resp.Attempts)
	_, err = f.do(t, &nango.Request{Path: "/500"})
	require.Error(t, err)
	require.Equal(t, 1, calls.get("/500"), "500 is not in Statuses")
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.inc(r.URL.Path) <= 2 || r.URL.Path == "/always" {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close() // the connection drops without an answer
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 3}}})
	f.addConn(t, "c1", nil)
	resp, err := f.do(t, &nango.Request{Path: "/flaky"})
	require.NoError(t, err)
	require.Equal(t, 3, resp.Attempts)

	_, err = f.do(t, &nango.Request{Path: "/always"})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 0, apiErr.StatusCode)
	require.Equal(t, 3, apiErr.Attempts)
	require.Error(t, apiErr.Err)
	require.ErrorContains(t, err, "nango: GET "+srv.URL+"/always: after 3 attempts: ")
	require.NotContains(t, err.Error(), `Get "`, "the URL is not repeated by net/http's error")
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// permanentError is a transport's error that no retry can cure.
type permanentError struct{}

func (permanentError) Error() string        { return "no answer for this request" }
func (permanentError) Is(target error) bool { return target == nango.ErrPermanent }

func TestPermanentTransportErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	var calls counter
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		calls.inc(r.URL.Path)
		return nil, fmt.Errorf("transport: %w", permanentError{})
	})
	f := newHTTPFix(t, nango.Integration{BaseURL: "https://api.example.test", HTTP: &nango.HTTPConfig{Transport: rt}})
	f.addConn(t, "c1", nil)
	_, err := f.do(t, &nango.Request{Path: "/x"})
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 1, apiErr.Attempts, "sent once")
	require.Equal(t, 1, calls.get("/x"))
	require.ErrorIs(t, err, nango.ErrPermanent)
	require.ErrorAs(t, err, new(permanentError))
	require.Equal(t, "nango: GET https://api.example.test/x: transport: no answer for this request", err.Error())
}

func TestHangingProviderTimesOut(t *testing.T) {
	t.Parallel()
	var calls counter
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc(r.URL.Path)
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "[")
			w.(http.Flusher).Flush()
		}
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	// The timeout is real time: long enough that a busy machine still delivers each request to
	// the handler before the client gives up on it.
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{
		Timeout: 750 * time.Millisecond, Retry: &nango.HTTPRetry{MaxAttempts: 2},
	}})
	f.addConn(t, "c1", nil)
	for _, path := range []string{"/hang", "/slow-body"} {
		res, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Get(ctx, &nango.Request{Path: path})
			return err
		})
		require.ErrorIs(t, err, nango.ErrTimeout, path)
		require.False(t, errors.Is(err, context.DeadlineExceeded), "a slow provider is not a run timeout")
		require.Equal(t, nango.RunFailed, res.State, path)
		require.EqualError(t, err, "nango: GET "+srv.URL+path+": after 2 attempts: the provider did not answer in time (HTTPConfig.Timeout is 750ms)")
		require.Equal(t, 2, calls.get(path))
	}
}

func TestCancellationDuringBackoff(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := stormServer(t, &calls, 100)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	f.clock.mu.Lock()
	f.clock.block = true
	f.clock.sleepCh = make(chan time.Duration, 1)
	f.clock.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	var backoff time.Duration
	go func() {
		backoff = <-f.clock.sleepCh
		cancel()
	}()
	res, err := f.run(ctx, t, "c1", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Get(ctx, &nango.Request{Path: "/items"})
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, nango.RunCancelled, res.State)
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 503, apiErr.StatusCode)
	require.Equal(t, 1, apiErr.Attempts)
	require.EqualError(t, err, "nango: GET "+srv.URL+`/items: 503 Service Unavailable: context canceled: {"error":"overloaded, try later"}`)
	require.Equal(t, 1, calls.get("/items"), "no attempt after the cancellation")
	require.Greater(t, backoff, time.Duration(0))
}

func TestCancelledBeforeSending(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := stormServer(t, &calls, 0)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := n.Get(cctx, &nango.Request{Path: "/items"})
		require.ErrorIs(t, err, context.Canceled)
		require.EqualError(t, err, "nango: GET "+srv.URL+"/items: context canceled")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 0, calls.get("/items"))
}
