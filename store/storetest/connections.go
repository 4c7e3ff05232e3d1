package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonango/nango/store"
)

// connectionTests check connections and the cascade of ConnectionDelete.
func connectionTests() []test {
	return []test{
		{"PutGet", testConnectionPutGet},
		{"List", testConnectionList},
		{"Invalid", testConnectionInvalid},
		{"Unknown", testConnectionUnknown},
		{"DeleteCascades", testConnectionDeleteCascades},
		{"Update", testConnectionUpdate},
		{"UpdateConcurrent", testConnectionUpdateConcurrent},
	}
}

// ConnectionUpdate changes what the update changes and keeps the rest; a failed or invalid
// update writes nothing; an unknown connection is ErrNotFound.
func testConnectionUpdate(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	c := putConn(t, s, "crm", "c1", `{"region":"eu"}`)
	c.Credentials = []byte("token-1")
	require.NoError(t, s.ConnectionPut(ctx, c))

	got, err := s.ConnectionUpdate(ctx, "crm", "c1", func(c *store.Connection) error {
		c.Credentials = []byte("token-2")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "token-2", string(got.Credentials))
	stored, err := s.ConnectionGet(ctx, "crm", "c1")
	require.NoError(t, err)
	require.Equal(t, "token-2", string(stored.Credentials))
	require.JSONEq(t, `{"region":"eu"}`, string(stored.Metadata), "the metadata stays")

	boom := errors.New("boom")
	_, err = s.ConnectionUpdate(ctx, "crm", "c1", func(c *store.Connection) error {
		c.Credentials = []byte("token-3")
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.ConnectionUpdate(ctx, "crm", "c1", func(c *store.Connection) error {
		c.ID = "c2"
		return nil
	})
	requireParamError(t, err, "changing the id")
	stored, err = s.ConnectionGet(ctx, "crm", "c1")
	require.NoError(t, err)
	require.Equal(t, "token-2", string(stored.Credentials), "failed updates write nothing")
	_, err = s.ConnectionGet(ctx, "crm", "c2")
	require.ErrorIs(t, err, store.ErrNotFound)

	called := false
	_, err = s.ConnectionUpdate(ctx, "crm", "nobody", func(*store.Connection) error {
		called = true
		return nil
	})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.False(t, called, "no update of an unknown connection")
}

// Concurrent updates of different fields never undo each other: one writer replaces the
// credentials, another adds metadata keys, and the end holds the last credentials and every key.
func testConnectionUpdateConcurrent(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	putConn(t, s, "crm", "c1", `{}`)
	const n = 50
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			_, err := s.ConnectionUpdate(ctx, "crm", "c1", func(c *store.Connection) error {
				c.Credentials = fmt.Appendf(nil, "token-%d", i)
				return nil
			})
			assert.NoError(t, err)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			_, err := s.ConnectionUpdate(ctx, "crm", "c1", func(c *store.Connection) error {
				m := map[string]int{}
				if err := json.Unmarshal(c.Metadata, &m); err != nil {
					return err
				}
				m[fmt.Sprintf("k%02d", i)] = i
				var err error
				c.Metadata, err = json.Marshal(m)
				return err
			})
			assert.NoError(t, err)
		}
	}()
	wg.Wait()
	got, err := s.ConnectionGet(ctx, "crm", "c1")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("token-%d", n-1), string(got.Credentials))
	m := map[string]int{}
	require.NoError(t, json.Unmarshal(got.Metadata, &m))
	require.Len(t, m, n, "no metadata update was lost")
}

// requireConn requires got to equal want, metadata compared as JSON and times as instants.
func requireConn(t *testing.T, want, got *store.Connection) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.Integration, got.Integration)
	require.Equal(t, want.ID, got.ID)
	if want.Metadata == nil {
		if got.Metadata != nil {
			require.JSONEq(t, `null`, string(got.Metadata), "metadata of %s/%s", want.Integration, want.ID)
		}
	} else {
		require.JSONEq(t, string(want.Metadata), string(got.Metadata), "metadata of %s/%s", want.Integration, want.ID)
	}
	require.True(t, want.CreatedAt.Equal(got.CreatedAt), "created at: want %s, got %s", want.CreatedAt, got.CreatedAt)
	require.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "updated at: want %s, got %s", want.UpdatedAt, got.UpdatedAt)
}

// putConn calls ConnectionPut and requires it to succeed.
func putConn(t *testing.T, s store.Store, integration, id, metadata string) *store.Connection {
	t.Helper()
	c := &store.Connection{Integration: integration, ID: id, CreatedAt: at(0), UpdatedAt: at(1)}
	if metadata != "" {
		c.Metadata = []byte(metadata)
	}
	require.NoError(t, s.ConnectionPut(t.Context(), c))
	return c
}

