package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/gonango/nango/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envURL names the variable that holds the test server's URL; the tests skip when it is unset.
const envURL = "NANGO_TEST_POSTGRES_URL"

// envRequire, when set, makes TestServerReachable fail instead of skipping without a server.
const envRequire = "NANGO_TEST_POSTGRES_REQUIRED"

var sharedPool *pgxpool.Pool

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	code := m.Run()
	if sharedPool != nil {
		sharedPool.Close()
	}
	os.Exit(code)
}

// testURL returns the test server's URL, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		t.Skipf("%s is not set: no PostgreSQL server to test against (e.g. postgres://postgres@127.0.0.1:5432/test)", envURL)
	}
	return url
}

// pool returns the pool the tests share, or skips the test.
func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := testURL(t)
	if sharedPool == nil {
		cfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		cfg.MaxConns = 16
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		sharedPool = p
	}
	return sharedPool
}

// schemaName returns a fresh schema name that is dropped when the test ends.
func schemaName(t testing.TB) string {
	t.Helper()
	p := pool(t)
	name := fmt.Sprintf("nango_test_%016x", rand.Uint64())
	t.Cleanup(func() {
		_, err := p.Exec(context.Background(), fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, name))
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a store on a fresh schema of the shared pool.
func newStore(t testing.TB, o *postgres.Options) *postgres.Store {
	t.Helper()
	var opts postgres.Options
	if o != nil {
		opts = *o
	}
	if opts.Schema == "" {
		opts.Schema = schemaName(t)
	}
	s, err := postgres.New(context.Background(), pool(t), &opts)
	require.NoError(t, err)
	return s
}

func TestServerReachable(t *testing.T) {
	url := os.Getenv(envURL)
	if url == "" {
		if os.Getenv(envRequire) != "" {
			t.Fatalf("%s is set but %s is not", envRequire, envURL)
		}
		t.Skipf("%s is not set", envURL)
	}
	s, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schemaName(t)})
	require.NoError(t, err, "%s is set but the server cannot be used", envURL)
	require.NoError(t, s.Close())
}

func TestConformance(t *testing.T) {
	pool(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, nil)
	}, storetest.Features{
		Reopen: func(t *testing.T, s store.Store) store.Store {
			ps := s.(*postgres.Store)
			require.NoError(t, ps.Close())
			re, err := postgres.New(t.Context(), ps.Pool(), &postgres.Options{Schema: ps.Schema()})
			require.NoError(t, err)
			return re
		},
		// Another replica: a pool of its own on the same schema.
		MultiProcess: func(t *testing.T, s store.Store) store.Store {
			other, err := postgres.Open(t.Context(), testURL(t), &postgres.Options{Schema: s.(*postgres.Store).Schema()})
			require.NoError(t, err)
			return other
		},
	})
}

// openWithHook opens a store on schema with a pool of its own whose connections call hook before
// each is handed out.
func openWithHook(t *testing.T, schema string, maxRetries int, hook func(context.Context, *pgconn.PgConn)) *postgres.Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
		hook(ctx, c.PgConn())
		return true, nil
	}
	p, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	s, err := postgres.New(t.Context(), p, &postgres.Options{Schema: schema, MaxRetries: maxRetries})
	require.NoError(t, err)
	return s
}

// TestNamesPostgresCannotHold: a name with a NUL byte, which no text column can hold, is a
// connection or entry that does not exist, not a server error.
func TestNamesPostgresCannotHold(t *testing.T) {
	s := newStore(t, nil)
	defer s.Close()
	ctx := t.Context()
	_, err := s.ConnectionGet(ctx, "crm", "a\x00b")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.ConnectionDelete(ctx, "crm", "a\x00b"), store.ErrNotFound)
	_, err = s.OutboxGet(ctx, "a\x00b")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// BenchmarkPrune100k prunes 100,000 records in transactions of 2,000 (the engine's default)
// and compares it with writing them.
func BenchmarkPrune100k(b *testing.B) {
	storetest.BenchmarkPrune(b, func(b *testing.B) store.Store { return newStore(b, nil) }, 100_000, 2000)
}

// TestTextResults runs writes on a pool whose statements return text rather than binary
// results, which the lookups of writes decode another way.
func TestTextResults(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	p, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	s, err := postgres.New(t.Context(), p, &postgres.Options{Schema: schemaName(t)})
	require.NoError(t, err)
	defer s.Close()
	st := store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	write := func(mode store.WriteMode, recs ...string) *store.RecordsWriteResult {
		in := make([]store.RecordInput, len(recs))
		for i, r := range recs {
			in[i] = store.RecordInput{Data: []byte(r)}
		}
		res, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: st, Mode: mode, Records: in})
		require.NoError(t, err)
		return res
	}
	require.Equal(t, 2, write(store.WriteSave, `{"id":"a","n":1}`, `{"id":"b","n":1}`).Added)
	res := write(store.WriteSave, `{"id":"a","n":1}`, `{"id":"b","n":2}`)
	require.Equal(t, []int{1, 1}, []int{res.Unchanged, res.Updated})
	require.Equal(t, 1, write(store.WriteMerge, `{"id":"a","m":3}`).Updated)
	list, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: st, IDs: []string{"a"}})
	require.NoError(t, err)
	require.Len(t, list.Records, 1)
	require.JSONEq(t, `{"id":"a","n":1,"m":3}`, string(list.Records[0].Data))
}
