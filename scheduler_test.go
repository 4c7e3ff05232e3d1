package nango_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
)

// recorder is a sync that records when it ran for which connection, and never overlaps with
// itself unnoticed.
type recorder struct {
	mu      sync.Mutex
	starts  map[string][]time.Time
	order   []string
	running map[string]int
	overlap bool
	block   chan struct{} // when set, runs wait for it (or for their context)
	fail    atomic.Bool
}

func newRecorder() *recorder {
	return &recorder{starts: map[string][]time.Time{}, running: map[string]int{}}
}

func (r *recorder) Exec(ctx context.Context, n *nango.Nango) error {
	key := n.Integration() + "/" + n.ConnectionID()
	r.mu.Lock()
	r.starts[key] = append(r.starts[key], time.Now())
	r.order = append(r.order, key)
	r.running[key]++
	if r.running[key] > 1 {
		r.overlap = true
	}
	block := r.block
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running[key]--
		r.mu.Unlock()
	}()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.fail.Load() {
		return errors.New("provider unavailable")
	}
	return n.BatchSave(ctx, []map[string]any{{"id": "1", "at": time.Now().UnixNano()}}, "Thing")
}

func (r *recorder) runs(key string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.starts[key])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

// engineWith builds an engine with one integration per name, each with a sync "things" of the
// recorder, and n connections c0..c(n-1) per integration.
func engineWith(t *testing.T, st store.Store, cfg nango.Config, rec *recorder, sc nango.SyncConfig, n int, integrations ...string) *nango.Engine {
	t.Helper()
	cfg.Logger = quiet
	eng, err := nango.NewEngine(st, &cfg)
	require.NoError(t, err)
	if sc.Name == "" {
		sc.Name = "things"
	}
	if sc.Frequency == "" {
		sc.Frequency = "every minute"
	}
	sc.Models = []nango.Model{{Name: "Thing"}}
	sc.Sync = rec
	for _, in := range integrations {
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: in, Syncs: []nango.SyncConfig{sc}}))
		for i := 0; i < n; i++ {
			require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: in, ID: fmt.Sprintf("c%d", i)}))
		}
	}
	return eng
}

// start runs the engine in the background and returns a function that stops it and returns
// Run's error.
func start(t *testing.T, eng *nango.Engine) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	synctest.Wait()
	return func() error {
		cancel()
		return <-done
	}
}

func TestSchedulerRunsEveryConnectionOnItsGrid(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{}, 5, "crm")
		stop := start(t, eng)
		t0 := time.Now()
		for i := 0; i < 5; i++ {
			require.Len(t, rec.runs(fmt.Sprintf("crm/c%d", i)), 1, "a new connection runs at once")
		}
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		require.NoError(t, stop())

		offsets := map[time.Duration]bool{}
		for i := 0; i < 5; i++ {
			starts := rec.runs(fmt.Sprintf("crm/c%d", i))
			require.Len(t, starts, 11, "the first run, then one per minute")
			require.Equal(t, t0, starts[0])
			for j := 2; j < len(starts); j++ {
				require.Equal(t, time.Minute, starts[j].Sub(starts[j-1]), "runs stay on the grid")
			}
			offsets[starts[1].Sub(t0)] = true
		}
		require.Greater(t, len(offsets), 1, "connections are spread over the minute, not started together")
		require.False(t, rec.overlap)
	})
}

func TestSchedulerAfterDowntimeRunsOnceThenReturnsToTheGrid(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		st := memory.New()
		eng := engineWith(t, st, nango.Config{}, rec, nango.SyncConfig{}, 1, "crm")
		stop := start(t, eng)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		before := len(rec.runs("crm/c0"))

		time.Sleep(time.Hour) // down for an hour: 60 slots missed
		restarted := time.Now()
		stop = start(t, eng)
		starts := rec.runs("crm/c0")
		require.Len(t, starts, before+1, "one catch-up run, not sixty")
		require.Equal(t, restarted, starts[len(starts)-1])
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		starts = rec.runs("crm/c0")
		require.Len(t, starts, before+3)
		require.Equal(t, time.Minute, starts[len(starts)-1].Sub(starts[len(starts)-2]))
		require.Equal(t, starts[1].Sub(starts[0])%time.Minute, starts[len(starts)-1].Sub(starts[0])%time.Minute, "back on the same grid")
	})
}

func TestSchedulerManualStartPauseAndStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{ManualStart: true}, 2, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		require.Zero(t, rec.total(), "ManualStart syncs wait for Start")

		sts, err := eng.Status(ctx, nango.SyncSelector{Integration: "crm"})
		require.NoError(t, err)
		require.Len(t, sts, 2)
		require.Equal(t, nango.StatusPaused, sts[0].Status)
		require.True(t, sts[0].NextScheduledRun.IsZero())

		require.NoError(t, eng.Start(ctx, nango.SyncSelector{Integration: "crm", Connection: "c1"}))
		synctest.Wait()
		require.Len(t, rec.runs("crm/c1"), 1, "starting runs it now")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/c1"), 3)
		require.Empty(t, rec.runs("crm/c0"))

		require.NoError(t, eng.Pause(ctx, nango.SyncSelector{Integration: "crm", Syncs: []string{"things"}}))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/c1"), 3, "paused")
		require.NoError(t, stop())

		// The paused state survives a restart.
		stop = start(t, eng)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		require.Equal(t, 3, rec.total())
		sts, err = eng.Status(ctx, nango.SyncSelector{Integration: "crm", Connection: "c1"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusPaused, sts[0].Status)
		require.NoError(t, stop())
	})
}

func TestSchedulerFrequencyOverride(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{}, 1, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		require.NoError(t, eng.SetFrequency(ctx, "crm", "things", "c0", "every 5 minutes"))
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		starts := rec.runs("crm/c0")
		require.Len(t, starts, 5, "the first run, then every 5 minutes")
		require.Equal(t, 5*time.Minute, starts[4].Sub(starts[3]))

		sts, err := eng.Status(ctx, nango.SyncSelector{Integration: "crm", Connection: "c0"})
		require.NoError(t, err)
		require.Equal(t, "every 5 minutes", sts[0].Frequency)
		require.Equal(t, "every 5 minutes", sts[0].FrequencyOverride)

		require.ErrorContains(t, eng.SetFrequency(ctx, "crm", "things", "c0", "every 5 seconds"), "shorter than the minimum")
		require.ErrorIs(t, eng.SetFrequency(ctx, "crm", "things", "nope", "1h"), nango.ErrUnknownConnection)

		require.NoError(t, eng.SetFrequency(ctx, "crm", "things", "c0", ""))
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/c0"), 15, "back to every minute")
		require.NoError(t, stop())
	})
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{Frequency: "every day"}, 3, "crm")
		ctx := context.Background()
		require.ErrorIs(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm"}}), nango.ErrEngineNotRunning)
		stop := start(t, eng)
		require.Equal(t, 3, rec.total())

		require.NoError(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c2"}}))
		synctest.Wait()
		require.Len(t, rec.runs("crm/c2"), 2)
		require.NoError(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm"}}))
		synctest.Wait()
		require.Equal(t, 7, rec.total())

		// Triggering a sync that is running is refused; the others run.
		rec.mu.Lock()
		rec.block = make(chan struct{})
		rec.mu.Unlock()
		require.NoError(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Connection: "c0"}}))
		synctest.Wait()
		err := eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm"}})
		require.ErrorIs(t, err, nango.ErrRunActive)
		require.ErrorContains(t, err, "things/c0")
		sts, err := eng.Status(ctx, nango.SyncSelector{Integration: "crm", Connection: "c0"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusRunning, sts[0].Status)
		close(rec.block)
		synctest.Wait()
		require.Equal(t, 10, rec.total())

		require.ErrorIs(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "nope"}}), nango.ErrUnknownIntegration)
		require.ErrorIs(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Syncs: []string{"nope"}}}), nango.ErrUnknownSync)
		require.ErrorIs(t, eng.Trigger(ctx, nango.TriggerParams{EmptyCache: true, SyncSelector: nango.SyncSelector{Integration: "crm"}}), nango.ErrInvalidConfig)
		require.NoError(t, stop())
	})
}

func TestSchedulerConcurrencyIsFairAcrossIntegrations(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		rec.block = make(chan struct{})
		st := memory.New()
		cfg := nango.Config{MaxConcurrentRuns: 2, Logger: quiet}
		eng, err := nango.NewEngine(st, &cfg)
		require.NoError(t, err)
		sc := nango.SyncConfig{Name: "things", Frequency: "every day", Models: []nango.Model{{Name: "Thing"}}, Sync: rec}
		for _, in := range []string{"big", "small"} {
			require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: in, Syncs: []nango.SyncConfig{sc}}))
		}
		for i := 0; i < 20; i++ {
			require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "big", ID: fmt.Sprintf("c%02d", i)}))
		}
		require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "small", ID: "only"}))
		stop := start(t, eng)
		rec.mu.Lock()
		first := slices.Clone(rec.order)
		rec.mu.Unlock()
		require.Len(t, first, 2, "no more runs than the limit")
		require.Contains(t, first, "small/only", "the small integration is not starved by the big one")
		close(rec.block)
		synctest.Wait()
		require.Equal(t, 21, rec.total())
		require.False(t, rec.overlap)
		require.NoError(t, stop())
	})
}

