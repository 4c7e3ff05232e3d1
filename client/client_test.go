package client_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/gonango/nango/client"
	"github.com/gonango/nango/store/bolt"
)

const (
	integration = "crm"
	secret      = "sk-client-test"
)

type Contact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// server is a real engine on a bbolt file behind the API.
type server struct {
	eng  *nango.Engine
	srv  *httptest.Server
	mu   sync.Mutex
	save []Contact
	del  []string
	hold chan struct{} // runs wait for it to close, when set

	started chan struct{} // closed when Engine.Run has loaded its schedules
}

func (s *server) exec(ctx context.Context, n *nango.Nango) error {
	s.mu.Lock()
	save, del, hold := s.save, s.del, s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(save) > 0 {
		if err := n.BatchSave(ctx, save, "Contact"); err != nil {
			return err
		}
	}
	if len(del) > 0 {
		return n.BatchDelete(ctx, del, "Contact")
	}
	return nil
}

func (s *server) set(save []Contact, del ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.save, s.del = save, del
}

func newServer(t *testing.T, prefix string) *server {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "client.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	s := &server{started: make(chan struct{})}
	s.eng, err = nango.NewEngine(st, &nango.Config{Logger: slog.New(&startHandler{started: s.started})})
	require.NoError(t, err)
	require.NoError(t, s.eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{{
		Name: "contacts", Frequency: "every hour", ManualStart: true,
		Models: []nango.Model{nango.ModelOf[Contact]("Contact")}, Sync: nango.SyncFunc(s.exec),
	}}}))
	require.NoError(t, s.eng.AddConnection(t.Context(), nango.Connection{Integration: integration, ID: "conn-1"}))
	h, err := api.New(s.eng, &api.Config{SecretKeys: []string{secret}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// seed saves five contacts, then updates b and deletes c.
func (s *server) seed(t *testing.T) {
	t.Helper()
	var cs []Contact
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		cs = append(cs, Contact{ID: id, Name: "Name " + id, Email: id + "@example.com"})
	}
	s.set(cs)
	_, err := s.eng.RunSync(t.Context(), integration, "contacts", "conn-1", nil)
	require.NoError(t, err)
	s.set([]Contact{{ID: "b", Name: "Bee", Email: "b@example.com"}}, "c")
	_, err = s.eng.RunSync(t.Context(), integration, "contacts", "conn-1", nil)
	require.NoError(t, err)
}

func (s *server) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-s.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not start")
	}
}

