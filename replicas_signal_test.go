package nango_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// Environment of the child process of TestControlCallsReachAnotherProcess.
const (
	signalChildEnv  = "NANGO_TEST_SIGNAL_CHILD"
	signalSchemaEnv = "NANGO_TEST_SIGNAL_SCHEMA"
	// stateLine starts each line in which the child reports its scheduler's view.
	stateLine = "replica-state "
)

// childState is what the child's scheduler holds for the watched sync.
type childState struct {
	Paused   bool
	Override string
	Next     time.Time
	OK       bool
}

// leasesElsewhere is a store on which every lease is held by another engine for an hour: an
// engine on it makes control calls but never runs a sync.
type leasesElsewhere struct{ store.Store }

func (l leasesElsewhere) LeaseAcquire(_ context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	return nil, store.LeaseHeldError(p.Key, "elsewhere", time.Now().Add(time.Hour))
}
func (l leasesElsewhere) Signal(ctx context.Context, sig store.Signal) error {
	return l.Store.(store.Signaler).Signal(ctx, sig)
}
func (l leasesElsewhere) Signals(ctx context.Context) (<-chan store.Signal, error) {
	return l.Store.(store.Signaler).Signals(ctx)
}

// signalEngine is the engine of both processes: a sync that waits to be started, every day.
func signalEngine(t testing.TB, st store.Store, id string, reload time.Duration) *nango.Engine {
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet, InstanceID: id, ReloadInterval: reload})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "things", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Thing"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []map[string]any{{"id": "1", "at": time.Now().UnixNano()}}, "Thing")
		}),
	}}}))
	return eng
}

// Control calls made on an engine in this process reach an engine in another process over the
// same PostgreSQL schema through LISTEN/NOTIFY: that engine reloads its schedules only once an
// hour, so only the signal can bring each change within the seconds the test waits. Start and
// Trigger run the sync there (this process's engine cannot take a lease); Pause, a frequency
// override and a deleted connection show in its scheduler.
func TestControlCallsReachAnotherProcess(t *testing.T) {
	if os.Getenv(signalChildEnv) != "" {
		signalChild(t)
		return
	}
	url, schema := postgresSchema(t, "replicas_signal")
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng := signalEngine(t, leasesElsewhere{st}, "here", time.Hour)
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "c1"}))
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-ran })
	<-eng.Ready()

	child := exec.Command(os.Args[0], "-test.run=^TestControlCallsReachAnotherProcess$", "-test.count=1")
	child.Env = append(os.Environ(), signalChildEnv+"=1", signalSchemaEnv+"="+schema)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = child.Wait() })
	states := make(chan childState, 100)
	go func() {
		defer close(states)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), stateLine)
			if !ok {
				continue
			}
			var s childState
			if json.Unmarshal([]byte(line), &s) == nil {
				states <- s
			}
		}
	}()

	// Each change must show in the other process within this bound: generous for a loaded
	// machine (the requirement is a second), and far below its hourly reload.
	const bound = 10 * time.Second
	var last childState
	waitState := func(what string, ok func(childState) bool) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := time.After(bound)
		for !ok(last) {
			select {
			case s, open := <-states:
				require.True(t, open, "the other process ended before %s", what)
				last = s
			case <-deadline:
				require.Failf(t, "not seen in the other process", "%s: its scheduler still holds %+v after %s", what, last, bound)
			}
		}
		return time.Since(start)
	}
	key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c1"}
	waitRuns := func(what, trigger string, n int) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			runs, err := st.RunList(ctx, &store.RunListParams{Key: key, Limit: 100})
			require.NoError(t, err)
			got := 0
			for _, r := range runs {
				if r.Trigger == trigger && r.State == store.RunSucceeded {
					got++
				}
			}
			if got >= n {
				return time.Since(start)
			}
			require.Less(t, time.Since(start), bound, "%s: the other process did not run the sync within %s", what, bound)
			time.Sleep(20 * time.Millisecond) // the other process runs it: no shared clock to advance
		}
	}
	waitState("the other process starts", func(s childState) bool { return s.OK && s.Paused })
	sel := nango.SyncSelector{Integration: "crm", Connection: "c1"}
	took := map[string]time.Duration{}

	require.NoError(t, eng.Start(ctx, sel))
	took["start"] = waitState("start", func(s childState) bool { return s.OK && !s.Paused })
	took["start's run"] = waitRuns("start", nango.TriggerSchedule, 1)

	// This process's scheduler may still be busy with start's slot, which it cannot run (its
	// lease is always elsewhere): Trigger then leaves the sync alone with ErrRunActive, and is
	// asked again once it has moved on.
	for i := 0; ; i++ {
		err := eng.Trigger(ctx, nango.TriggerParams{SyncSelector: sel})
		if !errors.Is(err, nango.ErrRunActive) || i == 1000 {
			require.NoError(t, err)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took["trigger's run"] = waitRuns("trigger", nango.TriggerManual, 1)

	require.NoError(t, eng.SetFrequency(ctx, "crm", "things", "c1", "every 5 minutes"))
	took["frequency"] = waitState("frequency change", func(s childState) bool { return s.Override == "every 5 minutes" && !s.Next.IsZero() })
	saved, err := st.ScheduleGet(ctx, key)
	require.NoError(t, err)
	require.Equal(t, saved.NextRunAt, last.Next.UTC(), "the other process takes the next run saved with the change")
	require.WithinDuration(t, time.Now(), last.Next, 5*time.Minute, "on the 5-minute grid: next %s, saved %+v", last.Next, saved)

	require.NoError(t, eng.Pause(ctx, sel))
	took["pause"] = waitState("pause", func(s childState) bool { return s.Paused })

	require.NoError(t, eng.DeleteConnection(ctx, "crm", "c1"))
	took["delete"] = waitState("delete connection", func(s childState) bool { return !s.OK })

	require.NoError(t, stdin.Close())
	require.NoError(t, child.Wait(), "the other process failed")
	t.Logf("seen in the other process after %v", took)
}

// signalChild runs an engine that reloads from the store only once an hour, and reports its
// scheduler's view of crm/things/c1 on stdout whenever it changes, until stdin closes.
func signalChild(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv("NANGO_TEST_POSTGRES_URL"), &postgres.Options{Schema: os.Getenv(signalSchemaEnv)})
	require.NoError(t, err)
	defer st.Close()
	eng := signalEngine(t, st, "there", time.Hour)
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(runCtx) }()
	<-eng.Ready()
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	key := store.SyncKey{Integration: "crm", Sync: "things", Connection: "c1"}
	var prev *childState
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-eof:
			done = true
		case <-tick.C:
		}
		var s childState
		s.Paused, s.Override, s.Next, s.OK = nango.SchedState(eng, key)
		if prev == nil || *prev != s {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			fmt.Printf("%s%s\n", stateLine, b)
			prev = &s
		}
	}
	cancel()
	require.NoError(t, <-ran)
}
