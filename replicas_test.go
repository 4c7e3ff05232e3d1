package nango_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// noSignals hides the store's Signaler: engines over it share the store by polling alone.
type noSignals struct{ store.Store }

// replicas builds n engines over one store, each with the integration "crm" and its sync
// "things" of rec, and runs them; conns connections are added through the first engine.
func replicas(t *testing.T, st store.Store, n, conns int, rec nango.Sync, sc nango.SyncConfig, cfg nango.Config) ([]*nango.Engine, []func() error) {
	t.Helper()
	sc.Name, sc.Models, sc.Sync = "things", []nango.Model{{Name: "Thing"}}, rec
	if sc.Frequency == "" {
		sc.Frequency = "every hour"
	}
	var engines []*nango.Engine
	var stops []func() error
	for i := range n {
		c := cfg
		c.Logger, c.InstanceID = quiet, fmt.Sprintf("replica-%d", i)
		eng, err := nango.NewEngine(st, &c)
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{sc}}))
		engines = append(engines, eng)
	}
	for i := range conns {
		require.NoError(t, engines[0].AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: fmt.Sprintf("c%03d", i)}))
	}
	for _, eng := range engines {
		stops = append(stops, start(t, eng))
	}
	return engines, stops
}

type schedView struct {
	Paused   bool
	Override string
	Next     time.Time
	OK       bool
}

func views(engines []*nango.Engine, conn string) []schedView {
	var out []schedView
	for _, eng := range engines {
		p, o, n, ok := nango.SchedState(eng, store.SyncKey{Integration: "crm", Sync: "things", Connection: conn})
		out = append(out, schedView{p, o, n, ok})
	}
	return out
}

// Control calls made on any engine reach the schedulers of all of them at once, through the
// store's signals: no fake time passes between the call and the checks, and the engines
// reload at intervals only every 30 seconds.
func TestReplicasControlCallsReachEveryEngine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		engines, stops := replicas(t, memory.New(), 3, 2, rec, nango.SyncConfig{}, nango.Config{})
		ctx := context.Background()
		synctest.Wait()
		require.Equal(t, 2, rec.total(), "each new connection ran once, on one engine")

		require.NoError(t, engines[1].AddConnection(ctx, nango.Connection{Integration: "crm", ID: "new"}))
		synctest.Wait()
		for i, v := range views(engines, "new") {
			require.True(t, v.OK, "engine %d schedules a connection added on engine 1", i)
		}
		require.Equal(t, 3, rec.total(), "the new connection ran once")

		sel := nango.SyncSelector{Integration: "crm", Connection: "new"}
		require.NoError(t, engines[2].Pause(ctx, sel))
		synctest.Wait()
		for i, v := range views(engines, "new") {
			require.True(t, v.Paused, "engine %d sees the pause made on engine 2", i)
		}

		require.NoError(t, engines[0].SetFrequency(ctx, "crm", "things", "new", "every 5 minutes"))
		synctest.Wait()
		for i, v := range views(engines, "new") {
			require.Equal(t, "every 5 minutes", v.Override, "engine %d sees the override made on engine 0", i)
		}

		// A second later (a run's slot is its start time: the first run started at the very
		// instant, on this stopped clock, that a Start now would claim).
		time.Sleep(time.Second)
		require.NoError(t, engines[1].Start(ctx, sel))
		synctest.Wait()
		for i, v := range views(engines, "new") {
			require.False(t, v.Paused, "engine %d sees the start made on engine 1", i)
		}
		require.Len(t, rec.runs("crm/new"), 2, "starting ran it once more, on one engine")
		// Every 5 minutes from now on, on one engine each time.
		time.Sleep(31 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/new"), 2+6, "a run every 5 minutes for 31 minutes, none twice")
		require.False(t, rec.overlap)

		require.NoError(t, engines[2].DeleteConnection(ctx, "crm", "new"))
		synctest.Wait()
		for i, v := range views(engines, "new") {
			require.False(t, v.OK, "engine %d dropped the connection deleted on engine 2", i)
		}
		for _, stop := range stops {
			require.NoError(t, stop())
		}
	})
}

// Without signals (a store that has none, or a lost signal) the engines catch up at their next
// reload.
func TestReplicasCatchUpByReloading(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		engines, stops := replicas(t, noSignals{memory.New()}, 2, 1, rec, nango.SyncConfig{}, nango.Config{ReloadInterval: 10 * time.Second})
		ctx := context.Background()
		synctest.Wait()
		require.NoError(t, engines[0].Pause(ctx, nango.SyncSelector{Integration: "crm"}))
		require.NoError(t, engines[0].AddConnection(ctx, nango.Connection{Integration: "crm", ID: "new"}))
		synctest.Wait()
		require.False(t, views(engines, "c000")[1].Paused, "no signal: engine 1 does not know yet")
		require.False(t, views(engines, "new")[1].OK)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.True(t, views(engines, "c000")[1].Paused, "engine 1 reloaded the pause")
		require.True(t, views(engines, "new")[1].OK, "engine 1 reloaded the new connection")
		require.NoError(t, engines[1].DeleteConnection(ctx, "crm", "new"))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.False(t, views(engines, "new")[0].OK, "engine 0 reloaded the deletion")
		for _, stop := range stops {
			require.NoError(t, stop())
		}
	})
}