// getConn calls ConnectionGet and requires it to succeed.
func getConn(t *testing.T, s store.Store, integration, id string) *store.Connection {
	t.Helper()
	c, err := s.ConnectionGet(t.Context(), integration, id)
	require.NoError(t, err)
	return c
}

// connKeys returns "integration/id" of each connection, in order.
func connKeys(conns []*store.Connection) []string {
	out := make([]string, len(conns))
	for i, c := range conns {
		out[i] = c.Integration + "/" + c.ID
	}
	return out
}

func testConnectionPutGet(t *testing.T, su *suite) {
	s := su.open(t)
	for _, md := range []string{
		`{"team":"core","tags":["a","b"],"limits":{"rps":10,"burst":null}}`,
		`"a string"`,
		`42`,
		`[]`,
		``,
	} {
		want := putConn(t, s, "github", "conn-1", md)
		got := getConn(t, s, "github", "conn-1")
		requireConn(t, want, got)
	}
	// Replaced, not merged; and the store keeps its own copy.
	c := putConn(t, s, "github", "conn-1", `{"v":1}`)
	c.Metadata[1] = 'x'
	got := getConn(t, s, "github", "conn-1")
	require.JSONEq(t, `{"v":1}`, string(got.Metadata))
	got.Metadata[1] = 'y'
	require.JSONEq(t, `{"v":1}`, string(getConn(t, s, "github", "conn-1").Metadata))
	conns, err := s.ConnectionList(t.Context(), "github")
	require.NoError(t, err)
	require.Equal(t, []string{"github/conn-1"}, connKeys(conns))
}

func testConnectionList(t *testing.T, su *suite) {
	s := su.open(t)
	conns, err := s.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, conns)

	putConn(t, s, "github", "c3", `{"n":3}`)
	putConn(t, s, "github", "c1", `{"n":1}`)
	putConn(t, s, "gitlab", "c1", `{"n":"gl"}`)
	putConn(t, s, "github", "c2", `{"n":2}`)

	conns, err = s.ConnectionList(t.Context(), "github")
	require.NoError(t, err)
	require.Equal(t, []string{"github/c1", "github/c2", "github/c3"}, connKeys(conns), "ordered by id")
	require.JSONEq(t, `{"n":1}`, string(conns[0].Metadata))
	conns, err = s.ConnectionList(t.Context(), "gitlab")
	require.NoError(t, err)
	require.Equal(t, []string{"gitlab/c1"}, connKeys(conns))
	require.JSONEq(t, `{"n":"gl"}`, string(conns[0].Metadata))
	conns, err = s.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"github/c1", "github/c2", "github/c3", "gitlab/c1"}, connKeys(conns))
	conns, err = s.ConnectionList(t.Context(), "bitbucket")
	require.NoError(t, err)
	require.Empty(t, conns)
}

func testConnectionInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	for _, c := range []*store.Connection{
		{Integration: "github", ID: ""},
		{Integration: "", ID: "conn-1"},
		{Integration: "github", ID: "a\x00b"},
		{Integration: "github", ID: "conn-1", Metadata: []byte(`{"a":`)},
		{Integration: "github", ID: "conn-1", Metadata: []byte(`not json`)},
	} {
		requireParamError(t, s.ConnectionPut(t.Context(), c), "connection %+v", c)
	}
	conns, err := s.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, conns)
}

func testConnectionUnknown(t *testing.T, su *suite) {
	s := su.open(t)
	putConn(t, s, "github", "conn-1", "")
	_, err := s.ConnectionGet(t.Context(), "github", "conn-2")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ConnectionGet(t.Context(), "gitlab", "conn-1")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.ConnectionDelete(t.Context(), "github", "conn-2"), store.ErrNotFound)
	require.NoError(t, s.ConnectionDelete(t.Context(), "github", "conn-1"))
	require.ErrorIs(t, s.ConnectionDelete(t.Context(), "github", "conn-1"), store.ErrNotFound)
	_, err = s.ConnectionGet(t.Context(), "github", "conn-1")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// connectionFixture gives a connection two streams, two checkpoints, two runs (one succeeded) and
// a deletion-tracking window holding "a" of the issues stream.
func connectionFixture(t *testing.T, s store.Store, integration, conn string) {
	t.Helper()
	putConn(t, s, integration, conn, `{"owner":"`+conn+`"}`)
	issues := store.Stream{Integration: integration, Connection: conn, Model: "issues"}
	pulls := store.Stream{Integration: integration, Connection: conn, Model: "pulls"}
	seen(t, s, issues, "sync-a", at(0), in("a", ""))
	save(t, s, issues, at(0), in("b", ""))
	save(t, s, pulls, at(0), in("a", ""))
	for _, sync := range []string{"sync-a", "sync-b"} {
		putCP(t, s, store.CheckpointKey{Integration: integration, Sync: sync, Connection: conn}, `{"conn":"`+conn+`"}`, 0)
	}
	key := store.SyncKey{Integration: integration, Sync: "sync-a", Connection: conn}
	ok := newRun(integration+"-"+conn+"-1", key, 0)
	ok.State = store.RunSucceeded
	require.NoError(t, s.RunInsert(t.Context(), ok))
	require.NoError(t, s.RunInsert(t.Context(), newRun(integration+"-"+conn+"-2", key, 1)))
}

