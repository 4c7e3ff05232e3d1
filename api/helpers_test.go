package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store/bolt"
)

const (
	integration = "crm"
	secret      = "sk-test-1"
	secret2     = "sk-test-2"
)

// source is the fake provider behind the test syncs: what the next run saves and deletes.
type source struct {
	mu       sync.Mutex
	contacts []map[string]any
	deleted  []string
	deals    []map[string]any
	block    chan struct{} // when set, runs of contacts wait for it to close
}

func (s *source) set(contacts []map[string]any, deleted ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contacts, s.deleted = contacts, deleted
}

func (s *source) contactsSync(ctx context.Context, n *nango.Nango) error {
	s.mu.Lock()
	contacts, deleted, block := s.contacts, s.deleted, s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(contacts) > 0 {
		if err := n.BatchSave(ctx, contacts, "Contact", nango.WithCheckpoint(map[string]int{"seen": len(contacts)})); err != nil {
			return err
		}
	}
	if len(deleted) > 0 {
		return n.BatchDelete(ctx, deleted, "Contact")
	}
	return nil
}

func (s *source) dealsSync(ctx context.Context, n *nango.Nango) error {
	s.mu.Lock()
	deals := s.deals
	s.mu.Unlock()
	if len(deals) == 0 {
		return nil
	}
	return n.BatchSave(ctx, deals, "Deal")
}

// fixture is a real engine on a bbolt file behind the API on an httptest server.
type fixture struct {
	eng     *nango.Engine
	src     *source
	srv     *httptest.Server
	prefix  string        // where the handler is mounted on srv
	started chan struct{} // closed when Engine.Run has loaded its schedules
}

func newFixture(t *testing.T, cfg *api.Config) *fixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "api.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	f := &fixture{src: &source{}, started: make(chan struct{})}
	logger := slog.New(&startHandler{started: f.started, once: &sync.Once{}})
	f.eng, err = nango.NewEngine(st, &nango.Config{Logger: logger, ShutdownTimeout: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, f.eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every hour", ManualStart: true, Models: []nango.Model{{Name: "Contact"}}, Sync: nango.SyncFunc(f.src.contactsSync)},
		{Name: "deals", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Deal"}}, Sync: nango.SyncFunc(f.src.dealsSync)},
	}}))
	for _, id := range []string{"conn-1", "conn-2"} {
		require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: integration, ID: id}))
	}
	if cfg == nil {
		cfg = &api.Config{SecretKeys: []string{secret, secret2}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := api.New(f.eng, cfg)
	require.NoError(t, err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// runEngine runs the scheduler until the test ends.
func (f *fixture) runEngine(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-f.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not start")
	}
}

// startHandler closes started when the engine logs that it started, and drops the logs.
type startHandler struct {
	started chan struct{}
	once    *sync.Once
}

func (h *startHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *startHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "engine started" {
		h.once.Do(func() { close(h.started) })
	}
	return nil
}
func (h *startHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *startHandler) WithGroup(string) slog.Handler      { return h }

// sync runs a sync for a connection with what the source holds now.
func (f *fixture) sync(t *testing.T, syncName, conn string) *nango.RunResult {
	t.Helper()
	res, err := f.eng.RunSync(t.Context(), integration, syncName, conn, nil)
	require.NoError(t, err)
	return res
}

// waitRuns waits until the sync has n finished runs for the connection.
func (f *fixture) waitRuns(t *testing.T, syncName, conn string, n int) []*nango.Run {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := f.eng.RunHistory(t.Context(), nango.RunHistoryParams{Integration: integration, Sync: syncName, Connection: conn})
		require.NoError(t, err)
		finished := 0
		for _, r := range runs {
			if r.State != nango.RunRunning {
				finished++
			}
		}
		if finished >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s for %s: %d finished runs, want %d", syncName, conn, finished, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answer is an HTTP answer with its JSON body decoded.
type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// code returns the error code of an error answer.
func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) message() string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// errors returns the validation errors of an error answer.
func (a answer) errors() []any {
	e, _ := a.body["error"].(map[string]any)
	l, _ := e["errors"].([]any)
	return l
}

type req struct {
	method string
	path   string
	header map[string]string // "Authorization" defaults to the first secret key
	body   any               // a string is sent as is
}

func (f *fixture) do(t *testing.T, r req) answer {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequestWithContext(t.Context(), r.method, f.srv.URL+f.prefix+r.path, body)
	require.NoError(t, err)
	hr.Header.Set("Authorization", "Bearer "+secret)
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := f.srv.Client().Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), a.raw)
	require.NoError(t, json.Unmarshal(raw, &a.body), a.raw)
	return a
}

// get sends GET /records with the connection headers.
func (f *fixture) records(t *testing.T, conn, query string) answer {
	t.Helper()
	return f.do(t, req{method: http.MethodGet, path: "/records?" + query,
		header: map[string]string{"Connection-Id": conn, "Provider-Config-Key": integration}})
}

// requireError checks an error answer's status and code.
func requireError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	require.Equal(t, status, a.status, a.raw)
	require.Equal(t, code, a.code(), a.raw)
	require.True(t, strings.HasPrefix(a.message(), "api: "), a.raw)
}

func contact(id any, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "email": strings.ToLower(name) + "@example.com"}
}
