package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// streamTests check StreamStats and StreamDelete.
func streamTests() []test {
	return []test{
		{"Stats", testStreamStats},
		{"Delete", testStreamDelete},
		{"DeleteMakesCursorsStale", testStreamDeleteStaleCursor},
	}
}

func stats(t *testing.T, s store.Store, st store.Stream) store.StreamStats {
	t.Helper()
	res, err := s.StreamStats(t.Context(), st)
	require.NoError(t, err)
	require.NotNil(t, res)
	return *res
}

func testStreamStats(t *testing.T, su *suite) {
	s := su.open(t)
	require.Equal(t, store.StreamStats{}, stats(t, s, stream))
	save(t, s, stream, at(0), seq("r", 0, 10, "")...)
	require.Equal(t, store.StreamStats{Live: 10}, stats(t, s, stream))
	save(t, s, stream, at(1), seq("r", 0, 10, `"v":2`)...)
	require.Equal(t, store.StreamStats{Live: 10}, stats(t, s, stream), "updates are not new records")
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2),
		Records: []store.RecordInput{del("r-00000"), del("r-00001"), del("r-00002"), del("unknown")}})
	require.Equal(t, store.StreamStats{Live: 7, Deleted: 3}, stats(t, s, stream))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2),
		Records: []store.RecordInput{del("r-00000")}})
	require.Equal(t, store.StreamStats{Live: 7, Deleted: 3}, stats(t, s, stream), "a second delete changes nothing")
	save(t, s, stream, at(3), in("r-00001", ""))
	require.Equal(t, store.StreamStats{Live: 8, Deleted: 2}, stats(t, s, stream))
	seen(t, s, stream, "sync-a", at(4), in("r-00001", ""), in("r-00009", `"n":9`))
	sweep(t, s, store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Now: at(5), Guard: noGuard})
	require.Equal(t, store.StreamStats{Live: 2, Deleted: 8}, stats(t, s, stream))
}

func testStreamDelete(t *testing.T, su *suite) {
	s := su.open(t)
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"}
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", ""))
	save(t, s, other, at(0), in("a", `"v":1`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("b")}})

	require.NoError(t, s.StreamDelete(t.Context(), stream))
	requireEmpty(t, s, stream)
	require.Equal(t, []string{"a"}, ids(all(t, s, other)), "other streams are left alone")

	// The records are gone for good: saving them again adds them.
	res := save(t, s, stream, at(2), in("a", `"v":1`), in("b", ""))
	require.Equal(t, counts{Added: 2}, countsOf(res))
	for _, r := range all(t, s, stream) {
		require.Equal(t, store.ActionAdded, r.LastAction)
		requireTime(t, at(2), r.FirstSeenAt, r.ID+" first seen at")
		require.True(t, r.DeletedAt.IsZero())
	}
	require.Equal(t, store.StreamStats{Live: 2}, stats(t, s, stream))

	// Deleting an empty or unknown stream is fine.
	require.NoError(t, s.StreamDelete(t.Context(), store.Stream{Integration: "x", Connection: "y", Model: "z"}))
	requireParamError(t, s.StreamDelete(t.Context(), store.Stream{Integration: "x", Model: "z"}))
}

func testStreamDeleteStaleCursor(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""), in("b", ""))
	old := all(t, s, stream)[0].Cursor

	require.NoError(t, s.StreamDelete(t.Context(), stream))
	_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: old})
	require.ErrorIs(t, err, store.ErrCursorStale, "a cursor from before StreamDelete, stream empty")

	save(t, s, stream, at(1), in("a", ""), in("c", ""))
	_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: old})
	require.ErrorIs(t, err, store.ErrCursorStale, "a cursor from before StreamDelete, stream written again")

	// Cursors taken after the delete work.
	recs := all(t, s, stream)
	require.Len(t, recs, 2)
	require.Equal(t, ids(recs[1:]), ids(after(t, s, stream, recs[0].Cursor)))
	save(t, s, stream, at(2), in("d", ""))
	require.Equal(t, []string{"d"}, ids(after(t, s, stream, recs[1].Cursor)))
}
