package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunAgainstTheFakeAPI(t *testing.T) {
	var out bytes.Buffer
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dbPath := filepath.Join(t.TempDir(), "gh.db")
	require.NoError(t, run(t.Context(), &out, options{dbPath: dbPath, logger: logger}))
	t.Log("\n" + out.String())
	want := []string{
		"Fake GitHub API: octo/hello with 12 issues and 3 pull requests. Store: bbolt file " + dbPath + ".",
		"Run 1 (initial full sync)",
		"  API:    3 pages, 15 items, 3 pull requests skipped",
		"  result: added 12, updated 0, deleted 0, unchanged 0",
		"  feed:   12 records since the start",
		"Run 2 (full sync)",
		"  API:    4 pages, 16 items, 4 pull requests skipped",
		"  result: added 1, updated 2, deleted 1, unchanged 9",
		"  feed:   4 records since the last cursor",
		"    UPDATED  #2    closed  Support proxies",
		"    UPDATED  #4    open    Docs: typos in README and CONTRIBUTING",
		"    ADDED    #16   open    Sync stops at 10,000 pages",
		"    DELETED  #6    open    Windows paths are mangled",
	}
	for _, w := range want {
		require.Contains(t, out.String(), w+"\n")
	}
	// Every page was requested with the token and logged without it.
	require.Equal(t, 7, strings.Count(logs.String(), `msg="provider request"`))
	require.Contains(t, logs.String(), `query="direction=asc&page=2&per_page=5&sort=created&state=all"`)
	require.NotContains(t, logs.String(), fakeToken)
	require.NotContains(t, out.String(), fakeToken)
}

func TestBadTokenFailsClearly(t *testing.T) {
	t.Parallel()
	api := newFakeGitHub("octo", "hello", "right-token")
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(integration(srv.URL, &issuesSync{})))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: integrationKey, ID: "c1",
		Metadata: connectionMeta{Repo: "octo/hello"}, Credentials: &nango.Credentials{APIKey: "wrong-token"}}))
	res, err := eng.RunSync(t.Context(), integrationKey, syncName, "c1", nil)
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.Equal(t, 1, apiErr.Attempts, "a 401 is not retried")
	require.Contains(t, apiErr.Body, "Bad credentials")
	require.NotContains(t, err.Error(), "wrong-token")
	require.Equal(t, nango.RunFailed, res.State)

	// A connection whose metadata names no repository.
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: integrationKey, ID: "c2",
		Metadata: connectionMeta{Repo: "hello"}, Credentials: &nango.Credentials{APIKey: "right-token"}}))
	_, err = eng.RunSync(t.Context(), integrationKey, syncName, "c2", nil)
	require.EqualError(t, err, `connection "c2": metadata repo "hello" is not owner/name`)
}

func TestFlags(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), &bytes.Buffer{}, options{token: "x"})
	require.EqualError(t, err, "give both -token and -repo for the real API, or neither for the built-in fake")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = run(ctx, &bytes.Buffer{}, options{dbPath: filepath.Join(t.TempDir(), "x.db")})
	require.True(t, errors.Is(err, context.Canceled), err)
}
