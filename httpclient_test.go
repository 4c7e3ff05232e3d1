package nango_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// fakeClock is the engine's clock in the HTTP tests: a nangotest.Clock (sleeping advances it at
// once and records the wait) that can also block a sleep until its context ends.
type fakeClock struct {
	*nangotest.Clock
	mu sync.Mutex
	// block, when set, makes Sleep wait for ctx instead (cancellation during backoff).
	block   bool
	sleepCh chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{Clock: nangotest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))}
}

func (c *fakeClock) now() time.Time { return c.Now() }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	block, ch := c.block, c.sleepCh
	c.mu.Unlock()
	if ch != nil {
		ch <- d
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.Clock.Sleep(ctx, d)
}

func (c *fakeClock) slept() []time.Duration { return c.Slept() }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpFix is an engine with one integration whose syncs "a" and "b" run the function set for
// them, over a memory store, with a fake HTTP clock and every log line (debug included)
// captured.
type httpFix struct {
	eng   *nango.Engine
	st    store.Store
	clock *fakeClock
	logs  *syncBuffer

	mu    sync.Mutex
	execs map[string]func(ctx context.Context, n *nango.Nango) error
}

type item struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func newHTTPFix(t *testing.T, in nango.Integration) *httpFix {
	t.Helper()
	return newHTTPFixClock(t, in, newFakeClock())
}

func newHTTPFixClock(t *testing.T, in nango.Integration, clock *fakeClock) *httpFix {
	t.Helper()
	f := &httpFix{st: memory.New(), clock: clock, logs: &syncBuffer{}, execs: map[string]func(context.Context, *nango.Nango) error{}}
	t.Cleanup(func() { _ = f.st.Close() })
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng, err := nango.NewEngine(f.st, &nango.Config{Logger: logger, Clock: f.clock})
	require.NoError(t, err)
	f.eng = eng
	if in.Key == "" {
		in.Key = "prov"
	}
	for _, name := range []string{"a", "b"} {
		in.Syncs = append(in.Syncs, nango.SyncConfig{
			Name:   name,
			Models: []nango.Model{nango.ModelOf[item]("Item" + strings.ToUpper(name))},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				f.mu.Lock()
				exec := f.execs[name]
				f.mu.Unlock()
				return exec(ctx, n)
			}),
		})
	}
	require.NoError(t, eng.RegisterIntegration(in))
	return f
}

func (f *httpFix) addConn(t *testing.T, id string, creds *nango.Credentials) {
	t.Helper()
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: id, Credentials: creds}))
}

// run runs sync "a" (or the one named) for the connection with exec as its code.
func (f *httpFix) run(ctx context.Context, t *testing.T, conn string, exec func(ctx context.Context, n *nango.Nango) error, syncName ...string) (*nango.RunResult, error) {
	t.Helper()
	name := "a"
	if len(syncName) > 0 {
		name = syncName[0]
	}
	f.mu.Lock()
	f.execs[name] = exec
	f.mu.Unlock()
	return f.eng.RunSync(ctx, "prov", name, conn, nil)
}

// do runs one request in a run of sync "a" for connection "c1".
func (f *httpFix) do(t *testing.T, req *nango.Request) (*nango.Response, error) {
	t.Helper()
	var resp *nango.Response
	var reqErr error
	_, _ = f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		resp, reqErr = n.Request(ctx, req)
		return reqErr
	})
	return resp, reqErr
}

// runLog returns the stored log and error of a run.
func (f *httpFix) runLog(t *testing.T, runID string) string {
	t.Helper()
	run, err := f.st.RunGet(context.WithoutCancel(t.Context()), runID)
	require.NoError(t, err)
	return strings.Join(run.Log, "\n") + "\n" + run.Error
}

