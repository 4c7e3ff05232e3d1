package nangotest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// fakeCRM is the provider's real API for the recording tests: two pages of contacts behind a
// credential check, with a secret-looking member and noisy headers in its answers.
func fakeCRM(t *testing.T, authorized func(*http.Request) bool) *httptest.Server {
	t.Helper()
	var tokens atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			require.NoError(t, r.ParseForm())
			if r.PostForm.Get("refresh_token") != "refresh-secret" {
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
				return
			}
			tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"new-access-secret","token_type":"Bearer","expires_in":3600}`))
			return
		}
		if !authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Set-Cookie", "session=cookie-secret")
		w.Header().Set("X-RateLimit-Remaining", "99")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		page := map[string]any{
			"contacts":    []apiContact{{ID: "c1", Name: "Ada", Email: "ada@example.com", UpdatedAt: "2025-01-01T10:00:00Z"}},
			"next_cursor": "p2",
			"meta":        map[string]string{"token": "abc-secret-xyz"},
		}
		if r.URL.Query().Get("cursor") == "p2" {
			page = map[string]any{"contacts": []apiContact{{ID: "c2", Name: "Bob", UpdatedAt: "2025-01-01T10:05:00Z"}}}
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRecordAPIKeyThenReplay(t *testing.T) {
	t.Parallel()
	srv := fakeCRM(t, func(r *http.Request) bool { return r.URL.Query().Get("api_key") == "key-secret-1" })
	in := crm(syncContacts)
	in.BaseURL = srv.URL
	in.Auth = nango.APIKey{Query: "api_key"}
	path := filepath.Join(t.TempDir(), "fixtures", "contacts.json")

	h := nangotest.New(t, in, &nangotest.Options{Record: true, Fixtures: path, Credentials: &nango.Credentials{APIKey: "key-secret-1"}})
	rec := h.Run()
	require.Equal(t, []string{"c1", "c2"}, rec.AddedIDs("Contact"))
	require.Equal(t, nangotest.Redacted, rec.Requests[0].Query.Get("api_key"), "the results do not show the key either")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(data)
	for _, secret := range []string{"key-secret-1", "abc-secret-xyz", "cookie-secret"} {
		require.NotContains(t, text, secret)
	}
	require.NotContains(t, text, "api_key", "the parameter the APIKey auth adds is left out: replays send no credentials")
	require.Contains(t, text, `"token": "REDACTED"`)
	require.Contains(t, text, `"X-Ratelimit-Remaining": "99"`)
	require.NotContains(t, text, "Set-Cookie")
	require.NotContains(t, text, "Date")

	// Replay: no credentials, no network.
	srv.Close()
	replay := nangotest.New(t, in, &nangotest.Options{Fixtures: path})
	res := replay.Run()
	require.Equal(t, []string{"c1", "c2"}, res.AddedIDs("Contact"))
}

func TestRecordOAuth2IntoDirectory(t *testing.T) {
	t.Parallel()
	srv := fakeCRM(t, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer new-access-secret" })
	in := crm(syncContacts)
	in.BaseURL = srv.URL
	in.Auth = &nango.OAuth2{Config: &oauth2.Config{ClientID: "client", ClientSecret: "client-secret-1", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth/token"}}}
	dir := filepath.Join(t.TempDir(), "contacts")
	creds := &nango.Credentials{Token: &oauth2.Token{AccessToken: "old-access-secret", RefreshToken: "refresh-secret", Expiry: nangotest.DefaultStart.Add(-time.Hour)}}

	h := nangotest.New(t, in, &nangotest.Options{Record: true, Fixtures: dir, Credentials: creds, Redact: []string{"email"}})
	res := h.Run()
	require.Equal(t, []string{"c1", "c2"}, res.AddedIDs("Contact"))
	require.Len(t, res.Requests, 3, "the token refresh, then two pages")

	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2, "one file per interaction; the token exchange is not kept")
	require.True(t, strings.HasSuffix(files[0], "001-get-v1-contacts.json"), files[0])
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, secret := range []string{"old-access-secret", "new-access-secret", "refresh-secret", "client-secret-1", "ada@example.com"} {
			require.NotContains(t, string(data), secret, f)
		}
	}

	// Recording again replaces the files.
	h = nangotest.New(t, in, &nangotest.Options{Record: true, Fixtures: dir, Credentials: creds})
	h.Run()
	again, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Equal(t, files, again)

	replay := nangotest.New(t, in, &nangotest.Options{Fixtures: dir})
	require.Equal(t, []string{"c1", "c2"}, replay.Run().AddedIDs("Contact"))
}

func TestRecordFromEnvironment(t *testing.T) {
	srv := fakeCRM(t, func(r *http.Request) bool { return r.Header.Get("X-Api-Key") == "env-key-1" })
	t.Setenv(nangotest.RecordEnv, "1")
	t.Setenv("CRM_API_KEY", "env-key-1")
	in := crm(syncContacts)
	in.BaseURL = srv.URL
	path := filepath.Join(t.TempDir(), "contacts.json")
	h := nangotest.New(t, in, &nangotest.Options{Fixtures: path, Credentials: &nango.Credentials{APIKey: nangotest.Getenv(t, "CRM_API_KEY")}})
	h.Run()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(data), "env-key-1")
	require.Contains(t, string(data), `"cursor": "p2"`)

	ft := newFakeTB(t)
	ft.run(func() {
		nangotest.New(ft, crm(syncContacts), &nangotest.Options{Record: true, Credentials: &nango.Credentials{APIKey: "k"}}).Run()
	})
	require.Contains(t, ft.all(), "recording needs a fixture path")

	// Harnesses without a fixture path keep replaying what their runs give them.
	h = nangotest.New(t, crm(syncContacts), nil)
	res := h.Run(nangotest.WithInteractions(nangotest.JSONFixture("GET", "/v1/contacts?limit=2", 200, map[string]any{"contacts": []any{}})))
	require.Equal(t, "JSONFixture(GET /v1/contacts?limit=2)", res.Requests[0].Fixture)
}