func TestStopCancelsRunsAndReleasesLeases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		rec.block = make(chan struct{}) // never closed: runs wait for their context
		st := memory.New()
		eng := engineWith(t, st, nango.Config{}, rec, nango.SyncConfig{}, 2, "crm")
		stop := start(t, eng)
		require.Equal(t, 2, rec.total())
		require.NoError(t, stop())

		runs, err := eng.RunHistory(context.Background(), nango.RunHistoryParams{Integration: "crm", Sync: "things", Connection: "c0"})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, nango.RunCancelled, runs[0].State)

		// The lease was released: another engine on the same store runs at once.
		rec.mu.Lock()
		rec.block = nil
		rec.mu.Unlock()
		other, err := nango.NewEngine(st, &nango.Config{Logger: quiet, InstanceID: "other"})
		require.NoError(t, err)
		require.NoError(t, other.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
			Name: "things", Frequency: "every minute", Models: []nango.Model{{Name: "Thing"}}, Sync: rec}}}))
		res, err := other.RunSync(context.Background(), "crm", "things", "c0", nil)
		require.NoError(t, err)
		require.Equal(t, nango.RunSucceeded, res.State)
	})
}

func TestStopWaitsOnlyUpToTheShutdownTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stubborn := nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			<-release // ignores its context
			return nil
		})
		eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: quiet, ShutdownTimeout: 5 * time.Second})
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
			Name: "things", Models: []nango.Model{{Name: "Thing"}}, Sync: stubborn}}}))
		require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "c0"}))
		stop := start(t, eng)
		began := time.Now()
		require.ErrorContains(t, stop(), "1 runs did not stop within 5s")
		require.Equal(t, 5*time.Second, time.Since(began))
		close(release)
		synctest.Wait()
	})
}

func TestTwoEnginesNeverRunTheSameSyncTogether(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		st := memory.New()
		a := engineWith(t, st, nango.Config{InstanceID: "replica-a"}, rec, nango.SyncConfig{}, 3, "crm")
		b, err := nango.NewEngine(st, &nango.Config{Logger: quiet, InstanceID: "replica-b"})
		require.NoError(t, err)
		require.NoError(t, b.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
			Name: "things", Frequency: "every minute", Models: []nango.Model{{Name: "Thing"}}, Sync: rec}}}))
		rec.block = make(chan struct{})
		stopA := start(t, a)
		stopB := start(t, b)
		require.Equal(t, 3, rec.total(), "b found the leases held by a")
		_, err = b.RunSync(context.Background(), "crm", "things", "c0", nil)
		require.ErrorIs(t, err, nango.ErrRunActive)
		require.ErrorContains(t, err, "replica-a")
		close(rec.block)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		require.NoError(t, stopA())
		require.NoError(t, stopB())
		require.False(t, rec.overlap)
	})
}

// flakyLeases makes lease renewals fail, as when a replica loses its database for a while.
type flakyLeases struct {
	store.Store
	fail atomic.Bool
}

func (f *flakyLeases) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	if f.fail.Load() {
		return nil, errors.New("connection reset")
	}
	return f.Store.LeaseRenew(ctx, p)
}