// counter counts requests per path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[path]++
	return c.n[path]
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestRequestBuildsURLHeadersAndBody(t *testing.T) {
	t.Parallel()
	type seen struct {
		Method, Path, RawQuery, Accept, Version, Custom, ContentType, Body string
	}
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Accept"), r.Header.Get("X-Api-Version"),
			r.Header.Get("X-Custom"), r.Header.Get("Content-Type"), string(body)}
		writeJSON(w, http.StatusOK, map[string]any{"id": "42", "name": "Ada"})
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL + "/api/v2/", HTTP: &nango.HTTPConfig{
		Header: http.Header{"X-Api-Version": {"2025-01"}, "x-custom": {"integration"}}, // keys are canonicalised
	}})
	f.addConn(t, "c1", nil)

	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		resp, err := n.Get(ctx, &nango.Request{Path: "/items/a%2Fb?state=all", Query: map[string][]string{"limit": {"5"}},
			Header: http.Header{"x-custom": {"request"}}})
		require.NoError(t, err)
		var it item
		require.NoError(t, resp.Decode(&it))
		require.Equal(t, item{ID: "42", Name: "Ada"}, it)
		require.Equal(t, 1, resp.Attempts)
		require.Equal(t, seen{"GET", "/api/v2/items/a%2Fb", "limit=5&state=all", "application/json", "2025-01", "request", "", ""}, <-got)

		_, err = n.Post(ctx, &nango.Request{Path: "items", JSON: item{ID: "7"}})
		require.NoError(t, err)
		require.Equal(t, seen{"POST", "/api/v2/items", "", "application/json", "2025-01", "integration", "application/json", `{"id":"7"}`}, <-got)

		_, err = n.Request(ctx, &nango.Request{Method: "put", Path: srv.URL + "/elsewhere?x=1", Body: []byte("raw"),
			Header: http.Header{"Content-Type": {"text/plain"}, "Accept": {"text/plain"}}})
		require.NoError(t, err)
		require.Equal(t, seen{"PUT", "/elsewhere", "x=1", "text/plain", "2025-01", "integration", "text/plain", "raw"}, <-got)
		return nil
	})
	require.NoError(t, err)
}

func TestRequestBadInput(t *testing.T) {
	t.Parallel()
	f := newHTTPFix(t, nango.Integration{BaseURL: "https://api.example.com"})
	f.addConn(t, "c1", nil)
	noBase := newHTTPFix(t, nango.Integration{})
	noBase.addConn(t, "c1", nil)

	cases := []struct {
		name string
		fix  *httpFix
		call func(ctx context.Context, n *nango.Nango) error
		want string
	}{
		{"nil request", f, func(ctx context.Context, n *nango.Nango) error { _, err := n.Request(ctx, nil); return err }, "nango: nil *Request"},
		{"no path", f, func(ctx context.Context, n *nango.Nango) error { _, err := n.Get(ctx, &nango.Request{}); return err }, "nango: the request has no Path"},
		{"method mismatch", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Get(ctx, &nango.Request{Method: "POST", Path: "/x"})
			return err
		}, `nango: GET called with a request whose Method is "POST"`},
		{"json and body", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Post(ctx, &nango.Request{Path: "/x", JSON: 1, Body: []byte("1")})
			return err
		}, "nango: POST https://api.example.com/x: the request sets both JSON and Body"},
		{"bad json", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Post(ctx, &nango.Request{Path: "/x", JSON: func() {}})
			return err
		}, "nango: POST https://api.example.com/x: encoding the JSON body: json: unsupported type: func()"},
		{"scheme", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Get(ctx, &nango.Request{Path: "ftp://example.com/x"})
			return err
		}, `nango: the request's Path has scheme "ftp"; want http or https`},
		{"scheme-relative", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Get(ctx, &nango.Request{Path: "//evil.example.com/x"})
			return err
		}, "nango: the request's Path starts with // (a host without a scheme); give a full URL or a path"},
		{"relative without base", noBase, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Get(ctx, &nango.Request{Path: "/x"})
			return err
		}, `nango: the request's Path "/x" is relative but integration "prov" has no BaseURL`},
		{"bad method", f, func(ctx context.Context, n *nango.Nango) error {
			_, err := n.Request(ctx, &nango.Request{Method: "BAD METHOD", Path: "/x"})
			return err
		}, `nango: BAD METHOD https://api.example.com/x: net/http: invalid method "BAD METHOD"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			_, _ = tc.fix.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
				got = tc.call(ctx, n)
				return nil
			})
			require.EqualError(t, got, tc.want)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, "<html>")
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	resp, err := f.do(t, &nango.Request{Path: "/html"})
	require.NoError(t, err)
	var v map[string]any
	require.ErrorContains(t, resp.Decode(&v), "nango: decoding the response of GET "+srv.URL+"/html into *map[string]interface {}: invalid character '<'")
	resp, err = f.do(t, &nango.Request{Path: "/empty"})
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.EqualError(t, resp.Decode(&v), "nango: decoding the response of GET "+srv.URL+"/empty: the body is empty")
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc(r.URL.Path)
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{MaxResponseBytes: 99}})
	f.addConn(t, "c1", nil)
	_, err := f.do(t, &nango.Request{Path: "/big"})
	require.EqualError(t, err, "nango: GET "+srv.URL+"/big: the response is larger than HTTPConfig.MaxResponseBytes (99 bytes)")
	require.Equal(t, 1, calls.get("/big"), "not retried")
}

func TestHTTPConfigValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   nango.Integration
		want string
	}{
		{"base url", nango.Integration{BaseURL: "api.example.com"}, `BaseURL "api.example.com" is not an absolute http or https URL`},
		{"base url query", nango.Integration{BaseURL: "https://api.example.com/?a=1"}, `BaseURL "https://api.example.com/?a=1" must not have a query, a fragment or user info`},
		{"timeout", nango.Integration{HTTP: &nango.HTTPConfig{Timeout: -1}}, "HTTPConfig.Timeout -1ns is negative"},
		{"max body", nango.Integration{HTTP: &nango.HTTPConfig{MaxResponseBytes: -1}}, "HTTPConfig.MaxResponseBytes -1 is negative"},
		{"max pages", nango.Integration{HTTP: &nango.HTTPConfig{MaxPages: -1}}, "HTTPConfig.MaxPages -1 is negative"},
		{"origin", nango.Integration{HTTP: &nango.HTTPConfig{AuthOrigins: []string{"https://x.example.com/path"}}}, `HTTPConfig.AuthOrigins: "https://x.example.com/path" is not an origin such as https://api.example.com`},
		{"attempts", nango.Integration{HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: -1}}}, "HTTPRetry.MaxAttempts -1 is negative"},
		{"delays", nango.Integration{HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{InitialBackoff: time.Minute, MaxBackoff: time.Second}}}, "HTTPRetry.MaxBackoff 1s is less than InitialBackoff 1m0s"},
		{"max wait", nango.Integration{HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxWait: -time.Second}}}, "HTTPRetry.MaxWait -1s is negative"},
		{"statuses", nango.Integration{HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{Statuses: []int{5000}}}}, "HTTPRetry.Statuses: 5000 is not an HTTP status"},
		{"rate", nango.Integration{HTTP: &nango.HTTPConfig{RateLimit: &nango.RateLimit{Limit: -1}}}, "RateLimit.Limit -1 is negative"},
		{"burst", nango.Integration{HTTP: &nango.HTTPConfig{RateLimit: &nango.RateLimit{Limit: 1, Burst: -1}}}, "RateLimit.Burst -1 is negative"},
		{"auth without origin", nango.Integration{Auth: nango.BasicAuth{}}, "Auth needs a BaseURL or HTTPConfig.AuthOrigins: credentials are only sent to those origins"},
		{"oauth without config", nango.Integration{BaseURL: "https://x.example.com", Auth: &nango.OAuth2{}}, "OAuth2 auth without a Config"},
		{"api key both", nango.Integration{BaseURL: "https://x.example.com", Auth: nango.APIKey{Header: "X-Key", Query: "key"}}, `APIKey sets both Header "X-Key" and Query "key": choose one`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHTTPFix(t, tc.in)
			// Bad configuration is reported when a connection is added, before any run.
			err := f.eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1"})
			require.ErrorIs(t, err, nango.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, `integration "prov"`)
		})
	}
}

