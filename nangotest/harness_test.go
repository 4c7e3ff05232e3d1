package nangotest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

func TestInitialThenIncremental(t *testing.T) {
	t.Parallel()
	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})

	first := h.Run()
	require.Equal(t, 1, first.Number)
	require.True(t, first.Initial)
	require.Equal(t, nango.RunSucceeded, first.State)
	require.Equal(t, 5, first.Models["Contact"].Added)
	require.Equal(t, 3, first.Saves)
	require.Equal(t, []string{"c1", "c2", "c3", "c4", "c5"}, first.AddedIDs("Contact"))
	require.Equal(t, Contact{ID: "c1", Name: "Ada Lovelace", Email: "ada@example.com"}, nangotest.Added[Contact](first, "Contact")[0])
	cp, ok := nangotest.CheckpointAs[contactsCheckpoint](first)
	require.True(t, ok)
	require.Equal(t, contactsCheckpoint{Since: "2025-01-01T10:30:00Z", Newest: "2025-01-01T10:30:00Z"}, cp)
	require.Len(t, first.Requests, 3)
	require.Equal(t, "/v1/contacts", first.Requests[2].Path)
	require.Equal(t, "p3", first.Requests[2].Query.Get("cursor"))
	require.Equal(t, 200, first.Requests[2].Status)
	require.Equal(t, "testdata/contacts/initial.json interaction 3", first.Requests[2].Fixture)
	require.Equal(t, "INFO run started trigger=manual initial=true", first.Logs[0])
	require.Len(t, first.Webhooks, 1)
	require.Equal(t, nango.SyncTypeInitial, first.Webhooks[0].SyncType)

	second := h.Run(nangotest.WithFixtures("testdata/contacts/incremental.json"))
	require.False(t, second.Initial)
	require.Equal(t, []string{"c6"}, second.AddedIDs("Contact"))
	require.Equal(t, []string{"c2"}, second.UpdatedIDs("Contact"))
	require.Empty(t, second.DeletedIDs("Contact"))
	require.Equal(t, "bob@moog.example", nangotest.Updated[Contact](second, "Contact")[0].Email)
	require.Equal(t, time.Hour, second.StartedAt.Sub(first.StartedAt), "the clock moves by the sync's frequency between runs")
	require.Len(t, nangotest.Records[Contact](h, "Contact"), 6)
	require.Len(t, nangotest.Saved[Contact](second, "Contact"), 2)
}

