package storetest

import (
	"fmt"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// runTests check the run log.
func runTests() []test {
	return []test{
		{"InsertGetUpdate", testRunInsertGetUpdate},
		{"UnknownID", testRunUnknown},
		{"Invalid", testRunInvalid},
		{"ListNewestFirst", testRunList},
		{"LastSuccess", testRunLastSuccess},
	}
}

// syncKey is the sync most run tests use.
var syncKey = store.SyncKey{Integration: stream.Integration, Sync: "sync-a", Connection: stream.Connection}

// newRun returns a running run of key started at at(n). Runs are inserted in the order of their
// start, so that "newest" means the same by insertion and by start time.
func newRun(id string, key store.SyncKey, n int) *store.Run {
	return &store.Run{ID: id, Key: key, Trigger: "schedule", State: store.RunRunning, StartedAt: at(n)}
}

// requireRun requires got to equal want, times compared as instants.
func requireRun(t *testing.T, want, got *store.Run) {
	t.Helper()
	require.NotNil(t, got)
	require.True(t, want.StartedAt.Equal(got.StartedAt), "run %s started at: want %s, got %s", want.ID, want.StartedAt, got.StartedAt)
	require.True(t, want.EndedAt.Equal(got.EndedAt), "run %s ended at: want %s, got %s", want.ID, want.EndedAt, got.EndedAt)
	w, g := *want, *got
	w.StartedAt, g.StartedAt, w.EndedAt, g.EndedAt = got.StartedAt, got.StartedAt, got.EndedAt, got.EndedAt
	if len(w.Results) == 0 && len(g.Results) == 0 {
		w.Results, g.Results = nil, nil
	}
	if len(w.Warnings) == 0 && len(g.Warnings) == 0 {
		w.Warnings, g.Warnings = nil, nil
	}
	if len(w.Log) == 0 && len(g.Log) == 0 {
		w.Log, g.Log = nil, nil
	}
	require.Equal(t, w, g)
}

// runIDs returns the ids of runs, in order.
func runIDs(runs []*store.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func testRunInsertGetUpdate(t *testing.T, su *suite) {
	s := su.open(t)
	run := newRun("run-1", syncKey, 0)
	run.Initial = true
	require.NoError(t, s.RunInsert(t.Context(), run))
	got, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	requireRun(t, run, got)

	// The store keeps its own copy.
	got.State = store.RunFailed
	run.Trigger = "changed"
	again, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, again.State)
	require.Equal(t, "schedule", again.Trigger)
	run.Trigger = "schedule"

	done := *run
	done.State = store.RunSucceeded
	done.EndedAt = at(60)
	done.Results = map[string]store.ModelResult{
		"issues": {Added: 3, Updated: 2, Deleted: 1, Unchanged: 7, Duplicates: 1},
		"pulls":  {Added: 1},
	}
	done.Warnings = []string{"rate limited"}
	done.Log = []string{"fetched page 1", "fetched page 2"}
	require.NoError(t, s.RunUpdate(t.Context(), &done))
	got, err = s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	requireRun(t, &done, got)

	failed := done
	failed.State = store.RunFailed
	failed.Error = "upstream returned 500"
	require.NoError(t, s.RunUpdate(t.Context(), &failed))
	got, err = s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	requireRun(t, &failed, got)

	runs, err := s.RunList(t.Context(), &store.RunListParams{Key: syncKey})
	require.NoError(t, err)
	require.Equal(t, []string{"run-1"}, runIDs(runs), "an update does not add a run")
	requireRun(t, &failed, runs[0])
}

func testRunUnknown(t *testing.T, su *suite) {
	s := su.open(t)
	_, err := s.RunGet(t.Context(), "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.RunUpdate(t.Context(), newRun("nope", syncKey, 0))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.RunGet(t.Context(), "nope")
	require.ErrorIs(t, err, store.ErrNotFound, "an update of an unknown run does not insert it")
	runs, err := s.RunList(t.Context(), &store.RunListParams{Key: syncKey})
	require.NoError(t, err)
	require.Empty(t, runs)
}

func testRunInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	for _, run := range []*store.Run{
		newRun("", syncKey, 0),
		newRun("run-1", store.SyncKey{Sync: "s", Connection: "c"}, 0),
		newRun("run-1", store.SyncKey{Integration: "i", Connection: "c"}, 0),
		newRun("run-1", store.SyncKey{Integration: "i", Sync: "s"}, 0),
	} {
		requireParamError(t, s.RunInsert(t.Context(), run), "insert %+v", run)
		requireParamError(t, s.RunUpdate(t.Context(), run), "update %+v", run)
	}
	_, err := s.RunGet(t.Context(), "run-1")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.RunList(t.Context(), &store.RunListParams{Key: store.SyncKey{Integration: "i"}})
	requireParamError(t, err, "list with an invalid key")
}

func testRunList(t *testing.T, su *suite) {
	s := su.open(t)
	others := []store.SyncKey{
		{Integration: syncKey.Integration, Sync: "sync-b", Connection: syncKey.Connection},
		{Integration: syncKey.Integration, Sync: syncKey.Sync, Connection: "conn-2"},
		{Integration: "gitlab", Sync: syncKey.Sync, Connection: syncKey.Connection},
	}
	for i := range 10 {
		require.NoError(t, s.RunInsert(t.Context(), newRun(fmt.Sprintf("run-%02d", i), syncKey, i)))
		for j, k := range others {
			require.NoError(t, s.RunInsert(t.Context(), newRun(fmt.Sprintf("other-%d-%02d", j, i), k, i)))
		}
	}
	listRuns := func(p store.RunListParams) []string {
		t.Helper()
		runs, err := s.RunList(t.Context(), &p)
		require.NoError(t, err)
		require.NotNil(t, runs)
		return runIDs(runs)
	}
	require.Equal(t, []string{"run-09", "run-08", "run-07", "run-06", "run-05", "run-04", "run-03", "run-02", "run-01", "run-00"},
		listRuns(store.RunListParams{Key: syncKey}), "newest first, only the sync's runs")
	require.Equal(t, []string{"run-09", "run-08", "run-07"}, listRuns(store.RunListParams{Key: syncKey, Limit: 3}))
	require.Equal(t, []string{"run-06", "run-05", "run-04"}, listRuns(store.RunListParams{Key: syncKey, Limit: 3, Before: "run-07"}))
	require.Equal(t, []string{"run-00"}, listRuns(store.RunListParams{Key: syncKey, Limit: 3, Before: "run-01"}))
	require.Empty(t, listRuns(store.RunListParams{Key: syncKey, Before: "run-00"}))
	require.Equal(t, []string{"other-1-09", "other-1-08"}, listRuns(store.RunListParams{Key: others[1], Limit: 2}))
	require.Empty(t, listRuns(store.RunListParams{Key: store.SyncKey{Integration: "x", Sync: "y", Connection: "z"}}))

	// Updating a run does not move it.
	run := newRun("run-03", syncKey, 3)
	run.State, run.EndedAt = store.RunSucceeded, at(100)
	require.NoError(t, s.RunUpdate(t.Context(), run))
	require.Equal(t, []string{"run-04", "run-03", "run-02"}, listRuns(store.RunListParams{Key: syncKey, Limit: 3, Before: "run-05"}))

	for _, limit := range []int{-1, store.MaxListLimit + 1} {
		_, err := s.RunList(t.Context(), &store.RunListParams{Key: syncKey, Limit: limit})
		requireParamError(t, err, "limit %d", limit)
	}
}

func testRunLastSuccess(t *testing.T, su *suite) {
	s := su.open(t)
	_, err := s.RunLastSuccess(t.Context(), syncKey)
	require.ErrorIs(t, err, store.ErrNotFound, "no runs")

	states := []store.RunState{store.RunFailed, store.RunSucceeded, store.RunSucceeded, store.RunCancelled, store.RunTimedOut, store.RunRunning}
	for i, st := range states {
		run := newRun(fmt.Sprintf("run-%d", i), syncKey, i)
		run.State = st
		require.NoError(t, s.RunInsert(t.Context(), run))
	}
	other := store.SyncKey{Integration: syncKey.Integration, Sync: "sync-b", Connection: syncKey.Connection}
	run := newRun("other-1", other, 10)
	run.State = store.RunSucceeded
	require.NoError(t, s.RunInsert(t.Context(), run))

	got, err := s.RunLastSuccess(t.Context(), syncKey)
	require.NoError(t, err)
	require.Equal(t, "run-2", got.ID)
	require.Equal(t, store.RunSucceeded, got.State)

	run = newRun("run-5", syncKey, 5)
	run.State, run.EndedAt = store.RunSucceeded, at(50)
	require.NoError(t, s.RunUpdate(t.Context(), run))
	got, err = s.RunLastSuccess(t.Context(), syncKey)
	require.NoError(t, err)
	requireRun(t, run, got)

	_, err = s.RunLastSuccess(t.Context(), store.SyncKey{Integration: syncKey.Integration, Sync: "sync-c", Connection: syncKey.Connection})
	require.ErrorIs(t, err, store.ErrNotFound)
	run = newRun("failed", store.SyncKey{Integration: syncKey.Integration, Sync: "sync-c", Connection: syncKey.Connection}, 0)
	run.State = store.RunFailed
	require.NoError(t, s.RunInsert(t.Context(), run))
	_, err = s.RunLastSuccess(t.Context(), run.Key)
	require.ErrorIs(t, err, store.ErrNotFound, "only failed runs")
}
