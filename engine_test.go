package nango_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
)

type contact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stores runs fn on the memory store and on a real bbolt file.
func stores(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		st := memory.New()
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
	t.Run("bolt", func(t *testing.T) {
		t.Parallel()
		st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
}

// fixture is an engine with one integration "crm", one connection "conn-1" and one sync
// "contacts" whose code is whatever the test sets in exec.
type fixture struct {
	eng  *nango.Engine
	mu   sync.Mutex
	exec func(ctx context.Context, n *nango.Nango) error
}

func newFixture(t *testing.T, st store.Store, sc nango.SyncConfig, cfg *nango.Config) *fixture {
	t.Helper()
	if cfg == nil {
		cfg = &nango.Config{}
	}
	cfg.Logger = quiet
	eng, err := nango.NewEngine(st, cfg)
	require.NoError(t, err)
	f := &fixture{eng: eng}
	if sc.Name == "" {
		sc.Name = "contacts"
	}
	if sc.Models == nil {
		sc.Models = []nango.Model{nango.ModelOf[contact]("Contact"), {Name: "Note"}}
	}
	sc.Sync = nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
		f.mu.Lock()
		exec := f.exec
		f.mu.Unlock()
		return exec(ctx, n)
	})
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{sc}}))
	require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "conn-1"}))
	return f
}

func (f *fixture) run(t *testing.T, exec func(ctx context.Context, n *nango.Nango) error, opts *nango.RunOptions) (*nango.RunResult, error) {
	t.Helper()
	f.mu.Lock()
	f.exec = exec
	f.mu.Unlock()
	return f.eng.RunSync(context.Background(), "crm", "contacts", "conn-1", opts)
}

func (f *fixture) list(t *testing.T, model string) []nango.Record {
	t.Helper()
	var out []nango.Record
	for r, err := range f.eng.AllRecords(context.Background(), nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: model}) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func saveAll(records any) func(ctx context.Context, n *nango.Nango) error {
	return func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, records, "Contact") }
}

func contacts(n int, name string) []contact {
	out := make([]contact, n)
	for i := range out {
		out[i] = contact{ID: fmt.Sprintf("c%04d", i), Name: name}
	}
	return out
}

func TestRunSyncSavesAndDetectsChanges(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		res, err := f.run(t, saveAll(contacts(3, "a")), nil)
		require.NoError(t, err)
		require.Equal(t, nango.RunSucceeded, res.State)
		require.True(t, res.Initial)
		require.Equal(t, nango.ModelResult{Added: 3}, res.Models["Contact"])
		require.Equal(t, nango.ModelResult{}, res.Models["Note"])

		next := contacts(4, "a")
		next[1].Name = "changed"
		res, err = f.run(t, saveAll(next), nil)
		require.NoError(t, err)
		require.False(t, res.Initial)
		require.Equal(t, nango.ModelResult{Added: 1, Updated: 1, Unchanged: 2}, res.Models["Contact"])

		recs := f.list(t, "Contact")
		require.Len(t, recs, 4)
		actions := map[string]nango.Action{}
		for _, r := range recs {
			actions[r.ID] = r.Metadata.LastAction
		}
		require.Equal(t, map[string]nango.Action{"c0000": "ADDED", "c0001": "UPDATED", "c0002": "ADDED", "c0003": "ADDED"}, actions)
	})
}

func TestBatchOperations(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			if err := n.BatchSave(ctx, []map[string]any{
				{"id": 1, "name": "one", "address": map[string]any{"city": "Paris", "zip": "75001"}, "tags": []string{"a", "b"}},
				{"id": "2", "name": "two"},
			}, "Note"); err != nil {
				return err
			}
			if err := n.BatchUpdate(ctx, []map[string]any{
				{"id": "1", "address": map[string]any{"city": "Lyon"}, "tags": []string{"c"}},
				{"id": "404", "name": "ignored"},
			}, "Note"); err != nil {
				return err
			}
			return n.BatchDelete(ctx, []string{"2", "405"}, "Note")
		}, nil)
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Added: 2, Updated: 1, Deleted: 1, Ignored: 2}, res.Models["Note"])
		got, err := f.eng.GetRecords(context.Background(), "crm", "conn-1", "Note", []string{"1", "2", "404"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.JSONEq(t, `{"id":"1","name":"one","address":{"city":"Lyon","zip":"75001"},"tags":["c"]}`, string(got["1"].Data), "objects merged, arrays and the id replaced")
		require.Equal(t, nango.ActionUpdated, got["1"].Metadata.LastAction)
		require.Equal(t, nango.ActionDeleted, got["2"].Metadata.LastAction)
		require.JSONEq(t, `{"id":"2","name":"two"}`, string(got["2"].Data), "a deleted record keeps its payload")
		require.False(t, got["2"].Metadata.DeletedAt.IsZero())
	})
}

