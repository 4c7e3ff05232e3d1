package nango_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// hanger is a sync that notes which engine ran each run; once armed, the next run to start
// hangs until released (or its context ends), as on an engine that stopped mid-run.
type hanger struct {
	mu      sync.Mutex
	armed   chan struct{} // the next run waits for it; nil when not armed
	hungOn  int           // the engine whose run hangs, -1 for none
	engines map[int]int   // engine -> runs started
}

func newHanger() *hanger { return &hanger{hungOn: -1, engines: map[int]int{}} }

func (h *hanger) arm() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = make(chan struct{})
	return h.armed
}

func (h *hanger) forEngine(i int) nango.Sync {
	return nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
		h.mu.Lock()
		h.engines[i]++
		wait := h.armed
		if wait != nil {
			h.armed, h.hungOn = nil, i
		}
		h.mu.Unlock()
		if wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return n.BatchSave(ctx, []map[string]any{{"id": "1", "at": time.Now().UnixNano()}}, "Thing")
	})
}

func (h *hanger) hung() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hungOn
}

// triggerRuns returns the runs of key that a trigger started (manual or reset), oldest first.
func triggerRuns(t *testing.T, st store.Store, key store.SyncKey) []*store.Run {
	t.Helper()
	runs, err := st.RunList(context.Background(), &store.RunListParams{Key: key, Limit: 1000})
	require.NoError(t, err)
	var out []*store.Run
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Trigger == nango.TriggerManual || runs[i].Trigger == nango.TriggerReset {
			out = append(out, runs[i])
		}
	}
	return out
}

func pendingTrigger(t *testing.T, st store.Store, key store.SyncKey) store.ScheduleTrigger {
	t.Helper()
	sc, err := st.ScheduleGet(context.Background(), key)
	require.NoError(t, err)
	return sc.Trigger
}

// A trigger made on one engine runs once, on one of the engines sharing the store, with its
// options, and is cleared from the schedule once it ran.
func TestReplicasRunATriggerOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memory.New()
		h := newHanger()
		engines, stops := triggerReplicas(t, 3, func(int) store.Store { return mem }, h, nango.Config{})
		ctx := context.Background()
		key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c000"}
		// The run hangs until the saved trigger is checked: otherwise it may end, and clear the
		// trigger, before the check.
		release := h.arm()
		require.NoError(t, engines[1].Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c000"}, Reset: true}))
		require.False(t, pendingTrigger(t, mem, key).IsZero(), "the trigger is saved before Trigger returns")
		close(release)
		synctest.Wait()
		runs := triggerRuns(t, mem, key)
		require.Len(t, runs, 1, "the trigger ran once, on one engine")
		require.Equal(t, nango.TriggerReset, runs[0].Trigger)
		require.True(t, runs[0].Initial, "with its reset")
		require.Equal(t, store.RunSucceeded, runs[0].State)
		require.True(t, pendingTrigger(t, mem, key).IsZero(), "the run cleared the trigger")
		// Nothing more runs before the next slot, on any engine.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Len(t, triggerRuns(t, mem, key), 1)
		for _, stop := range stops {
			require.NoError(t, stop())
		}
	})
}

// The engine that took a trigger hangs before its run ends (it stops renewing the lease and
// writing): another engine runs the trigger, with its reset, once the lease has expired.
func TestReplicasTakeOverATriggerFromADeadEngine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memory.New()
		triggerTakeover(t, func(int) store.Store { return mem })
	})
}

// The same over PostgreSQL, each engine with its own pool and no signals (as in
// TestReplicasOnPostgres): the others find the trigger at their reload.
func TestReplicasTakeOverATriggerOnPostgres(t *testing.T) {
	url, schema := postgresSchema(t, "replicas_trigger")
	synctest.Test(t, func(t *testing.T) {
		var handles []store.Store
		for range 3 {
			st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
			require.NoError(t, err)
			handles = append(handles, noSignals{st})
		}
		triggerTakeover(t, func(i int) store.Store { return handles[i] })
		for _, h := range handles {
			require.NoError(t, h.Close())
		}
	})
}

