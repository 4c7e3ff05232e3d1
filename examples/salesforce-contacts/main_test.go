package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango"
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

func debugLogger() (*slog.Logger, *lockedBuffer) {
	var b lockedBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

func TestRunAgainstTheFakeOrg(t *testing.T) {
	var out bytes.Buffer
	logger, logs := debugLogger()
	require.NoError(t, run(t.Context(), &out, options{dbPath: filepath.Join(t.TempDir(), "sf.db"), logger: logger}))
	t.Log("\n" + out.String())
	const query = "SELECT Id, FirstName, LastName, Email, AccountId, LastModifiedDate FROM Contact"
	want := []string{
		"Run 1 (initial: no checkpoint)",
		"  query:  " + query + " ORDER BY LastModifiedDate ASC, Id ASC",
		"  API:    3 pages, 10 contacts; deletions not read (initial run); 1 token refresh",
		"  result: added 10, updated 0, deleted 0, unchanged 0",
		"  feed:   10 records",
		"Run 2 (checkpoint: lastModifiedISO 2025-03-02T09:00:00Z, deletedSince 2025-03-03T09:00:00Z)",
		"  query:  " + query + " WHERE LastModifiedDate >= 2025-03-02T09:00:00Z ORDER BY LastModifiedDate ASC, Id ASC",
		"  API:    1 page, 4 contacts; deletions from 2025-03-03T09:00:00Z to 2025-03-03T10:00:00Z: 1 id; 1 token refresh",
		"  result: added 1, updated 2, deleted 1, unchanged 1",
		"    DELETED  003FAKE00000000009  Ken Thompson         ken@example.com                  -",
		"    UPDATED  003FAKE00000000002  Grace Hopper         grace.hopper@navy.example.com    001FAKE00000000001",
		"    UPDATED  003FAKE00000000003  Alan Turing          alan@example.com                 001FAKE00000000009",
		"    ADDED    003FAKE00000000011  Margaret Hamilton    margaret@example.com             001FAKE00000000002",
		"Run 3 (checkpoint: lastModifiedISO 2025-03-03T09:30:00Z, deletedSince 2025-03-03T10:00:00Z)",
		"  API:    1 page, 4 contacts; deletions from 2025-03-03T10:00:00Z to 2025-03-03T11:00:00Z: 0 ids; 1 token refresh",
		"  result: added 0, updated 1, deleted 0, unchanged 3",
		"  feed:   1 record",
		"    UPDATED  003FAKE00000000005  Edsger Dijkstra      ewd@example.com                  001FAKE00000000002",
	}
	for _, w := range want {
		require.Contains(t, out.String(), w+"\n")
	}
	// No secret in the output or the logs, debug lines included.
	for _, secret := range []string{"00DFAKE!session", "00DFAKE%21session", "5Aep861fakeRefreshToken", "fake-client-secret"} {
		require.NotContains(t, out.String(), secret)
		require.NotContains(t, logs.String(), secret)
	}
	require.Contains(t, logs.String(), "refreshed the connection's OAuth token")
}

// The requests on the wire follow Salesforce's documented formats.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	a, err := newApp(t.Context(), options{dbPath: filepath.Join(t.TempDir(), "sf.db"), logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(a.close)
	_, err = a.eng.RunSync(t.Context(), integrationKey, syncName, connectionID, nil)
	require.NoError(t, err)
	a.clock.advance(2 * time.Hour)
	_, err = a.eng.RunSync(t.Context(), integrationKey, syncName, connectionID, nil)
	require.NoError(t, err)
	reqs := a.fake.requestLog()
	require.Equal(t, []string{
		"GET /services/data/v62.0/query?q=SELECT+Id%2C+FirstName%2C+LastName%2C+Email%2C+AccountId%2C+LastModifiedDate+FROM+Contact+ORDER+BY+LastModifiedDate+ASC%2C+Id+ASC",
		"GET /services/data/v62.0/query/01gFAKE00000000001-4",
		"GET /services/data/v62.0/query/01gFAKE00000000002-8",
		"POST /services/oauth2/token", // the session expired: refresh, then the same page again
		"GET /services/data/v62.0/query/01gFAKE00000000002-8",
		// Run 2: deletions in whole minutes with a +00:00 offset, URL-encoded.
		"GET /services/data/v62.0/sobjects/Contact/deleted/?end=2025-03-03T11%3A00%3A00%2B00%3A00&start=2025-03-03T09%3A00%3A00%2B00%3A00",
		"GET /services/data/v62.0/query?q=SELECT+Id%2C+FirstName%2C+LastName%2C+Email%2C+AccountId%2C+LastModifiedDate+FROM+Contact+WHERE+LastModifiedDate+%3E%3D+2025-03-02T09%3A00%3A00Z+ORDER+BY+LastModifiedDate+ASC%2C+Id+ASC",
		"POST /services/oauth2/token",
		"GET /services/data/v62.0/query?q=SELECT+Id%2C+FirstName%2C+LastName%2C+Email%2C+AccountId%2C+LastModifiedDate+FROM+Contact+WHERE+LastModifiedDate+%3E%3D+2025-03-02T09%3A00%3A00Z+ORDER+BY+LastModifiedDate+ASC%2C+Id+ASC",
	}, reqs)
	// The refreshed session is stored with the connection.
	c, err := a.eng.Store().ConnectionGet(t.Context(), integrationKey, connectionID)
	require.NoError(t, err)
	require.Contains(t, string(c.Credentials), "00DFAKE!session3")
}