func TestBadRecordsWriteNothing(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 256)
	cases := []struct {
		name    string
		records any
		model   string
		index   int
		reason  string
	}{
		{"missing id", []map[string]any{{"id": "ok"}, {"name": "no id"}}, "Note", 1, `missing "id"`},
		{"bool id", []map[string]any{{"id": true}}, "Note", 0, "string or an integer"},
		{"float id", []map[string]any{{"id": 1.5}}, "Note", 0, "not an integer"},
		{"object id", []map[string]any{{"id": map[string]any{}}}, "Note", 0, "string or an integer"},
		{"empty id", []map[string]any{{"id": ""}}, "Note", 0, "empty id"},
		{"long id", []map[string]any{{"id": "a"}, {"id": "b"}, {"id": long}}, "Note", 2, "more than 255"},
		{"not an object", []any{map[string]any{"id": "a"}, []int{1}}, "Note", 1, "not a JSON object"},
		{"raw invalid json", []any{map[string]any{"id": "a"}, []byte(`{"id":`)}, "Note", 1, "invalid JSON"},
		{"wrong type", []map[string]any{{"id": "a", "name": 42}}, "Contact", 0, "does not match type"},
		{"nil record", []*contact{{ID: "a"}, nil}, "Contact", 1, "nil"},
		{"does not encode", []map[string]any{{"id": "a", "f": func() {}}}, "Note", 0, "does not encode"},
		{"not a slice", map[string]any{"id": "a"}, "Note", -1, "must be a slice"},
		{"bare id to save", []string{"a"}, "Note", 0, "only accepted by BatchDelete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
			res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
				return n.BatchSave(ctx, c.records, c.model)
			}, nil)
			var re *nango.RecordError
			require.ErrorAs(t, err, &re)
			require.ErrorIs(t, err, nango.ErrInvalidRecord)
			require.Equal(t, c.model, re.Model)
			require.Equal(t, c.index, re.Index)
			require.Contains(t, err.Error(), c.reason)
			require.Equal(t, nango.RunFailed, res.State)
			require.Empty(t, f.list(t, c.model))
		})
	}
}

func TestLargeCallValidatesEveryChunkFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	recs := make([]map[string]any, 10_050)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprint(i)}
	}
	recs[10_040] = map[string]any{"name": "no id"}
	_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, recs, "Note") }, nil)
	var re *nango.RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 10_040, re.Index)
	require.Empty(t, f.list(t, "Note"))

	recs[10_040] = map[string]any{"id": "fixed"}
	res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, recs, "Note") }, nil)
	require.NoError(t, err)
	require.Equal(t, 10_050, res.Models["Note"].Added)
}

func TestUnknownModelAndEmptyBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		for _, empty := range []any{nil, []contact{}, []map[string]any(nil)} {
			if err := n.BatchSave(ctx, empty, "Contact"); err != nil {
				return err
			}
		}
		return n.BatchSave(ctx, contacts(1, "x"), "Contcat")
	}, nil)
	require.ErrorIs(t, err, nango.ErrUnknownModel)
	require.Contains(t, err.Error(), `"Contcat"`)
	require.Contains(t, err.Error(), "Contact")
	require.Empty(t, f.list(t, "Contact"))
}

func TestDuplicatesLastWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	res, err := f.run(t, saveAll([]contact{{ID: "1", Name: "first"}, {ID: "2"}, {ID: "1", Name: "last"}}), nil)
	require.NoError(t, err)
	require.Equal(t, nango.ModelResult{Added: 2, Duplicates: 1}, res.Models["Contact"])
	recs := f.list(t, "Contact")
	require.Len(t, recs, 2)
	var c contact
	require.NoError(t, recs[1].Decode(&c))
	require.Equal(t, "last", c.Name)
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		type cp struct{ Page int }
		for want := 0; want < 3; want++ {
			_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
				var c cp
				found, err := n.GetCheckpoint(ctx, &c)
				if err != nil {
					return err
				}
				if found != (want > 0) || c.Page != want {
					return fmt.Errorf("run %d: checkpoint found=%v page=%d", want, found, c.Page)
				}
				return n.BatchSave(ctx, contacts(want+1, "x"), "Contact", nango.WithCheckpoint(cp{Page: want + 1}))
			}, nil)
			require.NoError(t, err)
		}
		var outside cp
		found, err := f.eng.GetCheckpoint(context.Background(), "crm", "contacts", "conn-1", &outside)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, cp{Page: 3}, outside)
		_, err = f.eng.GetCheckpoint(context.Background(), "crm", "nope", "conn-1", &outside)
		require.ErrorIs(t, err, nango.ErrUnknownSync)

		_, err = f.run(t, func(ctx context.Context, n *nango.Nango) error {
			if err := n.ClearCheckpoint(ctx); err != nil {
				return err
			}
			var c cp
			if found, err := n.GetCheckpoint(ctx, &c); found || err != nil {
				return fmt.Errorf("after clear: found=%v err=%v", found, err)
			}
			return n.SaveCheckpoint(ctx, cp{Page: 9})
		}, nil)
		require.NoError(t, err)
		_, err = f.run(t, func(ctx context.Context, n *nango.Nango) error {
			var c cp
			if _, err := n.GetCheckpoint(ctx, &c); err != nil || c.Page != 9 {
				return fmt.Errorf("page %d, %v", c.Page, err)
			}
			if err := n.SaveCheckpoint(ctx, func() {}); err == nil || !strings.Contains(err.Error(), "does not encode") {
				return fmt.Errorf("want an encoding error, got %v", err)
			}
			return n.BatchSave(ctx, contacts(1, "y"), "Contact", nango.WithCheckpoint(make(chan int)))
		}, nil)
		require.ErrorContains(t, err, "does not encode")
	})
}

