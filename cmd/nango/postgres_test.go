package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// TestInspectPostgres runs the inspection commands against a PostgreSQL store that a service
// has open, through -db and -schema.
func TestInspectPostgres(t *testing.T) {
	url := os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
	}
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	schema := fmt.Sprintf("nango_test_cli_%016x", rand.Uint64())
	defer pool.Exec(ctx, fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, schema))

	_, errOut, code := runCmd(t, "-db", url, "-schema", schema, "status", "-i", "crm")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "is -schema the one the service uses", "inspection creates no schema")

	st, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	defer st.Close() // the service keeps it open
	eng, err := nango.NewEngine(st, nil)
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			recs := []map[string]string{{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}}
			return n.BatchSave(ctx, recs, "Contact", nango.WithCheckpoint(map[string]string{"since": "2025-01-01"}))
		}),
	}}}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)

	db := []string{"-db", url, "-schema", schema}
	key := []string{"-integration", "crm", "-sync", "contacts", "-connection", "acme"}
	out, errOut, code := runCmd(t, append(db, "records", "-i", "crm", "-c", "acme", "-m", "Contact")...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"id":"1","name":"Ada"}`)
	require.Contains(t, out, "2 records; end of the feed")
	out, errOut, code = runCmd(t, append(append(db, "status"), key...)...)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `contacts\s+acme\s+SUCCESS`, out)
	out, errOut, code = runCmd(t, append(append(append(db, "checkpoint", "clear"), key...), "-yes")...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "cleared the checkpoint")
	out, _, _ = runCmd(t, append(append(db, "checkpoint", "show"), key...)...)
	require.Contains(t, out, "no checkpoint")
}