func TestUnmatchedRequestShowsClosestFixtures(t *testing.T) {
	t.Parallel()
	ft := newFakeTB(t)
	var h *nangotest.Harness
	ft.run(func() {
		h = nangotest.New(ft, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/incremental.json"})
		h.Run()
	})
	out := ft.all()
	require.Contains(t, out, "no fixture matches the request GET /v1/contacts?limit=2")
	require.Contains(t, out, "closest fixtures:")
	closest := "testdata/contacts/incremental.json (GET /v1/contacts): query has no updated_since, the fixture's has updated_since=2025-01-01T10:30:00Z"
	require.Contains(t, out, closest)
	require.Equal(t, 1, strings.Count(out, closest), "the closest fixtures are listed once:\n%s", out)
	require.Contains(t, out, "run 1 of sync contacts failed: nango: GET https://api.crm.example/v1/contacts?limit=2: nangotest: no fixture matches")
	require.Equal(t, 1, strings.Count(out, "1. GET /v1/contacts?limit=2"), "the request was sent once, not retried")
	require.NotContains(t, out, "2. GET")
	require.Empty(t, h.Clock().Slept(), "no backoff")

	// The sync sees an error that says it is permanent.
	var got error
	in := crm(func(ctx context.Context, n *nango.Nango) error {
		_, got = n.Get(ctx, &nango.Request{Path: "/v1/nothing"})
		return nil
	})
	ft = newFakeTB(t)
	ft.run(func() { nangotest.New(ft, in, nil).Run() })
	require.Contains(t, ft.all(), "no fixture matches the request GET /v1/nothing")
	require.ErrorIs(t, got, nango.ErrPermanent)
	var ue *nangotest.UnmatchedRequestError
	require.ErrorAs(t, got, &ue)
	require.Equal(t, "GET /v1/nothing", ue.Request)
}

func TestFixturesAnswerOnceAndMustAllBeUsed(t *testing.T) {
	t.Parallel()
	ft := newFakeTB(t)
	page := nangotest.JSONFixture("GET", "/v1/contacts?limit=2", 200, map[string]any{"contacts": []any{}, "next_cursor": "again"})
	again := nangotest.JSONFixture("GET", "/v1/contacts?limit=2&cursor=again", 200, map[string]any{"contacts": []any{}, "next_cursor": "again"})
	ft.run(func() {
		h := nangotest.New(ft, crm(syncContacts), nil)
		h.RunFailing(nangotest.WithInteractions(page, again))
	})
	require.Contains(t, ft.all(), "fixtures that match were used by earlier requests")
	require.Contains(t, ft.all(), "JSONFixture(GET /v1/contacts?limit=2&cursor=again) (by request 2)")

	ft = newFakeTB(t)
	extra := nangotest.JSONFixture("GET", "/v1/other", 200, map[string]any{})
	last := nangotest.JSONFixture("GET", "/v1/contacts?limit=2", 200, map[string]any{"contacts": []any{}})
	ft.run(func() {
		h := nangotest.New(ft, crm(syncContacts), nil)
		h.Run(nangotest.WithInteractions(last, extra))
	})
	require.Contains(t, ft.all(), "run 1 succeeded without using 1 fixtures")
	require.Contains(t, ft.all(), "JSONFixture(GET /v1/other)")

	ft = newFakeTB(t)
	ft.run(func() {
		h := nangotest.New(ft, crm(syncContacts), &nangotest.Options{AllowUnusedFixtures: true})
		h.Run(nangotest.WithInteractions(last, extra))
	})
	require.Empty(t, ft.all())
}

func TestFixtureFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := "grant_type=refresh_token"
	fixtures := []nangotest.Fixture{
		nangotest.JSONFixture("GET", "/a?x=1&x=2", 200, map[string]int{"n": 1}).Header("Link", `</a?page=2>; rel="next"`),
		{Request: nangotest.FixtureRequest{Method: "POST", Path: "/form", BodyText: &body}, Response: nangotest.FixtureResponse{Status: 204}},
	}
	require.NoError(t, nangotest.WriteFixtures(filepath.Join(dir, "one.json"), fixtures))
	require.NoError(t, nangotest.WriteFixtures(filepath.Join(dir, "many"), fixtures))
	one, err := nangotest.LoadFixtures(filepath.Join(dir, "one.json"))
	require.NoError(t, err)
	many, err := nangotest.LoadFixtures(filepath.Join(dir, "many"))
	require.NoError(t, err)
	require.Len(t, one, 2)
	require.Len(t, many, 2)
	for _, fx := range [][]nangotest.Fixture{one, many} {
		require.Equal(t, []string{"1", "2"}, fx[0].Request.Query["x"])
		require.Equal(t, "/a", fx[0].Request.Path)
		require.JSONEq(t, `{"n":1}`, string(fx[0].Response.Body))
		require.Equal(t, body, *fx[1].Request.BodyText)
		require.Equal(t, 204, fx[1].Response.Status)
	}
	names, err := filepath.Glob(filepath.Join(dir, "many", "*.json"))
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "many", "001-get-a.json"), filepath.Join(dir, "many", "002-post-form.json")}, names)

	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, "{\n  \"request\": {\"path\": \"/a\"},\n  \"response\": {\"status\": 200,}\n}\n")
	_, err = nangotest.LoadFixtures(bad)
	require.ErrorContains(t, err, "bad.json:3:")
	writeFile(t, bad, `{"request": {"path": "/a", "quer": {}}, "response": {}}`)
	_, err = nangotest.LoadFixtures(bad)
	require.ErrorContains(t, err, `unknown field "quer"`)
	writeFile(t, bad, `{"request": {"method": "GET"}, "response": {}}`)
	_, err = nangotest.LoadFixtures(bad)
	require.ErrorContains(t, err, `the request has no "path"`)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// postSync sends a JSON search with a secret in it, and saves what comes back.
