package nango_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gonango/nango/store/postgres"
)

// postgresSchema skips the test without NANGO_TEST_POSTGRES_URL. Otherwise it returns the
// server's URL and the name of a schema of the test's own, dropped with all it holds when the
// test ends (after the test's own cleanups, which close its stores).
func postgresSchema(t *testing.T, prefix string) (url, schema string) {
	t.Helper()
	url = os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against (e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	schema = fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
		if err == nil {
			_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			st.Close()
		}
	})
	return url, schema
}