// startHandler closes started when the engine logs that it has loaded its schedules.
type startHandler struct {
	started chan struct{}
	once    sync.Once
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

func (s *server) waitRuns(t *testing.T, n int) []*nango.Run {
	t.Helper()
	var runs []*nango.Run
	require.Eventually(t, func() bool {
		var err error
		runs, err = s.eng.RunHistory(t.Context(), nango.RunHistoryParams{Integration: integration, Sync: "contacts", Connection: "conn-1"})
		require.NoError(t, err)
		finished := 0
		for _, r := range runs {
			if r.State != nango.RunRunning {
				finished++
			}
		}
		return finished >= n
	}, 10*time.Second, 5*time.Millisecond)
	return runs
}

func newClient(t *testing.T, s *server, base string) *client.Client {
	t.Helper()
	c, err := client.New(s.srv.URL+base, secret, nil)
	require.NoError(t, err)
	return c
}

func params() client.ListRecordsParams {
	return client.ListRecordsParams{ProviderConfigKey: integration, ConnectionID: "conn-1", Model: "Contact"}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for base, msg := range map[string]string{
		"localhost:3003":          "want an http or https URL with a host",
		"ftp://example.com":       "want an http or https URL with a host",
		"http://":                 "want an http or https URL with a host",
		"http://example.com/?a=b": "must not have a query or a fragment",
		"http://exa mple.com":     "invalid character",
	} {
		_, err := client.New(base, "k", nil)
		require.ErrorContains(t, err, msg, base)
	}
	_, err := client.New("https://example.com/nango/", "", &client.Options{UserAgent: "x", HTTPClient: &http.Client{}})
	require.NoError(t, err)
}

func TestListRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	s.seed(t)
	c := newClient(t, s, "/")
	page, err := c.ListRecords(t.Context(), params())
	require.NoError(t, err)
	require.Empty(t, page.NextCursor)
	var got []string
	for _, r := range page.Records {
		got = append(got, r.ID+":"+r.Metadata.LastAction)
		require.False(t, r.Metadata.FirstSeenAt.IsZero())
		require.False(t, r.Metadata.LastModifiedAt.IsZero())
		require.True(t, r.Metadata.PrunedAt.IsZero())
		require.NotEmpty(t, r.Metadata.Cursor)
		require.NotContains(t, string(r.Data), "_nango_metadata")
	}
	require.Equal(t, []string{"a:ADDED", "d:ADDED", "e:ADDED", "b:UPDATED", "c:DELETED"}, got)
	require.False(t, page.Records[4].Metadata.DeletedAt.IsZero())
	require.True(t, page.Records[3].Metadata.DeletedAt.IsZero())
	var b Contact
	require.NoError(t, page.Records[3].Decode(&b))
	require.Equal(t, Contact{ID: "b", Name: "Bee", Email: "b@example.com"}, b)
	require.ErrorContains(t, page.Records[3].Decode(&[]int{}), `client: decoding record "b"`)

	// The same times as the engine's.
	want, err := s.eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: integration, Connection: "conn-1", Model: "Contact"})
	require.NoError(t, err)
	for i, r := range want.Records {
		require.True(t, r.Metadata.LastModifiedAt.Equal(page.Records[i].Metadata.LastModifiedAt))
		require.True(t, r.Metadata.FirstSeenAt.Equal(page.Records[i].Metadata.FirstSeenAt))
		require.Equal(t, r.Metadata.Cursor, page.Records[i].Metadata.Cursor)
	}

	p := params()
	p.Limit = 2
	page, err = c.ListRecords(t.Context(), p)
	require.NoError(t, err)
	require.Len(t, page.Records, 2)
	require.NotEmpty(t, page.NextCursor)

	p = params()
	p.Filter = "added,deleted"
	p.IDs = []string{"a", "b", "c"}
	page, err = c.ListRecords(t.Context(), p)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "c"}, recordIDs(page.Records))

	p = params()
	p.ModifiedAfter = want.Records[3].Metadata.LastModifiedAt
	page, err = c.ListRecords(t.Context(), p)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, recordIDs(page.Records))

	_, err = c.ListRecords(t.Context(), client.ListRecordsParams{Model: "Contact"})
	require.EqualError(t, err, "client: ListRecords needs ProviderConfigKey, ConnectionID and Model")
}

