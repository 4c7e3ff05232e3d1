package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// TestMigrateConcurrently: replicas starting at once on an empty schema migrate it once and
// all come up.
func TestMigrateConcurrently(t *testing.T) {
	schema := schemaName(t)
	const replicas = 5
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.New(t.Context(), pool(t), &postgres.Options{Schema: schema})
		}()
	}
	wg.Wait()
	for i := range replicas {
		require.NoError(t, errs[i], "replica %d", i)
		defer stores[i].Close()
	}
	var applied int
	require.NoError(t, pool(t).QueryRow(t.Context(), fmt.Sprintf(`SELECT count(*) FROM %q.schema_version`, schema)).Scan(&applied))
	require.Equal(t, postgres.SchemaVersion(), applied, "each migration recorded once")

	// They share one store.
	st := store.Stream{Integration: "i", Connection: "c", Model: "m"}
	_, err := stores[0].RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: st, Records: []store.RecordInput{{Data: []byte(`{"id":"1"}`)}}})
	require.NoError(t, err)
	stats, err := stores[4].StreamStats(t.Context(), st)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Live)
}

// TestSchemaTooNew: a schema migrated by a newer version is refused, for writing and reading,
// and left alone.
func TestSchemaTooNew(t *testing.T) {
	s := newStore(t, nil)
	require.NoError(t, s.Close())
	newer := postgres.SchemaVersion() + 1
	_, err := pool(t).Exec(t.Context(), fmt.Sprintf(`INSERT INTO %q.schema_version (version, name) VALUES ($1, 'from the future')`, s.Schema()), newer)
	require.NoError(t, err)
	for _, ro := range []bool{false, true} {
		_, err = postgres.New(t.Context(), pool(t), &postgres.Options{Schema: s.Schema(), ReadOnly: ro})
		require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
		var sve *postgres.SchemaVersionError
		require.ErrorAs(t, err, &sve)
		require.Equal(t, newer, sve.Found)
		require.Equal(t, postgres.SchemaVersion(), sve.Known)
		require.Contains(t, err.Error(), s.Schema())
	}
}

// TestReadOnly: a read-only store does not create a schema, reads an existing one and writes
// nothing.
func TestReadOnly(t *testing.T) {
	schema := schemaName(t)
	_, err := postgres.New(t.Context(), pool(t), &postgres.Options{Schema: schema, ReadOnly: true})
	require.ErrorIs(t, err, postgres.ErrSchemaMissing)
	var exists bool
	require.NoError(t, pool(t).QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists))
	require.False(t, exists, "a read-only store creates nothing")

	w := newStore(t, &postgres.Options{Schema: schema})
	defer w.Close()
	st := store.Stream{Integration: "i", Connection: "c", Model: "m"}
	_, err = w.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: st, Records: []store.RecordInput{{Data: []byte(`{"id":"1"}`)}}})
	require.NoError(t, err)

	r, err := postgres.New(t.Context(), pool(t), &postgres.Options{Schema: schema, ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	res, err := r.RecordsList(t.Context(), &store.RecordsListParams{Stream: st})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	_, err = r.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: st, Records: []store.RecordInput{{Data: []byte(`{"id":"2"}`)}}})
	require.ErrorIs(t, err, postgres.ErrReadOnly)
	_, err = r.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: store.CheckpointKey{Integration: "i", Sync: "s", Connection: "c"}, Data: []byte(`1`)})
	require.ErrorIs(t, err, postgres.ErrReadOnly)
}

// TestRetryAfterTerminatedConnection: a write whose connection the server terminates
// (admin_shutdown, as in a failover) is run again and applied once; without retries it fails
// with a *TransientError and writes nothing.
func TestRetryAfterTerminatedConnection(t *testing.T) {
	schema := schemaName(t)
	ctx := t.Context()
	// The store's own pool has the server terminate connections as they are handed out, while
	// armed.
	var mu sync.Mutex
	armed := 0
	kill := func(ctx context.Context, c *pgconn.PgConn) {
		mu.Lock()
		defer mu.Unlock()
		if armed == 0 {
			return
		}
		armed--
		_, err := pool(t).Exec(ctx, `SELECT pg_terminate_backend($1)`, c.PID())
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name       string
		maxRetries int
	}{{"retried", 3}, {"out of retries", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openWithHook(t, schema, tc.maxRetries, kill)
			defer s.Close()
			st := store.Stream{Integration: "i", Connection: "c", Model: tc.name}
			mu.Lock()
			armed = 1
			mu.Unlock()
			_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Records: []store.RecordInput{{Data: []byte(`{"id":"1"}`)}}})
			mu.Lock()
			armed = 0
			mu.Unlock()
			stats, serr := s.StreamStats(ctx, st)
			require.NoError(t, serr)
			if tc.maxRetries < 0 {
				var te *postgres.TransientError
				require.ErrorAs(t, err, &te, "got %v", err)
				require.Equal(t, 1, te.Attempts)
				require.Equal(t, 0, stats.Live, "nothing written")
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, stats.Live)
		})
	}
}