func TestRunThatLosesItsLeaseStopsWriting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &flakyLeases{Store: memory.New()}
		wrote := make(chan struct{})
		proceed := make(chan struct{})
		var afterLoss error
		sc := nango.SyncConfig{Name: "things", Models: []nango.Model{{Name: "Thing"}}, Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			if err := n.BatchSave(ctx, []map[string]any{{"id": "1"}}, "Thing"); err != nil {
				return err
			}
			close(wrote)
			<-proceed
			afterLoss = n.BatchSave(context.WithoutCancel(ctx), []map[string]any{{"id": "2"}}, "Thing")
			return afterLoss
		})}
		eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet, InstanceID: "a", LeaseTTL: 30 * time.Second})
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{sc}}))
		require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "c0"}))
		done := make(chan *nango.RunResult, 1)
		go func() {
			res, _ := eng.RunSync(context.Background(), "crm", "things", "c0", nil)
			done <- res
		}()
		<-wrote
		st.fail.Store(true)
		time.Sleep(31 * time.Second) // renewals fail; the lease expires
		// Another replica takes over.
		_, err = st.LeaseAcquire(context.Background(), &store.LeaseAcquireParams{
			Key: store.SyncKey{Integration: "crm", Sync: "things", Connection: "c0"}, Owner: "b", TTL: time.Minute})
		require.NoError(t, err)
		st.fail.Store(false)
		close(proceed)
		res := <-done
		require.ErrorIs(t, afterLoss, store.ErrLeaseLost)
		require.Equal(t, nango.RunFailed, res.State)
		page, err := eng.ListRecords(context.Background(), nango.ListRecordsParams{Integration: "crm", Connection: "c0", Model: "Thing"})
		require.NoError(t, err)
		require.Len(t, page.Records, 1, "nothing written after the lease was lost")
	})
}

func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		rec.fail.Store(true)
		retry := &nango.RetryPolicy{MaxRetries: 3, InitialBackoff: 10 * time.Second, MaxBackoff: time.Minute}
		eng := engineWith(t, memory.New(), nango.Config{Retry: retry}, rec, nango.SyncConfig{Frequency: "every hour"}, 1, "crm")
		stop := start(t, eng)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		starts := rec.runs("crm/c0")
		require.Len(t, starts, 4, "the first run and three retries, then the grid")
		for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
			gap := starts[i+1].Sub(starts[i])
			require.GreaterOrEqual(t, gap, want/2, "retry %d", i+1)
			require.LessOrEqual(t, gap, want, "retry %d", i+1)
		}
		sts, err := eng.Status(context.Background(), nango.SyncSelector{Integration: "crm"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusError, sts[0].Status)
		require.Contains(t, sts[0].LatestRun.Error, "provider unavailable")
		require.NoError(t, stop())
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{}, 1, "crm")
		ctx := context.Background()
		sts, err := eng.Status(ctx, nango.SyncSelector{Integration: "crm"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusStopped, sts[0].Status, "never ran")
		stop := start(t, eng)
		sts, err = eng.Status(ctx, nango.SyncSelector{Integration: "crm", Syncs: []string{"things"}, Connection: "c0"})
		require.NoError(t, err)
		st := sts[0]
		require.Equal(t, nango.StatusSuccess, st.Status)
		require.Equal(t, "every minute", st.Frequency)
		require.Equal(t, map[string]int{"Thing": 1}, st.RecordCounts)
		require.NotNil(t, st.LatestRun)
		require.Equal(t, nango.ModelResult{Added: 1}, st.LatestRun.Results["Thing"])
		require.True(t, st.NextScheduledRun.After(time.Now()))
		require.LessOrEqual(t, time.Until(st.NextScheduledRun), time.Minute)
		require.NoError(t, stop())

		runs, err := eng.RunHistory(ctx, nango.RunHistoryParams{Integration: "crm", Sync: "things", Connection: "c0", Limit: 10})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, nango.TriggerSchedule, runs[0].Trigger)
		_, err = eng.RunHistory(ctx, nango.RunHistoryParams{Integration: "crm", Sync: "nope", Connection: "c0"})
		require.ErrorIs(t, err, nango.ErrUnknownSync)
	})
}

func TestConnectionsAddedAndDeletedWhileRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{}, 1, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "late"}))
		synctest.Wait()
		require.Len(t, rec.runs("crm/late"), 1, "a connection added while running runs soon")
		require.NoError(t, eng.DeleteConnection(ctx, "crm", "late"))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/late"), 1, "a deleted connection is no longer scheduled")
		require.NoError(t, stop())
		require.ErrorIs(t, func() error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { _ = eng.Run(ctx) }()
			synctest.Wait()
			return eng.Run(ctx)
		}(), nango.ErrEngineRunning)
		synctest.Wait()
	})
}

