package nangotest_test

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// hourlyEngine has an hourly sync that needs no provider (the schedule is what is tested) and
// two connections.
func hourlyEngine(t *testing.T) *nango.Engine {
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Frequency: "every hour", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []map[string]any{{"id": "1"}}, "Contact")
		}),
	}}}))
	for _, id := range []string{"acme", "globex"} {
		require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: id}))
	}
	return eng
}

func TestScheduleDueTimesPauseAndOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng := hourlyEngine(t)
		t0 := time.Now()
		s := nangotest.StartSchedule(t, eng)
		s.Advance(3 * time.Hour)
		acme := s.Starts("crm", "contacts", "acme")
		require.Len(t, acme, 4, "at once, then every hour")
		require.True(t, acme[0].Equal(t0), "a new connection runs at once: %s", acme[0])
		offset := acme[1].Sub(t0)
		require.Greater(t, offset, time.Duration(0))
		require.LessOrEqual(t, offset, time.Hour)
		for i := 2; i < len(acme); i++ {
			require.Equal(t, time.Hour, acme[i].Sub(acme[i-1]), "on its grid")
		}
		globex := s.Starts("crm", "contacts", "globex")
		require.NotEqual(t, offset, globex[1].Sub(t0), "each connection has its own place on the grid")

		ctx := context.Background()
		require.NoError(t, eng.Pause(ctx, nango.SyncSelector{Integration: "crm", Connection: "acme"}))
		require.NoError(t, eng.SetFrequency(ctx, "crm", "contacts", "globex", "every 15 minutes"))
		s.Advance(time.Hour)
		require.Len(t, s.Starts("crm", "contacts", "acme"), 4, "paused: no run")
		require.Len(t, s.Starts("crm", "contacts", "globex"), len(globex)+4, "four runs an hour after the override")

		require.NoError(t, eng.Start(ctx, nango.SyncSelector{Integration: "crm", Connection: "acme"}))
		s.Wait()
		require.Len(t, s.Starts("crm", "contacts", "acme"), 5, "Start runs it at once")
		require.NoError(t, s.Stop())
	})
}
