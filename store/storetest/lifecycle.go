package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// lifecycleTests check cancelled contexts and Close.
func lifecycleTests() []test {
	return []test{
		{"CancelledContext", testCancelledContext},
		{"ExpiredDeadline", testExpiredDeadline},
		{"Close", testClose},
		{"NilParams", testNilParams},
	}
}

// everyCall calls each method of s once with ctx and valid parameters that would change the
// store, and returns the errors by method name.
func everyCall(ctx context.Context, s store.Store) map[string]error {
	errs := map[string]error{}
	_, errs["RecordsWrite"] = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Now: at(1), TrackSeen: "sync-a",
		Records:    []store.RecordInput{in("a", `"v":2`), in("new", "")},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"v":2}`), ExpectedVersion: 1, Now: at(1)}})
	_, errs["RecordsList"] = s.RecordsList(ctx, &store.RecordsListParams{Stream: stream})
	_, errs["RecordsSweep"] = s.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Now: at(1), Guard: noGuard})
	errs["RecordsSweepReset"] = s.RecordsSweepReset(ctx, &store.RecordsSweepResetParams{Stream: stream, Sync: "sync-a"})
	_, errs["StreamStats"] = s.StreamStats(ctx, stream)
	errs["StreamDelete"] = s.StreamDelete(ctx, stream)
	_, errs["CheckpointGet"] = s.CheckpointGet(ctx, cpKey)
	_, errs["CheckpointPut"] = s.CheckpointPut(ctx, &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"v":3}`), ExpectedVersion: 1, Now: at(1)})
	errs["CheckpointDelete"] = s.CheckpointDelete(ctx, &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: store.AnyVersion})
	errs["RunInsert"] = s.RunInsert(ctx, newRun("run-2", syncKey, 1))
	done := newRun("run-1", syncKey, 0)
	done.State = store.RunSucceeded
	errs["RunUpdate"] = s.RunUpdate(ctx, done)
	_, errs["RunGet"] = s.RunGet(ctx, "run-1")
	_, errs["RunList"] = s.RunList(ctx, &store.RunListParams{Key: syncKey})
	_, errs["RunLastSuccess"] = s.RunLastSuccess(ctx, syncKey)
	errs["ConnectionPut"] = s.ConnectionPut(ctx, &store.Connection{Integration: stream.Integration, ID: "conn-2"})
	_, errs["ConnectionGet"] = s.ConnectionGet(ctx, stream.Integration, stream.Connection)
	_, errs["ConnectionList"] = s.ConnectionList(ctx, "")
	errs["ConnectionDelete"] = s.ConnectionDelete(ctx, stream.Integration, stream.Connection)
	return errs
}

// lifecycleFixture fills a store with one of everything everyCall touches.
func lifecycleFixture(t *testing.T, s store.Store) {
	t.Helper()
	putConn(t, s, stream.Integration, stream.Connection, `{"v":1}`)
	save(t, s, stream, at(0), in("a", `"v":1`))
	putCP(t, s, cpKey, `{"v":1}`, 0)
	require.NoError(t, s.RunInsert(t.Context(), newRun("run-1", syncKey, 0)))
}

// requireFixtureUnchanged requires the store to hold exactly what lifecycleFixture wrote.
func requireFixtureUnchanged(t *testing.T, s store.Store) {
	t.Helper()
	recs := all(t, s, stream)
	require.Equal(t, []string{"a"}, ids(recs))
	require.JSONEq(t, `{"id":"a","v":1}`, string(recs[0].Data))
	require.Equal(t, store.ActionAdded, recs[0].LastAction)
	requireCP(t, s, cpKey, `{"v":1}`, 1)
	run, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, run.State)
	_, err = s.RunGet(t.Context(), "run-2")
	require.ErrorIs(t, err, store.ErrNotFound)
	conns, err := s.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Equal(t, []string{stream.Integration + "/" + stream.Connection}, connKeys(conns))
	// The cancelled write did not join the window either: a sweep deletes "a".
	require.Equal(t, store.RecordsSweepResult{Live: 1, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}))
}

func testCancelledContext(t *testing.T, su *suite) {
	s := su.open(t)
	lifecycleFixture(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, err := range everyCall(ctx, s) {
		require.ErrorIs(t, err, context.Canceled, "%s with a cancelled context", name)
	}
	requireFixtureUnchanged(t, s)
}

func testExpiredDeadline(t *testing.T, su *suite) {
	s := su.open(t)
	lifecycleFixture(t, s)
	ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel()
	for name, err := range everyCall(ctx, s) {
		require.ErrorIs(t, err, context.DeadlineExceeded, "%s with an expired deadline", name)
	}
	requireFixtureUnchanged(t, s)
}

func testClose(t *testing.T, su *suite) {
	h := su.openHandle(t)
	lifecycleFixture(t, h.s)
	h.close(t)
	for name, err := range everyCall(t.Context(), h.s) {
		require.ErrorIs(t, err, store.ErrClosed, "%s after Close", name)
	}
}

// testNilParams: nil parameters are an error, never a panic.
func testNilParams(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	_, err := s.RecordsWrite(ctx, nil)
	requireParamError(t, err)
	_, err = s.RecordsList(ctx, nil)
	requireParamError(t, err)
	_, err = s.RecordsSweep(ctx, nil)
	requireParamError(t, err)
	requireParamError(t, s.RecordsSweepReset(ctx, nil))
	_, err = s.CheckpointPut(ctx, nil)
	requireParamError(t, err)
	requireParamError(t, s.CheckpointDelete(ctx, nil))
	_, err = s.RunList(ctx, nil)
	requireParamError(t, err)
	requireParamError(t, s.RunInsert(ctx, nil))
	requireParamError(t, s.ConnectionPut(ctx, nil))
	_, err = s.LeaseAcquire(ctx, nil)
	requireParamError(t, err)
	_, err = s.LeaseRenew(ctx, nil)
	requireParamError(t, err)
	requireParamError(t, s.LeaseRelease(ctx, nil))
	requireParamError(t, s.SchedulePut(ctx, nil))
}