func TestHTTPClientAndHandleAfterRun(t *testing.T) {
	t.Parallel()
	auths := make(chan string, 10)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths <- "other:" + r.Header.Get("Authorization")
	}))
	t.Cleanup(other.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths <- "api:" + r.Header.Get("Authorization")
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		}
	}))
	t.Cleanup(api.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: api.URL, Auth: nango.APIKey{}})
	f.addConn(t, "c1", &nango.Credentials{APIKey: "sekret-key-1"})

	var kept *http.Client
	var keptN *nango.Nango
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		hc := n.HTTPClient()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/direct", nil)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "api:Bearer sekret-key-1", <-auths)

		// Credentials go only to the integration's origin, even through a redirect.
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/redirect", nil)
		resp, err = hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "api:Bearer sekret-key-1", <-auths)
		require.Equal(t, "other:", <-auths)
		_, err = n.Get(ctx, &nango.Request{Path: other.URL + "/abs"})
		require.NoError(t, err)
		require.Equal(t, "other:", <-auths)
		kept, keptN = hc, n
		return nil
	})
	require.NoError(t, err)

	_, err = kept.Get(api.URL)
	require.ErrorIs(t, err, nango.ErrRunFinished)
	_, err = keptN.Get(t.Context(), &nango.Request{Path: "/x"})
	require.ErrorIs(t, err, nango.ErrRunFinished)
	for _, err := range keptN.Paginate(t.Context(), &nango.Request{Path: "/x"}, nango.CursorPagination{CursorPath: "next"}) {
		require.ErrorIs(t, err, nango.ErrRunFinished)
	}
	require.Empty(t, auths)
}