func recordIDs(rs []client.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestAllRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t, "/nango") // under a prefix
	s.seed(t)
	c := newClient(t, s, "/nango")
	p := params()
	p.Limit = 2
	var got []string
	last := ""
	for r, err := range c.AllRecords(t.Context(), p) {
		require.NoError(t, err)
		got = append(got, r.ID)
		last = r.Metadata.Cursor
	}
	require.Equal(t, []string{"a", "d", "e", "b", "c"}, got)

	// From the last cursor: nothing new, then what changes.
	p.Cursor = last
	for range c.AllRecords(t.Context(), p) {
		t.Fatal("nothing changed")
	}
	s.set([]Contact{{ID: "f", Name: "Eff"}})
	_, err := s.eng.RunSync(t.Context(), integration, "contacts", "conn-1", nil)
	require.NoError(t, err)
	got = nil
	for r, err := range c.AllRecords(t.Context(), p) {
		require.NoError(t, err)
		got = append(got, r.ID)
	}
	require.Equal(t, []string{"f"}, got)

	// Stopping early, and an error ends the iteration.
	n := 0
	for range c.AllRecords(t.Context(), params()) {
		n++
		break
	}
	require.Equal(t, 1, n)
	p = params()
	p.Cursor = "bogus"
	n = 0
	for _, err := range c.AllRecords(t.Context(), p) {
		n++
		require.True(t, client.IsCode(err, "invalid_cursor"), err)
	}
	require.Equal(t, 1, n)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	s.seed(t)
	bad, err := client.New(s.srv.URL, "wrong", nil)
	require.NoError(t, err)
	_, err = bad.ListRecords(t.Context(), params())
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusUnauthorized, e.StatusCode)
	require.Equal(t, "unknown_account", e.Code)
	require.ErrorContains(t, err, "client: HTTP 401 unknown_account: authentication failed")

	c := newClient(t, s, "")
	p := params()
	p.Limit = 20000
	_, err = c.ListRecords(t.Context(), p)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "invalid_query_params", e.Code)
	require.Equal(t, []client.FieldError{{Code: "too_big", Message: "must be at most 10000", Path: []any{"limit"}}}, e.Errors)
	// One prefix, the facts once, however many layers the error went through.
	p = params()
	p.Cursor = "not-a-cursor"
	_, err = c.ListRecords(t.Context(), p)
	require.True(t, client.IsCode(err, "invalid_cursor"), err)
	require.True(t, strings.HasPrefix(err.Error(), "client: HTTP 400 invalid_cursor: listing records of "), err.Error())
	for _, prefix := range []string{"api: ", "nango: ", "store: "} {
		require.NotContains(t, err.Error(), prefix)
	}
	p = params()
	p.ConnectionID = "conn-9"
	_, err = c.ListRecords(t.Context(), p)
	require.True(t, client.IsCode(err, "unknown_connection"))
	p = params()
	p.Variant = "eu"
	_, err = c.ListRecords(t.Context(), p)
	require.True(t, client.IsCode(err, "unknown_variant"))
	require.False(t, client.IsCode(errors.New("x"), "unknown_variant"))

	// An answer that is not the API's: a proxy in between.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream unavailable", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	pc, err := client.New(proxy.URL, secret, nil)
	require.NoError(t, err)
	_, err = pc.ListRecords(t.Context(), params())
	require.EqualError(t, err, "client: HTTP 502: upstream unavailable")

	// A cancelled context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.ListRecords(ctx, params())
	require.ErrorIs(t, err, context.Canceled)
}