func TestDeletionWindowRules(t *testing.T) {
	t.Parallel()
	logger, logs := debugLogger()
	a, err := newApp(t.Context(), options{dbPath: filepath.Join(t.TempDir(), "sf.db"), logger: logger})
	require.NoError(t, err)
	t.Cleanup(a.close)
	runOnce := func() runStats {
		t.Helper()
		_, err := a.eng.RunSync(t.Context(), integrationKey, syncName, connectionID, nil)
		require.NoError(t, err)
		return a.contacts.stats()
	}
	runOnce()

	// Salesforce wants start more than a minute before end: a run right after the last one
	// does not ask.
	a.clock.advance(50 * time.Second)
	require.Equal(t, "deletions not read (less than a minute since the last read)", runOnce().Deletions)

	// After 40 days without a run, start is moved into the 30 days Salesforce accepts, with a
	// warning; the fake refuses anything older, so the run succeeding shows it was.
	a.clock.advance(40 * 24 * time.Hour)
	st := runOnce()
	require.Equal(t, expectedWindow(a), st.Deletions)
	require.Contains(t, logs.String(), "Salesforce keeps deletions for a limited time only")
	require.Contains(t, logs.String(), "Salesforce no longer has all deletions since the last read")
}

// expectedWindow is the deletions line of a run at the fake clock's time after a long gap.
func expectedWindow(a *app) string {
	now := a.clock.now().UTC().Truncate(time.Minute)
	start := now.Add(-30 * 24 * time.Hour).Add(time.Minute)
	return "deletions from " + start.Format(time.RFC3339) + " to " + now.Format(time.RFC3339) + ": 0 ids"
}

func TestFakeOrgEnforcesGetDeletedRules(t *testing.T) {
	t.Parallel()
	a, err := newApp(t.Context(), options{dbPath: filepath.Join(t.TempDir(), "sf.db"), logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(a.close)
	now := a.clock.now()
	f := a.fake
	f.mu.Lock()
	f.sessionCalls = 100
	f.mu.Unlock()
	tok := f.session()
	cases := []struct {
		start, end string
		status     int
		want       string
	}{
		{now.Add(-time.Hour).Format(sfReplication), now.Format(sfReplication), 200, `"deletedRecords":[]`},
		{now.Add(-31 * 24 * time.Hour).Format(sfReplication), now.Format(sfReplication), 400, "start must be within the last 30 days"},
		{now.Add(-59 * time.Second).Format(sfReplication), now.Format(sfReplication), 400, "start must be more than one minute before end"},
		{now.Format(sfReplication), now.Add(-time.Hour).Format(sfReplication), 400, "INVALID_REPLICATION_DATE"},
		{now.Add(-time.Hour).Format("2006-01-02 15:04"), now.Format(sfReplication), 400, "must be an ISO 8601 date and time with a UTC offset"},
	}
	for _, tc := range cases {
		q := url.Values{"start": {tc.start}, "end": {tc.end}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.instanceURL+"/services/data/v62.0/sobjects/Contact/deleted/?"+q.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode, tc.start)
		require.Contains(t, string(body), tc.want, tc.start)
	}
}

func TestRefusedRefreshNeedsReauthorisation(t *testing.T) {
	t.Parallel()
	a, err := newApp(t.Context(), options{dbPath: filepath.Join(t.TempDir(), "sf.db"), logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(a.close)
	a.fake.mu.Lock()
	a.fake.refreshToken = "revoked-and-replaced"
	a.fake.mu.Unlock()
	res, err := a.eng.RunSync(t.Context(), integrationKey, syncName, connectionID, nil)
	require.ErrorIs(t, err, nango.ErrReauthRequired)
	require.EqualError(t, err, `nango: connection "demo" of integration "salesforce" needs re-authorisation: `+
		`the provider refused the refresh token: invalid_grant (expired access/refresh token)`)
	require.Equal(t, nango.RunFailed, res.State)
	// Two pages were saved with their checkpoint before the session ran out.
	var cp checkpoint
	found, err := a.eng.GetCheckpoint(t.Context(), integrationKey, syncName, connectionID, &cp)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "2025-02-28T09:00:00Z", cp.LastModifiedISO, "the 8th contact, last of page 2")
}

func TestFlags(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), &bytes.Buffer{}, options{token: "x"})
	require.EqualError(t, err, "give both -instance-url and -token for a real org, or neither for the built-in fake")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = run(ctx, &bytes.Buffer{}, options{dbPath: filepath.Join(t.TempDir(), "x.db"), logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, context.Canceled)
}