// triggerReplicas starts n engines over handle(i), each with the sync "things" of h every hour,
// and adds the connections c000 and c001; it returns once their first runs are done.
func triggerReplicas(t *testing.T, n int, handle func(i int) store.Store, h *hanger, cfg nango.Config) ([]*nango.Engine, []func() error) {
	t.Helper()
	var engines []*nango.Engine
	for i := range n {
		c := cfg
		c.Logger, c.InstanceID = quiet, fmt.Sprintf("replica-%d", i)
		eng, err := nango.NewEngine(handle(i), &c)
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
			Name: "things", Frequency: "every hour", Models: []nango.Model{{Name: "Thing"}}, Sync: h.forEngine(i),
		}}}))
		engines = append(engines, eng)
	}
	for c := range 2 {
		require.NoError(t, engines[0].AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: fmt.Sprintf("c%03d", c)}))
	}
	var stops []func() error
	for _, eng := range engines {
		stops = append(stops, start(t, eng))
	}
	synctest.Wait()
	return engines, stops
}

func triggerTakeover(t *testing.T, handle func(i int) store.Store) {
	const ttl = 30 * time.Second
	h := newHanger()
	parts := make([]*partition, 3)
	for i := range parts {
		parts[i] = &partition{Store: handle(i)}
	}
	engines, stops := triggerReplicas(t, 3, func(i int) store.Store { return parts[i] }, h, nango.Config{LeaseTTL: ttl, ReloadInterval: 10 * time.Second})
	st := handle(0)
	ctx := context.Background()
	key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c001"}
	release := h.arm()
	asked := time.Now()
	require.NoError(t, engines[0].Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c001"}, Reset: true}))
	// Whichever engine took it (at once, or at its reload) hangs in the run.
	deadline := time.Now().Add(time.Minute)
	for h.hung() < 0 {
		require.True(t, time.Now().Before(deadline), "no engine took the trigger within a minute")
		time.Sleep(time.Second)
		synctest.Wait()
	}
	dead := h.hung()
	parts[dead].cut.Store(true)
	diedAt := time.Now()
	require.Len(t, triggerRuns(t, st, key), 1, "the trigger's first run is in progress")

	time.Sleep(ttl + 10*time.Second)
	synctest.Wait()
	runs := triggerRuns(t, st, key)
	require.Len(t, runs, 2, "another engine ran the trigger once the dead one's lease expired")
	require.Equal(t, nango.InterruptedRunError, runs[0].Error, "the dead engine's run is recorded as interrupted")
	taken := runs[1]
	require.Equal(t, store.RunSucceeded, taken.State)
	require.Equal(t, nango.TriggerReset, taken.Trigger, "with the trigger's reset")
	require.True(t, taken.Initial)
	require.True(t, taken.StartedAt.After(diedAt), "taken over after the engine died")
	require.LessOrEqual(t, taken.StartedAt.Sub(diedAt), ttl+10*time.Second, "within the lease TTL and a reload")
	require.True(t, pendingTrigger(t, st, key).IsZero(), "the run that ran it cleared the trigger")

	// The dead engine wakes up: its run is fenced off, and the trigger does not run again.
	parts[dead].cut.Store(false)
	close(release)
	time.Sleep(time.Minute)
	synctest.Wait()
	runs = triggerRuns(t, st, key)
	require.Len(t, runs, 2, "the trigger ran once to its end")
	require.NotEqual(t, store.RunSucceeded, runs[0].State)
	for _, stop := range stops {
		require.NoError(t, stop())
	}
	t.Logf("trigger asked at %s, its engine (%d) died at %s, run by another at %s", asked.Format(time.TimeOnly),
		dead, diedAt.Format(time.TimeOnly), taken.StartedAt.Format(time.TimeOnly))
}

// On one engine: a triggered run cut short by a shutdown runs again, with its reset, when the
// engine starts again; one that ran to its end does not.
func TestTriggerSurvivesARestart(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		synctest.Test(t, func(t *testing.T) {
			h := newHanger()
			engines, stops := triggerReplicas(t, 1, func(int) store.Store { return st }, h, nango.Config{})
			ctx := context.Background()
			key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c000"}
			h.arm()
			require.NoError(t, engines[0].Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c000"}, Reset: true}))
			synctest.Wait()
			require.Equal(t, 0, h.hung(), "the triggered run is in progress")
			require.NoError(t, stops[0]())
			runs := triggerRuns(t, st, key)
			require.Len(t, runs, 1)
			require.Equal(t, store.RunCancelled, runs[0].State)
			require.False(t, pendingTrigger(t, st, key).IsZero(), "a run cut short leaves the trigger")

			again := start(t, engines[0])
			synctest.Wait()
			runs = triggerRuns(t, st, key)
			require.Len(t, runs, 2, "the trigger ran at the next start")
			require.Equal(t, store.RunSucceeded, runs[1].State)
			require.Equal(t, nango.TriggerReset, runs[1].Trigger)
			require.True(t, pendingTrigger(t, st, key).IsZero())
			require.NoError(t, again())
			again = start(t, engines[0])
			synctest.Wait()
			require.Len(t, triggerRuns(t, st, key), 2, "and not once more")
			require.NoError(t, again())
		})
	})
}

