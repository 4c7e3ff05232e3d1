package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/ui"
)

const secret = "sk-ui-test"

// source is the fake provider behind the test syncs.
type source struct {
	mu       sync.Mutex
	contacts []map[string]any
	panicMsg string
	// gate, when set, makes a contacts run save its first half, then wait for the channel to
	// close before saving the rest.
	gate chan struct{}
}

func (s *source) contactsSync(ctx context.Context, n *nango.Nango) error {
	s.mu.Lock()
	contacts, gate, p := s.contacts, s.gate, s.panicMsg
	s.mu.Unlock()
	if p != "" {
		panic(p)
	}
	n.Logger().Info("fetched contacts", "count", len(contacts))
	if gate != nil && len(contacts) > 1 {
		half := len(contacts) / 2
		if err := n.BatchSave(ctx, contacts[:half], "Contact"); err != nil {
			return err
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		contacts = contacts[half:]
	}
	return n.BatchSave(ctx, contacts, "Contact", nango.WithCheckpoint(map[string]any{"updated_after": "2026-01-02T03:04:05Z"}))
}

func contacts(n int, name string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": strings.Repeat("0", 3-len(itoa(i+1))) + itoa(i+1), "name": name + " " + itoa(i+1), "email": "c" + itoa(i+1) + "@example.com"}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// fixture is a real engine on a bbolt file behind the dashboard, mounted under /ui/ on a
// loopback server.
type fixture struct {
	eng *nango.Engine
	src *source
	srv *httptest.Server
	url string // the dashboard's root, ending in /ui

	started chan struct{} // closed when Engine.Run has loaded its schedules
}

// startHandler is a log handler that notices when the engine's scheduler has started.
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

type fixtureOptions struct {
	cfg      *ui.Config
	webhooks *nango.WebhookConfig
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "ui.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	f := &fixture{src: &source{}, started: make(chan struct{})}
	f.eng, err = nango.NewEngine(st, &nango.Config{Logger: slog.New(&startHandler{started: f.started, once: &sync.Once{}}), ShutdownTimeout: 5 * time.Second, Webhooks: o.webhooks})
	require.NoError(t, err)
	require.NoError(t, f.eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every hour", ManualStart: true, TrackDeletes: true, Models: []nango.Model{{Name: "Contact"}}, Sync: nango.SyncFunc(f.src.contactsSync)},
		{Name: "deals", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Deal"}}, Sync: nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil })},
	}}))
	require.NoError(t, f.eng.RegisterIntegration(nango.Integration{Key: "helpdesk", Syncs: []nango.SyncConfig{
		{Name: "tickets", Frequency: "every 30 minutes", ManualStart: true, Models: []nango.Model{{Name: "Ticket"}}, Sync: nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil })},
	}}))
	for _, id := range []string{"acme", "globex"} {
		require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: id}))
	}
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "helpdesk", ID: "initech"}))
	cfg := o.cfg
	if cfg == nil {
		cfg = &ui.Config{SecretKeys: []string{secret}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := ui.New(f.eng, cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", h))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.url = f.srv.URL + "/ui"
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
	case err := <-done:
		t.Fatalf("the engine stopped at once: %v", err)
	}
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, c, req)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

// signIn signs c in with the secret key through the sign-in form.
func (f *fixture) signIn(t *testing.T, c *http.Client) {
	t.Helper()
	_, body := get(t, c, f.url+"/signin")
	resp, _ := post(t, c, f.url+"/signin", url.Values{"csrf": {csrfOf(t, body)}, "key": {secret}, "next": {"/ui/"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