func TestUpdateConnectionMetadata(t *testing.T) {
	t.Parallel()
	eng := engineWith(t, memory.New(), nango.Config{}, newRecorder(), nango.SyncConfig{}, 1, "crm")
	ctx := context.Background()
	require.NoError(t, eng.UpdateConnectionMetadata(ctx, "crm", "c0", map[string]any{"region": "eu", "filters": map[string]any{"a": 1}}, false))
	require.NoError(t, eng.UpdateConnectionMetadata(ctx, "crm", "c0", map[string]any{"filters": map[string]any{"b": 2}}, true))
	c, err := eng.Store().ConnectionGet(ctx, "crm", "c0")
	require.NoError(t, err)
	require.JSONEq(t, `{"region":"eu","filters":{"a":1,"b":2}}`, string(c.Metadata))
	require.NoError(t, eng.UpdateConnectionMetadata(ctx, "crm", "c0", []int{1}, false))
	require.Error(t, eng.UpdateConnectionMetadata(ctx, "crm", "c0", map[string]any{"x": 1}, true), "merging into an array")
	require.ErrorIs(t, eng.UpdateConnectionMetadata(ctx, "crm", "nope", nil, false), nango.ErrUnknownConnection)
}

// TestThousandConnectionsOnBolt runs 1,000 connections at the minimum frequency on a real
// bbolt file for a minute of (fake) time: every connection runs on every slot, none overlaps
// itself, and no run starts later than its slot.
func TestThousandConnectionsOnBolt(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long: 1,000 connections")
	}
	synctest.Test(t, func(t *testing.T) {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), &bolt.Options{NoSync: true})
		require.NoError(t, err)
		defer st.Close()
		rec := newRecorder()
		eng := engineWith(t, st, nango.Config{MaxConcurrentRuns: 64}, rec, nango.SyncConfig{Frequency: "every 15 seconds"}, 1000, "crm")
		stop := start(t, eng)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		require.False(t, rec.overlap)
		for i := 0; i < 1000; i++ {
			starts := rec.runs(fmt.Sprintf("crm/c%d", i))
			require.GreaterOrEqual(t, len(starts), 4, "connection %d ran %d times", i, len(starts))
			for j := 2; j < len(starts); j++ {
				require.Equal(t, 15*time.Second, starts[j].Sub(starts[j-1]), "connection %d run %d was late", i, j)
			}
		}
	})
}

func TestReaddedConnectionDuringRunKeepsOneSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		rec.block = make(chan struct{})
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{}, 1, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		require.Len(t, rec.runs("crm/c0"), 1)
		// Deleted and added again while its first run is still going (it is cancelled).
		require.NoError(t, eng.DeleteConnection(ctx, "crm", "c0"))
		rec.mu.Lock()
		rec.block = nil
		rec.mu.Unlock()
		require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "c0"}))
		synctest.Wait()
		require.NoError(t, eng.Pause(ctx, nango.SyncSelector{Integration: "crm"}))
		n := len(rec.runs("crm/c0"))
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.runs("crm/c0"), n, "paused means paused: no stray schedule of the old entry")
		require.NoError(t, stop())
	})
}

func TestTriggerWaitsForARunSyncInProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{Frequency: "every day"}, 1, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		require.Len(t, rec.runs("crm/c0"), 1)
		rec.mu.Lock()
		rec.block = make(chan struct{})
		rec.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, err := eng.RunSync(ctx, "crm", "things", "c0", nil)
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm"}}))
		synctest.Wait()
		close(rec.block)
		require.NoError(t, <-done)
		rec.mu.Lock()
		rec.block = nil
		rec.mu.Unlock()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Len(t, rec.runs("crm/c0"), 3, "the trigger that found RunSync running ran afterwards")
		require.NoError(t, stop())
	})
}

func TestStartWhileRunningRunsAgainRightAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		eng := engineWith(t, memory.New(), nango.Config{}, rec, nango.SyncConfig{ManualStart: true, Frequency: "every day"}, 1, "crm")
		ctx := context.Background()
		stop := start(t, eng)
		sel := nango.SyncSelector{Integration: "crm"}
		rec.mu.Lock()
		rec.block = make(chan struct{})
		rec.mu.Unlock()
		require.NoError(t, eng.Start(ctx, sel))
		synctest.Wait()
		require.Len(t, rec.runs("crm/c0"), 1)
		// Paused and started again while the run is still going.
		require.NoError(t, eng.Pause(ctx, sel))
		require.NoError(t, eng.Start(ctx, sel))
		rec.mu.Lock()
		close(rec.block)
		rec.block = nil
		rec.mu.Unlock()
		synctest.Wait()
		require.Len(t, rec.runs("crm/c0"), 2, "starting runs the sync now, even when it was running")
		require.NoError(t, stop())
	})
}