// A trigger made while another waits to run (here, behind a lease another owner holds)
// replaces it, but a reset asked by the first is not lost: the one run that follows resets.
func TestTriggersWaitingMergeTheirReset(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memory.New()
		h := newHanger()
		engines, stops := triggerReplicas(t, 1, func(int) store.Store { return mem }, h, nango.Config{LeaseTTL: 30 * time.Second, ReloadInterval: 10 * time.Second})
		ctx := context.Background()
		key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c000"}
		held, err := mem.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: key, Owner: "elsewhere", TTL: time.Minute, Now: time.Now()})
		require.NoError(t, err)
		sel := nango.SyncSelector{Integration: "crm", Connection: "c000"}
		require.NoError(t, engines[0].Trigger(ctx, nango.TriggerParams{SyncSelector: sel, Reset: true}))
		synctest.Wait()
		require.Empty(t, triggerRuns(t, mem, key), "the lease is elsewhere")
		require.NoError(t, engines[0].Trigger(ctx, nango.TriggerParams{SyncSelector: sel}))
		require.True(t, pendingTrigger(t, mem, key).Reset, "the saved trigger keeps the first one's reset")
		require.NoError(t, mem.LeaseRelease(ctx, held))
		time.Sleep(time.Minute)
		synctest.Wait()
		runs := triggerRuns(t, mem, key)
		require.Len(t, runs, 1, "one run for both triggers")
		require.Equal(t, nango.TriggerReset, runs[0].Trigger)
		require.True(t, runs[0].Initial, "with the reset")
		require.True(t, pendingTrigger(t, mem, key).IsZero())
		for _, stop := range stops {
			require.NoError(t, stop())
		}
	})
}

// A triggered run that ends without a shutdown clears its trigger whatever its outcome, here a
// sync that returns context.Canceled of its own: the trigger does not run again at the next
// reload or start.
func TestTriggerClearedWhateverTheOutcome(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memory.New()
		var mu sync.Mutex
		runs := 0
		eng, err := nango.NewEngine(mem, &nango.Config{Logger: quiet, ReloadInterval: 10 * time.Second})
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
			Name: "things", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Thing"}},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				mu.Lock()
				runs++
				mu.Unlock()
				return context.Canceled
			}),
		}}}))
		ctx := context.Background()
		require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "c1"}))
		stop := start(t, eng)
		key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c1"}
		require.NoError(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c1"}}))
		synctest.Wait()
		require.True(t, pendingTrigger(t, mem, key).IsZero(), "the run cleared its trigger")
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		stop = start(t, eng)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, 1, runs, "the trigger ran once")
	})
}