func TestControl(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	c := newClient(t, s, "")
	sel := client.SyncSelector{ProviderConfigKey: integration, ConnectionID: "conn-1", Syncs: []string{"contacts"}}
	s.set([]Contact{{ID: "a", Name: "A"}})

	err := c.Trigger(t.Context(), client.TriggerParams{SyncSelector: sel})
	require.True(t, client.IsCode(err, "engine_not_running"), err)
	s.run(t)

	st, err := c.Status(t.Context(), sel)
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, "PAUSED", st[0].Status)
	require.True(t, st[0].FinishedAt.IsZero())
	require.True(t, st[0].NextScheduledSyncAt.IsZero())
	require.Equal(t, "every hour", st[0].Frequency)
	require.Equal(t, "null", string(st[0].Checkpoint))

	require.NoError(t, c.Trigger(t.Context(), client.TriggerParams{SyncSelector: sel}))
	runs := s.waitRuns(t, 1)
	require.Equal(t, nango.TriggerManual, runs[0].Trigger)
	// A run that just finished keeps its place in the scheduler for a moment after its record
	// says it finished: a trigger then may meet a 409.
	require.Eventually(t, func() bool {
		err := c.Trigger(t.Context(), client.TriggerParams{SyncSelector: client.SyncSelector{ProviderConfigKey: integration}, Reset: true, EmptyCache: true})
		if client.IsCode(err, "sync_already_running") {
			return false
		}
		require.NoError(t, err)
		return true
	}, 10*time.Second, 5*time.Millisecond)
	runs = s.waitRuns(t, 2)
	require.Equal(t, nango.TriggerReset, runs[0].Trigger)
	err = c.Trigger(t.Context(), client.TriggerParams{SyncSelector: sel, EmptyCache: true})
	require.True(t, client.IsCode(err, "invalid_body"), err)

	require.NoError(t, c.Start(t.Context(), sel))
	runs = s.waitRuns(t, 3) // starting a paused sync runs it now: an incremental run
	require.Eventually(t, func() bool {
		st, err = c.Status(t.Context(), client.SyncSelector{ProviderConfigKey: integration})
		require.NoError(t, err)
		return st[0].Status == "SUCCESS" && !st[0].NextScheduledSyncAt.IsZero()
	}, 10*time.Second, 5*time.Millisecond)
	require.Len(t, st, 1)
	got := st[0]
	require.Equal(t, "contacts", got.Name)
	require.Equal(t, "base", got.Variant)
	require.Equal(t, "conn-1", got.ConnectionID)
	require.Equal(t, "INCREMENTAL", got.Type)
	require.Equal(t, "SUCCESS", got.LatestExecutionStatus)
	require.Contains(t, got.LatestResult, "Contact")
	require.Equal(t, map[string]int{"Contact": 1}, got.RecordCount)
	require.False(t, got.FinishedAt.IsZero())
	require.WithinDuration(t, runs[0].EndedAt, got.FinishedAt, time.Second)

	require.NoError(t, c.Pause(t.Context(), sel))
	st, err = c.Status(t.Context(), sel)
	require.NoError(t, err)
	require.Equal(t, "PAUSED", st[0].Status)

	f, err := c.UpdateFrequency(t.Context(), client.UpdateFrequencyParams{ProviderConfigKey: integration, ConnectionID: "conn-1", Sync: "contacts", Frequency: "every 2 hours"})
	require.NoError(t, err)
	require.Equal(t, "every 2 hours", f)
	f, err = c.UpdateFrequency(t.Context(), client.UpdateFrequencyParams{ProviderConfigKey: integration, ConnectionID: "conn-1", Sync: "contacts"})
	require.NoError(t, err)
	require.Equal(t, "every hour", f)
	_, err = c.UpdateFrequency(t.Context(), client.UpdateFrequencyParams{ProviderConfigKey: integration, ConnectionID: "conn-1", Sync: "contacts", Frequency: "sometimes"})
	require.True(t, client.IsCode(err, "invalid_body"), err)
	_, err = c.UpdateFrequency(t.Context(), client.UpdateFrequencyParams{ProviderConfigKey: integration})
	require.Error(t, err)

	require.ErrorContains(t, c.Start(t.Context(), client.SyncSelector{}), "needs a ProviderConfigKey")
	require.ErrorContains(t, c.Pause(t.Context(), client.SyncSelector{}), "needs a ProviderConfigKey")
	_, err = c.Status(t.Context(), client.SyncSelector{})
	require.ErrorContains(t, err, "needs a ProviderConfigKey")
	require.ErrorContains(t, c.Trigger(t.Context(), client.TriggerParams{}), "needs a ProviderConfigKey")
	err = c.Start(t.Context(), client.SyncSelector{ProviderConfigKey: integration, Syncs: []string{"leads"}})
	require.True(t, client.IsCode(err, "unknown_sync"), err)
}

func TestTriggerWhileRunning(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	c := newClient(t, s, "")
	s.run(t)
	hold := make(chan struct{})
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
	sel := client.SyncSelector{ProviderConfigKey: integration, ConnectionID: "conn-1"}
	require.NoError(t, c.Trigger(t.Context(), client.TriggerParams{SyncSelector: sel}))
	require.Eventually(t, func() bool {
		st, err := c.Status(t.Context(), sel)
		require.NoError(t, err)
		return st[0].Status == "RUNNING"
	}, 10*time.Second, 5*time.Millisecond)
	err := c.Trigger(t.Context(), client.TriggerParams{SyncSelector: sel})
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusConflict, e.StatusCode)
	require.Equal(t, "sync_already_running", e.Code)
	close(hold)
	s.waitRuns(t, 1)
}

func ExampleClient_AllRecords() {
	ctx := context.Background()
	c, err := client.New("http://localhost:3003", "my-secret-key", nil)
	if err != nil {
		panic(err)
	}
	last := "" // the cursor of the last record processed, kept with your own data
	for rec, err := range c.AllRecords(ctx, client.ListRecordsParams{
		ProviderConfigKey: "salesforce", ConnectionID: "demo", Model: "SalesforceContact", Cursor: last,
	}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch rec.Metadata.LastAction {
		case client.ActionAdded, client.ActionUpdated:
			// index the record
		case client.ActionDeleted:
			// remove it
		}
		last = rec.Metadata.Cursor
	}
}
