package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// persistenceTests check that a durable store keeps everything across Close and open. They skip
// when Features.Reopen is nil.
func persistenceTests() []test {
	return []test{
		{"Records", testPersistRecords},
		{"Cursors", testPersistCursors},
		{"StaleCursors", testPersistStaleCursors},
		{"Checkpoints", testPersistCheckpoints},
		{"Windows", testPersistWindows},
		{"RunsAndConnections", testPersistRunsAndConnections},
	}
}

func testPersistRecords(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"}
	save(t, h.s, stream, at(0), seq("r", 0, 50, "")...)
	save(t, h.s, stream, at(1), in("r-00003", `"n":3,"v":2`))
	write(t, h.s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(2),
		Records: []store.RecordInput{in("r-00004", `"m":{"x":1}`)}})
	write(t, h.s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(3),
		Records: []store.RecordInput{del("r-00005")}})
	save(t, h.s, other, at(4), in("a", ""))
	before := all(t, h.s, stream)
	beforeOther := all(t, h.s, other)

	s := h.reopen(t)
	got := all(t, s, stream)
	require.Len(t, got, len(before))
	for i := range got {
		requireSameRecord(t, before[i], got[i])
	}
	gotOther := all(t, s, other)
	require.Len(t, gotOther, 1)
	requireSameRecord(t, beforeOther[0], gotOther[0])
	require.Equal(t, store.StreamStats{Live: 49, Deleted: 1}, stats(t, s, stream))

	// Writes after the reopen see the records as they were.
	res := save(t, s, stream, at(5), in("r-00000", `"n":0`), in("r-00003", `"n":3`), in("r-00005", `"n":5`))
	require.Equal(t, counts{Added: 1, Updated: 1, Unchanged: 1}, countsOf(res))
	requireTime(t, at(0), get(t, s, stream, "r-00003").FirstSeenAt, "first seen at")
}

func testPersistCursors(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	save(t, h.s, stream, at(100), seq("r", 0, 10, "")...)
	before := all(t, h.s, stream)
	mid, last := before[4].Cursor, before[9].Cursor

	s := h.reopen(t)
	require.Equal(t, ids(before[5:]), ids(after(t, s, stream, mid)), "a cursor taken before the reopen still works")
	require.Empty(t, after(t, s, stream, last))

	// New changes come after every cursor given before the reopen, and their times do not go back.
	save(t, s, stream, at(50), in("new", ""), in("r-00001", `"n":1,"v":2`))
	got := after(t, s, stream, last)
	require.Equal(t, []string{"new", "r-00001"}, sorted(ids(got)))
	for _, r := range got {
		requireNotBefore(t, at(100), r.LastModifiedAt)
	}
	s = h.reopen(t)
	require.Equal(t, ids(got), ids(after(t, s, stream, last)))
	_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: alter(last, len(last)/2)})
	requireCursorError(t, err)
}

func testPersistStaleCursors(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	save(t, h.s, stream, at(0), in("a", ""), in("b", ""))
	old := all(t, h.s, stream)[0].Cursor
	require.NoError(t, h.s.StreamDelete(t.Context(), stream))

	s := h.reopen(t)
	_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: old})
	require.ErrorIs(t, err, store.ErrCursorStale, "a cursor from before StreamDelete, after a reopen")
	save(t, s, stream, at(1), in("a", ""), in("c", ""))
	fresh := all(t, s, stream)[0].Cursor

	s = h.reopen(t)
	_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: old})
	require.ErrorIs(t, err, store.ErrCursorStale)
	require.Len(t, after(t, s, stream, fresh), 1)
}

