package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// checkpointTests check checkpoints, alone and written with a batch of records.
func checkpointTests() []test {
	return []test{
		{"GetAbsent", testCheckpointGetAbsent},
		{"PutAndVersions", testCheckpointPut},
		{"Conflict", testCheckpointConflict},
		{"Delete", testCheckpointDelete},
		{"InvalidParams", testCheckpointInvalid},
		{"KeysAreSeparate", testCheckpointKeys},
		{"WithRecords", testCheckpointWithRecords},
		{"WithRecordsConflictWritesNothing", testCheckpointWithRecordsConflict},
		{"WithInvalidRecordsWritesNothing", testCheckpointWithInvalidRecords},
	}
}

// cpKey is the checkpoint key most tests use.
var cpKey = store.CheckpointKey{Integration: stream.Integration, Sync: "sync-a", Connection: stream.Connection}

// putCP calls CheckpointPut and requires it to succeed.
func putCP(t *testing.T, s store.Store, key store.CheckpointKey, data string, expected int64) *store.Checkpoint {
	t.Helper()
	cp, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: key, Data: []byte(data), ExpectedVersion: expected, Now: at(0)})
	require.NoError(t, err)
	require.NotNil(t, cp)
	require.JSONEq(t, data, string(cp.Data))
	return cp
}

// requireCP requires the checkpoint at key to hold data at version.
func requireCP(t *testing.T, s store.Store, key store.CheckpointKey, data string, version int64) {
	t.Helper()
	cp, err := s.CheckpointGet(t.Context(), key)
	require.NoError(t, err)
	require.NotNil(t, cp)
	require.JSONEq(t, data, string(cp.Data))
	require.Equal(t, version, cp.Version)
}

// requireNoCP requires key to have no checkpoint.
func requireNoCP(t *testing.T, s store.Store, key store.CheckpointKey) {
	t.Helper()
	_, err := s.CheckpointGet(t.Context(), key)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testCheckpointGetAbsent(t *testing.T, su *suite) {
	s := su.open(t)
	requireNoCP(t, s, cpKey)
}

func testCheckpointPut(t *testing.T, su *suite) {
	s := su.open(t)
	cp := putCP(t, s, cpKey, `{"since":"2024-01-01"}`, 0)
	require.Equal(t, int64(1), cp.Version)
	requireTime(t, at(0), cp.UpdatedAt, "updated at")
	requireCP(t, s, cpKey, `{"since":"2024-01-01"}`, 1)
	got, err := s.CheckpointGet(t.Context(), cpKey)
	require.NoError(t, err)
	requireTime(t, at(0), got.UpdatedAt, "updated at")

	for v := int64(1); v < 5; v++ {
		cp = putCP(t, s, cpKey, `{"page":`+string(rune('0'+v))+`}`, v)
		require.Equal(t, v+1, cp.Version)
	}
	requireCP(t, s, cpKey, `{"page":4}`, 5)

	// Any JSON value is a checkpoint.
	for _, data := range []string{`"cursor-abc"`, `42`, `[1,2]`, `null`, `{"nested":{"a":[true]}}`} {
		cur, err := s.CheckpointGet(t.Context(), cpKey)
		require.NoError(t, err)
		putCP(t, s, cpKey, data, cur.Version)
		requireCP(t, s, cpKey, data, cur.Version+1)
	}
}

func testCheckpointConflict(t *testing.T, su *suite) {
	s := su.open(t)
	putCP(t, s, cpKey, `{"v":1}`, 0)
	putCP(t, s, cpKey, `{"v":2}`, 1)
	for _, expected := range []int64{0, 1, 3, 100} {
		_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"v":"x"}`), ExpectedVersion: expected, Now: at(1)})
		require.ErrorIs(t, err, store.ErrVersionConflict, "expected version %d, current 2", expected)
		requireCP(t, s, cpKey, `{"v":2}`, 2)
	}
	// Expecting a version of an absent checkpoint conflicts too.
	other := store.CheckpointKey{Integration: cpKey.Integration, Sync: "sync-b", Connection: cpKey.Connection}
	_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: other, Data: []byte(`{}`), ExpectedVersion: 1, Now: at(1)})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	requireNoCP(t, s, other)
}

func testCheckpointDelete(t *testing.T, su *suite) {
	s := su.open(t)
	putCP(t, s, cpKey, `{"v":1}`, 0)
	putCP(t, s, cpKey, `{"v":2}`, 1)

	err := s.CheckpointDelete(t.Context(), &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: 1})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	requireCP(t, s, cpKey, `{"v":2}`, 2)

	require.NoError(t, s.CheckpointDelete(t.Context(), &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: 2}))
	requireNoCP(t, s, cpKey)

	// After a delete the checkpoint is absent: it starts again at version 1.
	cp := putCP(t, s, cpKey, `{"v":3}`, 0)
	require.Equal(t, int64(1), cp.Version)
	putCP(t, s, cpKey, `{"v":4}`, 1)
	require.NoError(t, s.CheckpointDelete(t.Context(), &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: store.AnyVersion}))
	requireNoCP(t, s, cpKey)
}

func testCheckpointInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	for _, data := range []string{``, `{`, `{"a":}`, `{"a":1} x`, `nul`} {
		_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: cpKey, Data: []byte(data), Now: at(0)})
		requireParamError(t, err, "checkpoint %q", data)
	}
	requireNoCP(t, s, cpKey)
	for _, key := range []store.CheckpointKey{
		{Sync: "s", Connection: "c"},
		{Integration: "i", Connection: "c"},
		{Integration: "i", Sync: "s"},
	} {
		_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: key, Data: []byte(`{}`), Now: at(0)})
		requireParamError(t, err, "key %+v", key)
		_, err = s.CheckpointGet(t.Context(), key)
		requireParamError(t, err, "key %+v", key)
	}
	_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{}`), ExpectedVersion: -2, Now: at(0)})
	requireParamError(t, err, "negative expected version")
	requireNoCP(t, s, cpKey)
}

