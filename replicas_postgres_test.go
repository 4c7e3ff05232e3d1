package nango_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// The replica test over PostgreSQL: three engines, each with its own pool, on one schema. The
// engines' time is synctest's, so the test takes seconds; time stands still while a query is
// in flight.
func TestReplicasOnPostgres(t *testing.T) {
	url, schema := postgresSchema(t, "replicas")
	synctest.Test(t, func(t *testing.T) {
		var handles []store.Store
		for range 3 {
			st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
			require.NoError(t, err)
			// Without its signals: a LISTEN connection waits on the network, which synctest
			// does not count as idle, so fake time would never move. The engines share the
			// store by their reloads here; TestReplicasInProcesses runs with signals.
			handles = append(handles, noSignals{st})
		}
		shareAndTakeOver(t, 100, func(i int) store.Store { return handles[i] })
		for _, h := range handles {
			require.NoError(t, h.Close())
		}
	})
}