func TestCheckpointCommitsWithRecords(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		key := store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "conn-1"}
		_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			if err := n.SaveCheckpoint(ctx, map[string]int{"page": 1}); err != nil {
				return err
			}
			// Another writer (a reset, say) changes the checkpoint under the run.
			if _, err := st.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"page":0}`), ExpectedVersion: 1}); err != nil {
				return err
			}
			return n.BatchSave(ctx, contacts(5, "x"), "Contact", nango.WithCheckpoint(map[string]int{"page": 2}))
		}, nil)
		require.ErrorIs(t, err, nango.ErrCheckpointConflict)
		require.Empty(t, f.list(t, "Contact"), "records must not commit without their checkpoint")
		cp, err := st.CheckpointGet(context.Background(), key)
		require.NoError(t, err)
		require.JSONEq(t, `{"page":0}`, string(cp.Data))
	})
}

func TestTrackDeletes(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{TrackDeletes: true}, nil)
		_, err := f.run(t, saveAll(contacts(10, "a")), nil)
		require.NoError(t, err)

		// A failed run never deletes, even though it saw only part of the data.
		res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			if err := n.BatchSave(ctx, contacts(10, "a")[:3], "Contact"); err != nil {
				return err
			}
			return errors.New("provider returned 500")
		}, nil)
		require.Error(t, err)
		require.Equal(t, nango.RunFailed, res.State)
		require.Zero(t, res.Models["Contact"].Deleted)

		// A panicking run neither.
		res, err = f.run(t, func(ctx context.Context, n *nango.Nango) error { panic("boom") }, nil)
		var pe *nango.PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, nango.RunFailed, res.State)

		// The window spans the failed runs: records 0-2 were seen by the first failed run, so a
		// resumed run that saves only 3-7 deletes 8 and 9 alone.
		res, err = f.run(t, saveAll(contacts(8, "a")[3:]), nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Models["Contact"].Deleted)
		deleted := 0
		for _, r := range f.list(t, "Contact") {
			if r.Metadata.LastAction == nango.ActionDeleted {
				deleted++
				require.Contains(t, []string{"c0008", "c0009"}, r.ID)
			}
		}
		require.Equal(t, 2, deleted)
	})
}

func TestTrackDeletesGuard(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{TrackDeletes: true}, nil)
		_, err := f.run(t, saveAll(contacts(200, "a")), nil)
		require.NoError(t, err)

		// The API suddenly returns 10 records out of 200: the guard refuses.
		res, err := f.run(t, saveAll(contacts(10, "a")), nil)
		require.NoError(t, err)
		require.Equal(t, nango.RunSucceeded, res.State)
		require.Equal(t, map[string]int{"Contact": 190}, res.RefusedDeletes)
		require.Len(t, res.Warnings, 1)
		require.Contains(t, res.Warnings[0], "refused to delete 190 of 200")
		require.Zero(t, res.Models["Contact"].Deleted)
		for _, r := range f.list(t, "Contact") {
			require.NotEqual(t, nango.ActionDeleted, r.Metadata.LastAction)
		}
		runs, err := st.RunList(context.Background(), &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "conn-1"}, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, res.Warnings, runs[0].Warnings)

		// Confirmed, it goes through.
		res, err = f.run(t, saveAll(contacts(10, "a")), &nango.RunOptions{ConfirmDeletes: true})
		require.NoError(t, err)
		require.Equal(t, 190, res.Models["Contact"].Deleted)
		require.Empty(t, res.RefusedDeletes)
	})
}

func TestCancelledRunDoesNotSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{TrackDeletes: true}, nil)
	_, err := f.run(t, saveAll(contacts(5, "a")), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f.exec = func(ctx context.Context, n *nango.Nango) error {
		if err := n.BatchSave(ctx, contacts(1, "a"), "Contact"); err != nil {
			return err
		}
		cancel()
		return nil // a sync that ignores cancellation is still not a success
	}
	res, err := f.eng.RunSync(ctx, "crm", "contacts", "conn-1", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, nango.RunCancelled, res.State)
	for _, r := range f.list(t, "Contact") {
		require.NotEqual(t, nango.ActionDeleted, r.Metadata.LastAction)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{RunTimeout: time.Hour})
		res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			<-ctx.Done()
			return ctx.Err()
		}, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, nango.RunTimedOut, res.State)
		require.Equal(t, time.Hour, res.Duration())
	})
}

func TestPanicFailsOnlyThatRun(t *testing.T) {
	t.Parallel()
	st := memory.New()
	f := newFixture(t, st, nango.SyncConfig{}, nil)
	res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		var m map[string]int
		//lint:ignore SA5000 the panic is the point of the test
		m["x"] = 1
		return nil
	}, nil)
	var pe *nango.PanicError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, string(pe.Stack), "engine_test.go")
	run, err := st.RunGet(context.Background(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, store.RunFailed, run.State)
	require.Contains(t, strings.Join(run.Log, "\n"), "sync panicked")
	require.Contains(t, strings.Join(run.Log, "\n"), "engine_test.go", "the stack is in the run log")

	res, err = f.run(t, saveAll(contacts(1, "a")), nil)
	require.NoError(t, err)
	require.Equal(t, nango.RunSucceeded, res.State)
	require.True(t, res.Initial, "a failed run does not count as the initial run")
}

func TestRunFacts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	clock := nangotest.NewClock(now)
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{Clock: clock})
	require.NoError(t, f.eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "conn-1", Metadata: map[string]string{"region": "eu"}}))
	var facts []string
	exec := func(ctx context.Context, n *nango.Nango) error {
		var meta map[string]string
		found, err := n.GetMetadata(ctx, &meta)
		if err != nil {
			return err
		}
		facts = append(facts, fmt.Sprintf("%s %s %s initial=%v last=%s meta=%v/%s", n.Integration(), n.SyncName(), n.ConnectionID(),
			n.IsInitialRun(), n.LastSyncDate().Format(time.RFC3339), found, meta["region"]))
		if !strings.HasPrefix(n.RunID(), "run_") {
			return fmt.Errorf("run id %q", n.RunID())
		}
		n.Logger().Info("hello from the sync", "page", 1)
		clock.Advance(time.Minute)
		return nil
	}
	res1, err := f.run(t, exec, nil)
	require.NoError(t, err)
	_, err = f.run(t, exec, nil)
	require.NoError(t, err)
	require.Equal(t, []string{
		"crm contacts conn-1 initial=true last=0001-01-01T00:00:00Z meta=true/eu",
		"crm contacts conn-1 initial=false last=2026-01-02T03:04:05Z meta=true/eu",
	}, facts)
	require.Equal(t, now.Truncate(time.Microsecond), res1.StartedAt)
	run, err := f.eng.Store().RunGet(context.Background(), res1.RunID)
	require.NoError(t, err)
	require.Contains(t, strings.Join(run.Log, "\n"), "hello from the sync page=1")
}

func TestHandleUnusableAfterRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	var kept *nango.Nango
	_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error { kept = n; return nil }, nil)
	require.NoError(t, err)
	require.ErrorIs(t, kept.BatchSave(context.Background(), contacts(1, "x"), "Contact"), nango.ErrRunFinished)
}

func TestRunActive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			close(started)
			<-release
			return nil
		}, nil)
		done <- err
	}()
	<-started
	_, err := f.eng.RunSync(context.Background(), "crm", "contacts", "conn-1", nil)
	require.ErrorIs(t, err, nango.ErrRunActive)
	close(release)
	require.NoError(t, <-done)
}

func TestResetAndEmptyCache(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		exec := func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, contacts(2, "a"), "Contact", nango.WithCheckpoint(map[string]int{"n": 1}))
		}
		_, err := f.run(t, exec, nil)
		require.NoError(t, err)
		oldCursor := f.list(t, "Contact")[1].Metadata.Cursor

		var found bool
		res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
			var cp map[string]int
			var err error
			found, err = n.GetCheckpoint(ctx, &cp)
			return err
		}, &nango.RunOptions{Reset: true})
		require.NoError(t, err)
		require.False(t, found, "reset clears the checkpoint")
		require.Equal(t, nango.TriggerReset, res.Trigger)
		require.True(t, res.Initial, "a reset run is an initial run, as in Nango")

		res, err = f.run(t, exec, &nango.RunOptions{Reset: true, EmptyCache: true})
		require.NoError(t, err)
		require.Equal(t, 2, res.Models["Contact"].Added, "emptied records come back as ADDED")
		_, err = f.eng.ListRecords(context.Background(), nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact", Cursor: oldCursor})
		require.ErrorIs(t, err, store.ErrCursorStale)

		_, err = f.run(t, exec, &nango.RunOptions{EmptyCache: true})
		require.ErrorIs(t, err, nango.ErrInvalidConfig)
	})
}

func TestListRecordsErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	ctx := context.Background()
	p := nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact"}
	bad := func(mut func(*nango.ListRecordsParams), target error) {
		t.Helper()
		q := p
		mut(&q)
		_, err := f.eng.ListRecords(ctx, q)
		require.ErrorIs(t, err, target)
	}
	bad(func(q *nango.ListRecordsParams) { q.Integration = "nope" }, nango.ErrUnknownIntegration)
	bad(func(q *nango.ListRecordsParams) { q.Model = "Nope" }, nango.ErrUnknownModel)
	bad(func(q *nango.ListRecordsParams) { q.Cursor = "not-a-cursor" }, nango.ErrInvalidCursor)
	bad(func(q *nango.ListRecordsParams) { q.Limit = 10_001 }, store.ErrInvalidParams)
	bad(func(q *nango.ListRecordsParams) { q.Limit = -1 }, store.ErrInvalidParams)
	bad(func(q *nango.ListRecordsParams) { q.IDs = make([]string, 101) }, store.ErrInvalidParams)
	page, err := f.eng.ListRecords(ctx, p)
	require.NoError(t, err)
	require.Empty(t, page.Records)
	require.Empty(t, page.NextCursor)
}

func TestRunSyncErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	ctx := context.Background()
	_, err := f.eng.RunSync(ctx, "nope", "contacts", "conn-1", nil)
	require.ErrorIs(t, err, nango.ErrUnknownIntegration)
	_, err = f.eng.RunSync(ctx, "crm", "nope", "conn-1", nil)
	require.ErrorIs(t, err, nango.ErrUnknownSync)
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "nope", nil)
	require.ErrorIs(t, err, nango.ErrUnknownConnection)
	require.ErrorIs(t, f.eng.AddConnection(ctx, nango.Connection{Integration: "nope", ID: "x"}), nango.ErrUnknownIntegration)
	require.Error(t, f.eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: ""}))
	require.ErrorIs(t, f.eng.DeleteConnection(ctx, "crm", "nope"), nango.ErrUnknownConnection)
}

func TestRegisterIntegrationValidates(t *testing.T) {
	t.Parallel()
	noop := nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil })
	m := []nango.Model{{Name: "M"}}
	cases := map[string]nango.Integration{
		"no key":          {Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop}}},
		"no sync name":    {Key: "k", Syncs: []nango.SyncConfig{{Models: m, Sync: noop}}},
		"no code":         {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m}}},
		"no models":       {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Sync: noop}}},
		"unnamed model":   {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: []nango.Model{{}}, Sync: noop}}},
		"model twice":     {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: []nango.Model{{Name: "M"}, {Name: "M"}}, Sync: noop}}},
		"bad frequency":   {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop, Frequency: "sometimes"}}},
		"too frequent":    {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop, Frequency: "every 5 seconds"}}},
		"duplicate sync":  {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop}, {Name: "s", Models: []nango.Model{{Name: "N"}}, Sync: noop}}},
		"shared model":    {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop}, {Name: "t", Models: m, Sync: noop}}},
		"bad guard share": {Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop, DeleteGuard: &nango.DeleteGuard{MaxShare: 2}}}},
	}
	for name, in := range cases {
		eng, err := nango.NewEngine(memory.New(), nil)
		require.NoError(t, err)
		err = eng.RegisterIntegration(in)
		require.ErrorIs(t, err, nango.ErrInvalidConfig, name)
	}
	eng, err := nango.NewEngine(memory.New(), nil)
	require.NoError(t, err)
	ok := nango.Integration{Key: "k", Syncs: []nango.SyncConfig{{Name: "s", Models: m, Sync: noop}}}
	require.NoError(t, eng.RegisterIntegration(ok))
	require.ErrorIs(t, eng.RegisterIntegration(ok), nango.ErrInvalidConfig, "registering twice")

	_, err = nango.NewEngine(nil, nil)
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
	_, err = nango.NewEngine(memory.New(), &nango.Config{RunTimeout: -time.Second})
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
}

func TestDeleteConnection(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		_, err := f.run(t, saveAll(contacts(3, "a")), nil)
		require.NoError(t, err)
		require.NoError(t, f.eng.DeleteConnection(context.Background(), "crm", "conn-1"))
		_, err = f.eng.ListRecords(context.Background(), nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact"})
		require.ErrorIs(t, err, nango.ErrUnknownConnection, "its records went with it, and listing says why the feed is empty")
		require.EqualError(t, err, `nango: unknown connection "conn-1" of integration "crm"`)
		_, err = f.eng.RunSync(context.Background(), "crm", "contacts", "conn-1", nil)
		require.ErrorIs(t, err, nango.ErrUnknownConnection)
	})
}

func TestLargeCallDropsDuplicatesAcrossChunks(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{}, nil)
		recs := make([]map[string]any, 0, 10_002)
		for i := 0; i < 10_001; i++ {
			recs = append(recs, map[string]any{"id": fmt.Sprint(i), "v": "first"})
		}
		recs = append(recs, map[string]any{"id": "0", "v": "last"}) // lands in the second chunk
		res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, recs, "Note") }, nil)
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Added: 10_001, Duplicates: 1}, res.Models["Note"])
		got, err := f.eng.GetRecords(context.Background(), "crm", "conn-1", "Note", []string{"0"})
		require.NoError(t, err)
		require.Equal(t, nango.ActionAdded, got["0"].Metadata.LastAction, "a new record is ADDED, not UPDATED by its own duplicate")
		require.JSONEq(t, `{"id":"0","v":"last"}`, string(got["0"].Data))
	})
}

func TestLargeCallWithStaleCheckpointWritesNothing(t *testing.T) {
	t.Parallel()
	st := memory.New()
	f := newFixture(t, st, nango.SyncConfig{}, nil)
	recs := make([]map[string]any, 10_500)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprint(i)}
	}
	key := store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "conn-1"}
	_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		if _, err := st.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"other":1}`)}); err != nil {
			return err
		}
		return n.BatchSave(ctx, recs, "Note", nango.WithCheckpoint(map[string]int{"page": 1}))
	}, nil)
	require.ErrorIs(t, err, nango.ErrCheckpointConflict)
	require.Empty(t, f.list(t, "Note"))
}
