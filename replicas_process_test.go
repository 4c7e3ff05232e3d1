package nango_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// Environment of a child process of TestReplicasInProcesses.
const (
	replicaChildEnv  = "NANGO_TEST_REPLICA_CHILD" // the child's number
	replicaSchemaEnv = "NANGO_TEST_REPLICA_SCHEMA"
	replicaForEnv    = "NANGO_TEST_REPLICA_FOR"
)

const replicaConns = 60

// processLedger is the ledger sync of the child processes: it reads its checkpoint, works a
// little, and writes the next numbered record with the next checkpoint in one commit.
var processLedger = nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
	var cp struct{ N int }
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	cp.N++
	return n.BatchSave(ctx, []map[string]any{{"id": strconv.Itoa(cp.N)}}, "Thing", nango.WithCheckpoint(cp))
})

func replicaEngine(t testing.TB, st store.Store, id string) *nango.Engine {
	eng, err := nango.NewEngine(st, &nango.Config{
		Logger: slog.New(slog.DiscardHandler), InstanceID: id, MinFrequency: time.Second,
		LeaseTTL: 3 * time.Second, ReloadInterval: time.Second, MaxConcurrentRuns: 64,
	})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "things", Frequency: "every 2 seconds", Models: []nango.Model{{Name: "Thing"}}, Sync: processLedger,
	}}}))
	return eng
}

// Three processes run an engine each on one PostgreSQL schema; one of them is killed with
// SIGKILL while it runs syncs. The survivors take its work over: afterwards every connection's
// ledger has one record per committed run (no gap, no repeat), no two successful runs of a
// connection overlapped in time, and no run is left RUNNING.
func TestReplicasInProcesses(t *testing.T) {
	if id := os.Getenv(replicaChildEnv); id != "" {
		replicaChild(t, id)
		return
	}
	url, schema := postgresSchema(t, "replicas_proc")
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	setup := replicaEngine(t, st, "setup")
	for c := range replicaConns {
		require.NoError(t, setup.AddConnection(ctx, nango.Connection{Integration: "crm", ID: fmt.Sprintf("c%02d", c)}))
	}

	var children []*exec.Cmd
	for i := range 3 {
		runFor := "12s"
		cmd := exec.Command(os.Args[0], "-test.run=^TestReplicasInProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), replicaChildEnv+"="+strconv.Itoa(i), replicaSchemaEnv+"="+schema, replicaForEnv+"="+runFor)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		children = append(children, cmd)
	}
	// Kill one once the replicas have committed runs, at a moment it holds a run's lease (it is
	// mid-run), so that the others must take that run over.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, st.Pool().QueryRow(ctx, "SELECT count(*) FROM "+schema+".runs WHERE state = 'success'").Scan(&n))
		if n >= replicaConns*2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process: no shared clock
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		var held int
		require.NoError(t, st.Pool().QueryRow(ctx, "SELECT count(*) FROM "+schema+".leases WHERE owner = 'process-2' AND active").Scan(&held))
		if held > 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "the replica to kill never held a run's lease")
		time.Sleep(10 * time.Millisecond)
	}
	killedAt := time.Now()
	require.NoError(t, children[2].Process.Signal(syscall.SIGKILL))
	_ = children[2].Wait()
	for _, c := range children[:2] {
		require.NoError(t, c.Wait(), "a surviving replica failed")
	}

	succeeded, interrupted, unsuccessful, records := 0, 0, 0, 0
	for c := range replicaConns {
		id := fmt.Sprintf("c%02d", c)
		key := store.SyncKey{Integration: "crm", Sync: "things", Connection: id}
		stats, err := st.StreamStats(ctx, store.Stream{Integration: "crm", Connection: id, Model: "Thing"})
		require.NoError(t, err)
		cp, err := st.CheckpointGet(ctx, store.CheckpointKey(key))
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"N":%d}`, stats.Live), string(cp.Data), "%s: one record per committed run", id)
		records += stats.Live
		runs, err := st.RunList(ctx, &store.RunListParams{Key: key, Limit: 10_000})
		require.NoError(t, err)
		var prev *store.Run
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			require.NotEqual(t, store.RunRunning, r.State, "%s: run %s left RUNNING (started %s, killed at %s, %d of %d)", id, r.ID, r.StartedAt, killedAt, i, len(runs))
			if r.Error == nango.InterruptedRunError {
				interrupted++
			}
			if r.State != store.RunSucceeded {
				unsuccessful++
				continue
			}
			succeeded++
			if prev != nil {
				require.False(t, r.StartedAt.Before(prev.EndedAt), "%s: runs %s and %s overlapped", id, prev.ID, r.ID)
			}
			prev = r
		}
	}
	// A killed run may have committed its record before it died.
	require.GreaterOrEqual(t, records, succeeded, "every successful run committed its record")
	// So may a run that ended otherwise after it committed: interrupted by the kill, or
	// cancelled when a surviving replica stopped at the end of its time.
	require.LessOrEqual(t, records, succeeded+unsuccessful, "no record without a run that wrote it")
	require.Positive(t, interrupted, "the killed process was running syncs")
	t.Logf("3 processes (one killed), %d connections: %d successful runs, %d interrupted and taken over, %d records, no overlap",
		replicaConns, succeeded, interrupted, records)
}

// replicaChild is one replica process: it runs its engine for the given time, then stops.
func replicaChild(t *testing.T, id string) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv("NANGO_TEST_POSTGRES_URL"), &postgres.Options{Schema: os.Getenv(replicaSchemaEnv)})
	require.NoError(t, err)
	defer st.Close()
	d, err := time.ParseDuration(os.Getenv(replicaForEnv))
	require.NoError(t, err)
	eng := replicaEngine(t, st, "process-"+id)
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	require.NoError(t, eng.Run(runCtx))
}