func testConnectionDeleteCascades(t *testing.T, su *suite) {
	s := su.open(t)
	type conn struct{ integration, id string }
	gone := conn{"github", "conn-1"}
	kept := []conn{{"github", "conn-2"}, {"gitlab", "conn-1"}, {"github", "conn-10"}}
	for _, c := range append([]conn{gone}, kept...) {
		connectionFixture(t, s, c.integration, c.id)
	}

	issuesBefore := all(t, s, store.Stream{Integration: gone.integration, Connection: gone.id, Model: "issues"})
	staleCursor := issuesBefore[len(issuesBefore)-1].Cursor

	require.NoError(t, s.ConnectionDelete(t.Context(), gone.integration, gone.id))

	_, err := s.ConnectionGet(t.Context(), gone.integration, gone.id)
	require.ErrorIs(t, err, store.ErrNotFound)
	conns, err := s.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"github/conn-2", "gitlab/conn-1", "github/conn-10"}, connKeys(conns))

	issues := store.Stream{Integration: gone.integration, Connection: gone.id, Model: "issues"}
	pulls := store.Stream{Integration: gone.integration, Connection: gone.id, Model: "pulls"}
	requireEmpty(t, s, issues)
	requireEmpty(t, s, pulls)
	for _, sync := range []string{"sync-a", "sync-b"} {
		requireNoCP(t, s, store.CheckpointKey{Integration: gone.integration, Sync: sync, Connection: gone.id})
	}
	key := store.SyncKey{Integration: gone.integration, Sync: "sync-a", Connection: gone.id}
	for _, id := range []string{"github-conn-1-1", "github-conn-1-2"} {
		_, err := s.RunGet(t.Context(), id)
		require.ErrorIs(t, err, store.ErrNotFound, "run %s", id)
	}
	runs, err := s.RunList(t.Context(), &store.RunListParams{Key: key})
	require.NoError(t, err)
	require.Empty(t, runs)
	_, err = s.RunLastSuccess(t.Context(), key)
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: issues, Cursor: staleCursor})
	require.ErrorIs(t, err, store.ErrCursorStale, "a cursor from before ConnectionDelete, stream empty")

	// The window went too: "a", saved again without being tracked, is swept.
	res := save(t, s, issues, at(1), in("a", ""))
	require.Equal(t, counts{Added: 1}, countsOf(res), "records come back as new")
	_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: issues, Cursor: staleCursor})
	require.ErrorIs(t, err, store.ErrCursorStale,
		"a cursor from before ConnectionDelete, once the stream is written again, must not skip its new records")
	require.Equal(t, store.RecordsSweepResult{Live: 1, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: issues, Sync: "sync-a", Now: at(2), Guard: noGuard}))

	// The other connections keep everything.
	for _, c := range kept {
		got := getConn(t, s, c.integration, c.id)
		require.JSONEq(t, `{"owner":"`+c.id+`"}`, string(got.Metadata))
		st := store.Stream{Integration: c.integration, Connection: c.id, Model: "issues"}
		require.Equal(t, []string{"a", "b"}, sorted(ids(all(t, s, st))), "records of %s", st)
		st.Model = "pulls"
		require.Equal(t, []string{"a"}, ids(all(t, s, st)), "records of %s", st)
		for _, sync := range []string{"sync-a", "sync-b"} {
			requireCP(t, s, store.CheckpointKey{Integration: c.integration, Sync: sync, Connection: c.id}, `{"conn":"`+c.id+`"}`, 1)
		}
		key := store.SyncKey{Integration: c.integration, Sync: "sync-a", Connection: c.id}
		runs, err := s.RunList(t.Context(), &store.RunListParams{Key: key})
		require.NoError(t, err)
		require.Len(t, runs, 2, "runs of %+v", key)
		last, err := s.RunLastSuccess(t.Context(), key)
		require.NoError(t, err)
		require.Equal(t, c.integration+"-"+c.id+"-1", last.ID)
		st.Model = "issues"
		require.Equal(t, store.RecordsSweepResult{Live: 2, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
			Stream: st, Sync: "sync-a", Now: at(2), Guard: noGuard}), "the window of %s survived", st)
		requireLive(t, s, st, "a")
	}
}
