package api_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store/bolt"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	get := func(auth string) answer {
		return f.do(t, req{method: http.MethodGet, path: "/records?model=Contact",
			header: map[string]string{"Connection-Id": "conn-1", "Provider-Config-Key": integration, "Authorization": auth}})
	}
	cases := []struct {
		auth, code string
	}{
		{"", "missing_auth_header"},
		{"Bearer", "malformed_auth_header"},
		{"Bearer ", "malformed_auth_header"},
		{"Basic " + secret, "malformed_auth_header"},
		{secret, "malformed_auth_header"},
		{"Bearer sk-test-", "unknown_account"},
		{"Bearer " + secret + "x", "unknown_account"},
		{"Bearer " + strings.ToUpper(secret), "unknown_account"},
	}
	for _, tc := range cases {
		a := get(tc.auth)
		requireError(t, a, http.StatusUnauthorized, tc.code)
		require.Equal(t, `Bearer realm="nango"`, a.header.Get("WWW-Authenticate"))
		require.NotContains(t, a.raw, secret)
	}
	require.Equal(t, http.StatusOK, get("Bearer "+secret).status)
	require.Equal(t, http.StatusOK, get("Bearer "+secret2).status, "the second key, for rotation")
	require.Equal(t, http.StatusOK, get("bearer "+secret2).status, "the scheme is case-insensitive")

	// Every endpoint is protected.
	for _, r := range []req{
		{method: http.MethodPost, path: "/sync/trigger", body: map[string]any{"syncs": []string{}, "provider_config_key": integration}},
		{method: http.MethodPost, path: "/sync/start", body: map[string]any{"syncs": []string{}, "provider_config_key": integration}},
		{method: http.MethodPost, path: "/sync/pause", body: map[string]any{"syncs": []string{}, "provider_config_key": integration}},
		{method: http.MethodGet, path: "/sync/status?syncs=*&provider_config_key=" + integration},
		{method: http.MethodPut, path: "/sync/update-connection-frequency", body: map[string]any{}},
	} {
		r.header = map[string]string{"Authorization": "Bearer wrong"}
		requireError(t, f.do(t, r), http.StatusUnauthorized, "unknown_account")
		r.header = map[string]string{"Authorization": ""}
		requireError(t, f.do(t, r), http.StatusUnauthorized, "missing_auth_header")
	}
}

func TestDisableAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &api.Config{DisableAuth: true})
	seed(t, f)
	a := f.do(t, req{method: http.MethodGet, path: "/records?model=Contact",
		header: map[string]string{"Connection-Id": "conn-1", "Provider-Config-Key": integration, "Authorization": ""}})
	require.Equal(t, http.StatusOK, a.status, a.raw)
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "x.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	eng, err := nango.NewEngine(st, nil)
	require.NoError(t, err)
	_, err = api.New(eng, nil)
	require.EqualError(t, err, "api: no secret key: set Config.SecretKeys, or Config.DisableAuth for local development")
	_, err = api.New(eng, &api.Config{})
	require.Error(t, err)
	_, err = api.New(eng, &api.Config{SecretKeys: []string{"a", ""}})
	require.EqualError(t, err, "api: secret key 1 is empty")
	_, err = api.New(eng, &api.Config{SecretKeys: []string{"a"}, MaxBodyBytes: -1})
	require.EqualError(t, err, "api: MaxBodyBytes -1 is negative")
	_, err = api.New(nil, &api.Config{DisableAuth: true})
	require.EqualError(t, err, "api: nil engine")
	_, err = api.New(eng, &api.Config{DisableAuth: true})
	require.NoError(t, err)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.do(t, req{method: http.MethodGet, path: "/connections"})
	requireError(t, a, http.StatusNotFound, "not_found")
	require.Contains(t, a.message(), "GET /connections")
	requireError(t, f.do(t, req{method: http.MethodGet, path: "/"}), http.StatusNotFound, "not_found")
	requireError(t, f.do(t, req{method: http.MethodGet, path: "/records/purge"}), http.StatusNotFound, "not_found")
	requireError(t, f.do(t, req{method: http.MethodGet, path: "/records/prune"}), http.StatusMethodNotAllowed, "method_not_allowed")

	a = f.do(t, req{method: http.MethodPost, path: "/records", body: "{}"})
	requireError(t, a, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, "GET", a.header.Get("Allow"))
	a = f.do(t, req{method: http.MethodGet, path: "/sync/trigger"})
	requireError(t, a, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, "POST", a.header.Get("Allow"))
	requireError(t, f.do(t, req{method: http.MethodPost, path: "/sync/update-connection-frequency", body: "{}"}), http.StatusMethodNotAllowed, "method_not_allowed")

	// A trailing slash is accepted, as Express does.
	a = f.do(t, req{method: http.MethodGet, path: "/sync/status/?syncs=*&provider_config_key=" + integration})
	require.Equal(t, http.StatusOK, a.status, a.raw)
}

func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	h, err := api.New(f.eng, &api.Config{SecretKeys: []string{secret}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/nango/", http.StripPrefix("/nango", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g := &fixture{eng: f.eng, srv: srv, prefix: "/nango"}
	a := g.records(t, "conn-1", "model=Contact&ids=a")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, []string{"a"}, ids(a))
	a = g.do(t, req{method: http.MethodGet, path: "/records/?model=Contact",
		header: map[string]string{"Connection-Id": "conn-1", "Provider-Config-Key": integration}})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	requireError(t, g.do(t, req{method: http.MethodGet, path: "/other"}), http.StatusNotFound, "not_found")
}