func postSync(ctx context.Context, n *nango.Nango) error {
	resp, err := n.Post(ctx, &nango.Request{Path: "/v1/search", JSON: map[string]any{"filter": map[string]any{"since": "2025-01-01", "limit": 10}, "token": "tok-123456"}})
	if err != nil {
		return err
	}
	var page struct{ Contacts []Contact }
	if err := resp.Decode(&page); err != nil {
		return err
	}
	return n.BatchSave(ctx, page.Contacts, "Contact")
}

func TestBodiesMatchAsJSON(t *testing.T) {
	t.Parallel()
	answer := nangotest.FixtureResponse{Body: json.RawMessage(`{"contacts":[{"id":"1","name":"Ada"}]}`)}
	h := nangotest.New(t, crm(postSync), nil)
	res := h.Run(nangotest.WithInteractions(nangotest.Fixture{
		Request:  nangotest.FixtureRequest{Method: "POST", Path: "/v1/search", Body: json.RawMessage(`{"token": "REDACTED", "filter": {"limit": 10.0, "since": "2025-01-01"}}`)},
		Response: answer,
	}))
	require.Equal(t, []string{"1"}, res.AddedIDs("Contact"))

	ft := newFakeTB(t)
	ft.run(func() {
		h := nangotest.New(ft, crm(postSync), nil)
		h.Run(nangotest.WithInteractions(nangotest.Fixture{
			Request:  nangotest.FixtureRequest{Method: "POST", Path: "/v1/search", Body: json.RawMessage(`{"token": "x", "filter": {"limit": 10, "since": "2024-01-01"}}`)},
			Response: answer,
		}))
	})
	require.Contains(t, ft.all(), `body at $.filter.since is "2025-01-01", the fixture's is "2024-01-01"`)
}

func TestLogsAndTrackDeletes(t *testing.T) {
	t.Parallel()
	in := crm(func(ctx context.Context, n *nango.Nango) error {
		resp, err := n.Get(ctx, &nango.Request{Path: "/v1/all"})
		if err != nil {
			return err
		}
		var all []Contact
		if err := resp.Decode(&all); err != nil {
			return err
		}
		n.Logger().Info("fetched", "contacts", len(all))
		return n.BatchSave(ctx, all, "Contact")
	})
	in.Syncs[0].TrackDeletes = true
	h := nangotest.New(t, in, nil)
	h.Run(nangotest.WithInteractions(nangotest.JSONFixture("GET", "/v1/all", 200, []Contact{{ID: "1", Name: "Ada"}, {ID: "2", Name: "Bob"}})))
	res := h.Run(nangotest.WithInteractions(nangotest.JSONFixture("GET", "/v1/all", 200, []Contact{{ID: "2", Name: "Bob"}})))
	require.Equal(t, []Contact{{ID: "1", Name: "Ada"}}, nangotest.Deleted[Contact](res, "Contact"))
	require.Contains(t, res.Logs, "INFO fetched contacts=1")
	require.Contains(t, res.Logs, "INFO deleted records the run did not see model=Contact deleted=1")
}

func TestSetCheckpointAndReset(t *testing.T) {
	t.Parallel()
	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/incremental.json"})
	h.SetCheckpoint(contactsCheckpoint{Since: "2025-01-01T10:30:00Z"})
	res := h.Run()
	require.Equal(t, []string{"c2", "c6"}, res.AddedIDs("Contact"))
	res = h.Run(nangotest.WithFixtures("testdata/contacts/initial.json"), nangotest.WithRunOptions(nango.RunOptions{Reset: true}))
	require.True(t, res.Initial)
	require.Equal(t, []string{"c1", "c3", "c4", "c5"}, res.AddedIDs("Contact"))
	require.Equal(t, []string{"c2"}, res.UpdatedIDs("Contact"))
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	two := crm(syncContacts)
	two.Syncs = append(two.Syncs, nango.SyncConfig{Name: "other", Models: []nango.Model{{Name: "Other"}}, Sync: nango.SyncFunc(syncContacts)})
	for name, tc := range map[string]struct {
		in   nango.Integration
		opts *nangotest.Options
		want string
	}{
		"two syncs":        {two, nil, `integration "crm" has 2 syncs: name the one to run in Options.Sync`},
		"unknown sync":     {two, &nangotest.Options{Sync: "nope"}, `integration "crm" has no sync "nope"`},
		"live without key": {crm(syncContacts), &nangotest.Options{Live: true}, "need Options.Credentials"},
	} {
		ft := newFakeTB(t)
		ft.run(func() { nangotest.New(ft, tc.in, tc.opts) })
		require.Contains(t, ft.all(), tc.want, name)
	}
	h := nangotest.New(t, two, &nangotest.Options{Sync: "other"})
	require.Equal(t, "other", h.Sync())
}