func testCheckpointKeys(t *testing.T, su *suite) {
	s := su.open(t)
	keys := []store.CheckpointKey{
		cpKey,
		{Integration: "gitlab", Sync: cpKey.Sync, Connection: cpKey.Connection},
		{Integration: cpKey.Integration, Sync: "sync-b", Connection: cpKey.Connection},
		{Integration: cpKey.Integration, Sync: cpKey.Sync, Connection: "conn-2"},
	}
	for i, k := range keys {
		cp := putCP(t, s, k, `{"k":`+string(rune('0'+i))+`}`, 0)
		require.Equal(t, int64(1), cp.Version, "key %+v sees another key's checkpoint", k)
	}
	putCP(t, s, keys[0], `{"k":"changed"}`, 1)
	require.NoError(t, s.CheckpointDelete(t.Context(), &store.CheckpointDeleteParams{Key: keys[1], ExpectedVersion: store.AnyVersion}))
	requireCP(t, s, keys[0], `{"k":"changed"}`, 2)
	requireNoCP(t, s, keys[1])
	requireCP(t, s, keys[2], `{"k":2}`, 1)
	requireCP(t, s, keys[3], `{"k":3}`, 1)
}

func testCheckpointWithRecords(t *testing.T, su *suite) {
	s := su.open(t)
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(1),
		Records:    []store.RecordInput{in("a", ""), in("b", "")},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":1}`), ExpectedVersion: 0, Now: at(1)}})
	require.Equal(t, counts{Added: 2}, countsOf(res))
	require.NotNil(t, res.Checkpoint)
	require.Equal(t, int64(1), res.Checkpoint.Version)
	require.JSONEq(t, `{"page":1}`, string(res.Checkpoint.Data))
	requireCP(t, s, cpKey, `{"page":1}`, 1)
	require.Equal(t, []string{"a", "b"}, sorted(ids(all(t, s, stream))))

	// A checkpoint with a batch that changes nothing is still written.
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(2),
		Records:    []store.RecordInput{in("a", "")},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":2}`), ExpectedVersion: 1, Now: at(2)}})
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	require.Equal(t, int64(2), res.Checkpoint.Version)
	requireCP(t, s, cpKey, `{"page":2}`, 2)

	// And with an empty batch, and with deletes.
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(3),
		Records:    []store.RecordInput{del("b")},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":3}`), ExpectedVersion: 2, Now: at(3)}})
	require.Equal(t, counts{Deleted: 1}, countsOf(res))
	require.Equal(t, int64(3), res.Checkpoint.Version)
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(4),
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":4}`), ExpectedVersion: 3, Now: at(4)}})
	require.Equal(t, int64(4), res.Checkpoint.Version)
	requireCP(t, s, cpKey, `{"page":4}`, 4)
}

func testCheckpointWithRecordsConflict(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`))
	putCP(t, s, cpKey, `{"page":1}`, 0)
	before := all(t, s, stream)

	for _, mode := range []store.WriteMode{store.WriteSave, store.WriteMerge, store.WriteDelete} {
		_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: mode, Now: at(1), TrackSeen: "sync-a",
			Records:    []store.RecordInput{in("a", `"v":2`), in("b", "")},
			Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":2}`), ExpectedVersion: 0, Now: at(1)}})
		require.ErrorIs(t, err, store.ErrVersionConflict, "mode %s", mode)
		got := all(t, s, stream)
		require.Len(t, got, len(before), "a batch whose checkpoint conflicts writes no record")
		requireSameRecord(t, before[0], got[0])
		requireCP(t, s, cpKey, `{"page":1}`, 1)
	}
	// Nor did it join the deletion-tracking window.
	require.Equal(t, store.RecordsSweepResult{Live: 1, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}))
}

func testCheckpointWithInvalidRecords(t *testing.T, su *suite) {
	s := su.open(t)
	_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(1),
		Records:    []store.RecordInput{in("a", ""), {ID: "b", Data: []byte(`[1]`)}},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":1}`), Now: at(1)}})
	requireRecordError(t, err, 1, stream.Model, "b")
	requireNoCP(t, s, cpKey)
	requireEmpty(t, s, stream)

	_, err = s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(1),
		Records:    []store.RecordInput{in("a", "")},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":`), Now: at(1)}})
	requireParamError(t, err, "invalid checkpoint JSON")
	requireNoCP(t, s, cpKey)
	requireEmpty(t, s, stream)
}