func testPersistCheckpoints(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	other := store.CheckpointKey{Integration: cpKey.Integration, Sync: "sync-b", Connection: cpKey.Connection}
	putCP(t, h.s, cpKey, `{"page":1}`, 0)
	putCP(t, h.s, cpKey, `{"page":2}`, 1)
	write(t, h.s, store.RecordsWriteParams{Stream: stream, Now: at(1), Records: []store.RecordInput{in("a", "")},
		Checkpoint: &store.CheckpointPutParams{Key: other, Data: []byte(`"with records"`), Now: at(1)}})

	s := h.reopen(t)
	requireCP(t, s, cpKey, `{"page":2}`, 2)
	requireCP(t, s, other, `"with records"`, 1)
	_, err := s.CheckpointPut(t.Context(), &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{}`), ExpectedVersion: 1, Now: at(2)})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	require.Equal(t, int64(3), putCP(t, s, cpKey, `{"page":3}`, 2).Version)
	require.NoError(t, s.CheckpointDelete(t.Context(), &store.CheckpointDeleteParams{Key: other, ExpectedVersion: 1}))

	s = h.reopen(t)
	requireCP(t, s, cpKey, `{"page":3}`, 3)
	requireNoCP(t, s, other)
}

func testPersistWindows(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	save(t, h.s, stream, at(0), in("a", ""), in("b", ""), in("c", ""), in("d", ""))
	seen(t, h.s, stream, "sync-a", at(1), in("a", ""))
	seen(t, h.s, stream, "sync-b", at(1), in("a", ""))

	s := h.reopen(t)
	seen(t, s, stream, "sync-a", at(2), in("b", ""))
	s = h.reopen(t)
	require.Equal(t, store.RecordsSweepResult{Live: 4, Unseen: 2, Deleted: 2}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(3), Guard: noGuard}), "the window holds a and b across reopens")
	requireLive(t, s, stream, "a", "b")

	// The closed window stays closed, sync-b's stays open.
	s = h.reopen(t)
	require.Equal(t, store.RecordsSweepResult{Live: 2, Unseen: 2, Refused: true}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(4), Guard: &store.DeleteGuard{MaxShare: 0.5, MinRecords: 1}}))
	require.Equal(t, store.RecordsSweepResult{Live: 2, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-b", Now: at(4), Guard: noGuard}))
	requireLive(t, s, stream, "a")
}

func testPersistRunsAndConnections(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	c1 := putConn(t, h.s, "github", "conn-1", `{"team":"core"}`)
	c2 := putConn(t, h.s, "github", "conn-2", "")
	r1 := newRun("run-1", syncKey, 0)
	r1.State, r1.EndedAt = store.RunSucceeded, at(10)
	r1.Results = map[string]store.ModelResult{"issues": {Added: 1, Updated: 2, Deleted: 3}}
	r1.Warnings, r1.Log = []string{"w"}, []string{"l1", "l2"}
	require.NoError(t, h.s.RunInsert(t.Context(), r1))
	r2 := newRun("run-2", syncKey, 20)
	require.NoError(t, h.s.RunInsert(t.Context(), r2))

	s := h.reopen(t)
	requireConn(t, c1, getConn(t, s, "github", "conn-1"))
	requireConn(t, c2, getConn(t, s, "github", "conn-2"))
	conns, err := s.ConnectionList(t.Context(), "github")
	require.NoError(t, err)
	require.Equal(t, []string{"github/conn-1", "github/conn-2"}, connKeys(conns))
	got, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	requireRun(t, r1, got)
	runs, err := s.RunList(t.Context(), &store.RunListParams{Key: syncKey})
	require.NoError(t, err)
	require.Equal(t, []string{"run-2", "run-1"}, runIDs(runs))
	last, err := s.RunLastSuccess(t.Context(), syncKey)
	require.NoError(t, err)
	require.Equal(t, "run-1", last.ID)

	// Later runs still list first; deletes last.
	require.NoError(t, s.RunInsert(t.Context(), newRun("run-3", syncKey, 30)))
	require.NoError(t, s.ConnectionDelete(t.Context(), "github", "conn-2"))
	s = h.reopen(t)
	runs, err = s.RunList(t.Context(), &store.RunListParams{Key: syncKey})
	require.NoError(t, err)
	require.Equal(t, []string{"run-3", "run-2", "run-1"}, runIDs(runs))
	_, err = s.ConnectionGet(t.Context(), "github", "conn-2")
	require.ErrorIs(t, err, store.ErrNotFound)
}