// secretsFix drives requests that fail in every way while carrying secrets, and checks that no
// secret reaches the logs, the run history or the errors.
func TestSecretsAbsentFromLogsRunLogAndErrors(t *testing.T) {
	t.Parallel()
	const (
		access  = "access-TOKEN-aaaa1111"
		refresh = "refresh-TOKEN-bbbb2222"
		fresh   = "access-TOKEN-cccc3333"
		secret  = "client-SECRET-dddd4444"
		apiKey  = "api-KEY-eeee5555"
	)
	var calls counter
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		writeJSON(w, http.StatusOK, map[string]any{"access_token": fresh, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokenSrv.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.inc(r.URL.Path)
		auth := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/expire":
			if auth == "Bearer "+access {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, "token "+access+" expired")
				return
			}
		case "/echo":
			// A provider that quotes the credentials in its error.
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "bad request with "+auth+" and key="+r.URL.Query().Get("key"))
			return
		case "/flaky":
			if n == 1 {
				hj, _ := w.(http.Hijacker)
				conn, _, _ := hj.Hijack()
				conn.Close()
				return
			}
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "upstream said "+auth)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(api.Close)

	oauth := newHTTPFix(t, nango.Integration{BaseURL: api.URL, Auth: &nango.OAuth2{Config: oauthConfig(tokenSrv.URL, secret)},
		HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 3}}})
	oauth.addConn(t, "c1", &nango.Credentials{Token: tokenWith(access, refresh)})
	keyed := newHTTPFix(t, nango.Integration{BaseURL: api.URL, Auth: nango.APIKey{Query: "key"},
		HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 2}}})
	keyed.addConn(t, "c1", &nango.Credentials{APIKey: apiKey})

	var errs []string
	for _, f := range []*httpFix{oauth, keyed} {
		res, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			n.Logger().Info("about to call", "creds", nango.Credentials{APIKey: apiKey, Token: tokenWith(access, refresh)})
			for _, p := range []string{"/expire", "/echo", "/flaky", "/ok?access_token=" + access + "&key=" + apiKey} {
				if _, err := n.Get(ctx, &nango.Request{Path: p}); err != nil {
					errs = append(errs, err.Error())
				}
			}
			_, err := n.Get(ctx, &nango.Request{Path: "/echo"})
			return err
		})
		require.Error(t, err)
		require.NotEmpty(t, res.RunID)
		logs, runLog := f.logs.String(), f.runLog(t, res.RunID)
		require.Contains(t, logs, `"msg":"provider request"`, "the debug lines are there")
		require.Contains(t, logs, "REDACTED")
		require.Contains(t, runLog, "REDACTED")
		for _, s := range []string{access, refresh, fresh, secret, apiKey} {
			require.NotContains(t, logs, s)
			require.NotContains(t, runLog, s)
			require.NotContains(t, strings.Join(errs, "\n"), s)
		}
	}
	require.Len(t, errs, 4, strings.Join(errs, "\n"))
	joined := strings.Join(errs, "\n")
	require.Contains(t, joined, "400 Bad Request: bad request with Bearer [REDACTED] and key=")
	require.Contains(t, joined, "502 Bad Gateway after 3 attempts: upstream said Bearer [REDACTED]")
	require.Contains(t, joined, "and key=[REDACTED]")
}

func TestConnectionCredentialsRequired(t *testing.T) {
	t.Parallel()
	f := newHTTPFix(t, nango.Integration{BaseURL: "https://api.example.com", Auth: nango.APIKey{}})
	f.addConn(t, "c1", nil)
	_, err := f.do(t, &nango.Request{Path: "/x"})
	var ae *nango.AuthError
	require.ErrorAs(t, err, &ae)
	require.ErrorIs(t, err, nango.ErrReauthRequired)
	require.EqualError(t, err, `nango: connection "c1" of integration "prov" needs re-authorisation: it has no credentials: add them with Engine.AddConnection`)
}

func TestIdempotentMethods(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc(r.Method + " " + r.URL.Path)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 3}}})
	f.addConn(t, "c1", nil)
	_, _ = f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		for _, m := range []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"} {
			_, err := n.Request(ctx, &nango.Request{Method: m, Path: "/x"})
			var ae *nango.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, http.StatusServiceUnavailable, ae.StatusCode)
		}
		_, err := n.Post(ctx, &nango.Request{Path: "/search", Retry: true, JSON: map[string]string{"q": "x"}})
		require.Error(t, err)
		_, err = n.Get(ctx, &nango.Request{Path: "/once", MaxAttempts: 1})
		require.Error(t, err)
		return nil
	})
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} {
		require.Equal(t, 3, calls.get(m+" /x"), m)
	}
	require.Equal(t, 1, calls.get("POST /x"))
	require.Equal(t, 1, calls.get("PATCH /x"))
	require.Equal(t, 3, calls.get("POST /search"), "a POST that opts in is retried")
	require.Equal(t, 1, calls.get("GET /once"))
	require.False(t, errors.Is(nil, nango.ErrTimeout))
}
