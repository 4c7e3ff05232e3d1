package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// testSchema skips the test without NANGO_TEST_POSTGRES_URL. Otherwise it returns the server's
// URL, a pool of the test's own and the name of a schema that no one uses yet, which is dropped
// with all it holds, and the pool closed, when the test ends.
func testSchema(t *testing.T, prefix string) (string, *pgxpool.Pool, string) {
	t.Helper()
	url := os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
	}
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	name := fmt.Sprintf("%s_%016x", prefix, rand.Uint64())
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, name)); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return url, pool, name
}