func TestLiveOnBolt(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "key-1" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"contacts": []apiContact{{ID: "1", Name: "Ada"}}})
	}))
	t.Cleanup(srv.Close)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	in := crm(syncContacts)
	in.BaseURL = srv.URL
	h := nangotest.New(t, in, &nangotest.Options{Live: true, Store: st, Credentials: &nango.Credentials{APIKey: "key-1"}})
	res := h.Run()
	require.Equal(t, []string{"1"}, res.AddedIDs("Contact"))
	require.Equal(t, st, h.Store())
	stats, err := st.StreamStats(t.Context(), store.Stream{Integration: "crm", Connection: nangotest.DefaultConnection, Model: "Contact"})
	require.NoError(t, err)
	require.Equal(t, 1, stats.Live)
}

func TestClock(t *testing.T) {
	t.Parallel()
	c := nangotest.NewClock(nangotest.DefaultStart)
	c.Advance(time.Minute)
	require.NoError(t, c.Sleep(t.Context(), time.Second))
	require.Equal(t, nangotest.DefaultStart.Add(time.Minute+time.Second), c.Now())
	c.Set(nangotest.DefaultStart)
	require.Equal(t, nangotest.DefaultStart, c.Now())
	require.Equal(t, []time.Duration{time.Second}, c.Slept())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, c.Sleep(ctx, time.Hour), context.Canceled)
	require.Equal(t, nangotest.DefaultStart, c.Now())
}

// With an encryption key the harness shows the records and checkpoints in the clear, as the
// engine's readers get them.
func TestEncryptedStore(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json",
		Config: &nango.Config{EncryptionKeys: [][]byte{key}}})
	first := h.Run()
	require.Equal(t, nango.RunSucceeded, first.State)
	require.Equal(t, Contact{ID: "c1", Name: "Ada Lovelace", Email: "ada@example.com"}, nangotest.Added[Contact](first, "Contact")[0])
	cp, ok := nangotest.CheckpointAs[contactsCheckpoint](first)
	require.True(t, ok)
	require.Equal(t, "2025-01-01T10:30:00Z", cp.Since)
	require.Len(t, nangotest.Records[Contact](h, "Contact"), 5)
	page, err := h.Engine().Store().RecordsList(t.Context(), &store.RecordsListParams{
		Stream: store.Stream{Integration: "crm", Connection: h.Connection(), Model: "Contact"}})
	require.NoError(t, err)
	require.NotContains(t, string(page.Records[0].Data), "@example.com", "the store holds them sealed")
}

// With a separate data key store too.
func TestEncryptedStoreWithDataKeyStore(t *testing.T) {
	t.Parallel()
	keys := memory.New()
	t.Cleanup(func() { keys.Close() })
	key := []byte("0123456789abcdef0123456789abcdef")
	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json",
		Config: &nango.Config{EncryptionKeys: [][]byte{key}, DataKeyStore: keys}})
	first := h.Run()
	require.Equal(t, nango.RunSucceeded, first.State)
	require.Equal(t, Contact{ID: "c1", Name: "Ada Lovelace", Email: "ada@example.com"}, nangotest.Added[Contact](first, "Contact")[0])
	cp, ok := nangotest.CheckpointAs[contactsCheckpoint](first)
	require.True(t, ok)
	require.Equal(t, "2025-01-01T10:30:00Z", cp.Since)
	require.Len(t, nangotest.Records[Contact](h, "Contact"), 5)
	rows, err := keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, rows, 1, "the key is in the key store")
}
