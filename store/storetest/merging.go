package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// mergingTests check StreamCursor and Nango's "ignore if modified after" merging strategy
// (RecordsWriteParams.IgnoreModifiedAfter).
func mergingTests() []test {
	return []test{
		{"StreamCursor", testStreamCursor},
		{"SkipsNewerRecords", testMergingSkipsNewer},
		{"MergeAndDelete", testMergingMergeDelete},
		{"EmptySnapshot", testMergingEmptySnapshot},
		{"AdvanceSnapshot", testMergingAdvance},
		{"InvalidSnapshot", testMergingInvalid},
		{"StaleSnapshot", testMergingStale},
		{"DeletionWindow", testMergingWindow},
	}
}

// head returns the stream's cursor.
func head(t *testing.T, s store.Store, st store.Stream) string {
	t.Helper()
	c, err := s.StreamCursor(t.Context(), st)
	require.NoError(t, err)
	return c
}

// guarded writes in mode with IgnoreModifiedAfter snap.
func guarded(t *testing.T, s store.Store, mode store.WriteMode, snap string, n int, recs ...store.RecordInput) *store.RecordsWriteResult {
	t.Helper()
	return write(t, s, store.RecordsWriteParams{Stream: stream, Mode: mode, Records: recs, Now: at(n),
		IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap}})
}

func testStreamCursor(t *testing.T, su *suite) {
	s := su.open(t)
	require.Empty(t, head(t, s, stream), "no change yet")
	save(t, s, stream, at(0), in("a", ""), in("b", ""))
	h := head(t, s, stream)
	recs := all(t, s, stream)
	require.Equal(t, recs[len(recs)-1].Cursor, h, "the cursor of the newest change")
	require.Empty(t, after(t, s, stream, h))
	save(t, s, stream, at(1), in("a", ""))
	require.Equal(t, h, head(t, s, stream), "an unchanged record does not move it")
	save(t, s, stream, at(2), in("c", ""))
	require.Equal(t, []string{"c"}, ids(after(t, s, stream, h)))
	require.Empty(t, head(t, s, store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "other"}))
	_, err := s.StreamCursor(t.Context(), store.Stream{Integration: "i"})
	requireParamError(t, err)
}

func testMergingSkipsNewer(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`), in("b", `"v":0`), in("c", `"v":0`))
	snap := head(t, s, stream) // the polling run starts
	// A webhook writes newer data for a and deletes c.
	save(t, s, stream, at(1), in("a", `"v":"webhook"`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Records: []store.RecordInput{del("c")}, Now: at(1)})
	webhookA := get(t, s, stream, "a")

	// The polling run writes what it fetched before: older data for a and c, b changed, d new.
	res := guarded(t, s, store.WriteSave, snap, 2, in("a", `"v":1`), in("b", `"v":1`), in("c", `"v":1`), in("d", `"v":1`))
	require.Equal(t, counts{Added: 1, Updated: 1}, countsOf(res))
	require.Equal(t, 2, res.Skipped)
	require.ElementsMatch(t, []string{"a", "c"}, res.SkippedIDs)
	requireSameRecord(t, webhookA, get(t, s, stream, "a"))
	c := get(t, s, stream, "c")
	require.Equal(t, store.ActionDeleted, c.LastAction, "a deletion after the snapshot is not undone")
	require.JSONEq(t, `{"id":"b","v":1}`, string(get(t, s, stream, "b").Data))
	require.Equal(t, store.ActionAdded, get(t, s, stream, "d").LastAction)

	// Without the option, the same write overwrites.
	res = save(t, s, stream, at(3), in("a", `"v":1`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	require.Zero(t, res.Skipped)
	require.Empty(t, res.Cursor, "cursors are only reported with IgnoreModifiedAfter")
}

func testMergingMergeDelete(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`), in("b", `"v":0`))
	snap := head(t, s, stream)
	save(t, s, stream, at(1), in("a", `"v":"webhook"`))
	res := guarded(t, s, store.WriteMerge, snap, 2, in("a", `"w":1`), in("b", `"w":1`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	require.Equal(t, 1, res.Skipped)
	require.JSONEq(t, `{"id":"a","v":"webhook"}`, string(get(t, s, stream, "a").Data))
	require.JSONEq(t, `{"id":"b","v":0,"w":1}`, string(get(t, s, stream, "b").Data))

	snap = res.Cursor
	save(t, s, stream, at(3), in("b", `"v":"webhook"`))
	res = guarded(t, s, store.WriteDelete, snap, 4, del("a"), del("b"))
	require.Equal(t, counts{Deleted: 1}, countsOf(res))
	require.Equal(t, []string{"b"}, res.SkippedIDs)
	require.Equal(t, store.ActionDeleted, get(t, s, stream, "a").LastAction)
	require.Equal(t, store.ActionUpdated, get(t, s, stream, "b").LastAction)
}

func testMergingEmptySnapshot(t *testing.T, su *suite) {
	s := su.open(t)
	// The snapshot was taken when the stream was empty: every record in it now is newer.
	save(t, s, stream, at(0), in("a", `"v":"webhook"`))
	res := guarded(t, s, store.WriteSave, "", 1, in("a", `"v":1`), in("b", `"v":1`))
	require.Equal(t, counts{Added: 1}, countsOf(res))
	require.Equal(t, 1, res.Skipped)
	require.JSONEq(t, `{"id":"a","v":"webhook"}`, string(get(t, s, stream, "a").Data))

	// On an empty stream nothing is skipped.
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "other"}
	res = write(t, s, store.RecordsWriteParams{Stream: other, Mode: store.WriteSave, Records: []store.RecordInput{in("a", "")}, Now: at(2),
		IgnoreModifiedAfter: &store.CursorSnapshot{}})
	require.Equal(t, counts{Added: 1}, countsOf(res))
	require.Empty(t, res.PrevCursor)
	require.Equal(t, head(t, s, other), res.Cursor)
}

func testMergingAdvance(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`))
	snap := head(t, s, stream)
	res := guarded(t, s, store.WriteSave, snap, 1, in("b", `"v":1`))
	require.Equal(t, snap, res.PrevCursor, "nobody else wrote since the snapshot")
	require.Equal(t, head(t, s, stream), res.Cursor)
	require.NotEqual(t, snap, res.Cursor)
	// The writer moves its snapshot, so that it does not skip its own records.
	snap = res.Cursor
	res = guarded(t, s, store.WriteSave, snap, 2, in("b", `"v":2`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	require.Zero(t, res.Skipped)

	// Another writer came in between: PrevCursor tells, and the write's own changes are the
	// range (PrevCursor, Cursor].
	snap = res.Cursor
	save(t, s, stream, at(3), in("c", ""))
	res = guarded(t, s, store.WriteSave, snap, 4, in("b", `"v":3`), in("d", `"v":1`))
	require.NotEqual(t, snap, res.PrevCursor)
	require.Equal(t, counts{Added: 1, Updated: 1}, countsOf(res), "b was not changed by the other writer")
	own := []store.CursorRange{{After: res.PrevCursor, Through: res.Cursor}}
	withOwn := func(n int, recs ...store.RecordInput) *store.RecordsWriteResult {
		return write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Records: recs, Now: at(n),
			IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap, Own: own}})
	}
	res = withOwn(5, in("b", `"v":4`), in("c", `"v":"mine"`))
	require.Equal(t, counts{Updated: 1}, countsOf(res), "its own change does not block the writer")
	require.Equal(t, []string{"c"}, res.SkippedIDs, "the other writer's still does")
	own[0].Through = res.Cursor // the writer's changes are contiguous: the range grows
	res = guarded(t, s, store.WriteSave, snap, 6, in("b", `"v":5`), in("d", `"v":2`))
	require.Equal(t, 2, res.Skipped, "without Own, the writer's changes after the snapshot count as newer")
	res = withOwn(7, in("b", `"v":5`), in("d", `"v":2`))
	require.Equal(t, counts{Updated: 2}, countsOf(res))
	_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Records: []store.RecordInput{in("b", "")},
		IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap, Own: []store.CursorRange{{After: "bad", Through: res.Cursor}}}})
	requireCursorError(t, err, "a bad cursor in Own")

	// An unchanged write does not move the stream.
	before := head(t, s, stream)
	res = guarded(t, s, store.WriteSave, before, 8, in("b", `"v":5`))
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	require.Equal(t, before, res.PrevCursor)
	require.Equal(t, before, res.Cursor)
}

func testMergingInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`))
	other := store.Stream{Integration: stream.Integration, Connection: "conn-2", Model: stream.Model}
	save(t, s, other, at(0), in("a", ""))
	for _, snap := range []string{"not-a-cursor", head(t, s, other)} {
		_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(1),
			Records: []store.RecordInput{in("a", `"v":1`), in("z", "")}, IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap}})
		requireCursorError(t, err, "snapshot %q", snap)
	}
	require.Equal(t, []string{"a"}, ids(all(t, s, stream)), "nothing written")
	require.JSONEq(t, `{"id":"a","v":0}`, string(get(t, s, stream, "a").Data))
}

func testMergingStale(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`))
	snap := head(t, s, stream)
	require.NoError(t, s.StreamDelete(t.Context(), stream))
	save(t, s, stream, at(1), in("a", `"v":"after reset"`))
	res := guarded(t, s, store.WriteSave, snap, 2, in("a", `"v":1`), in("b", ""))
	require.Equal(t, counts{Added: 1}, countsOf(res))
	require.Equal(t, 1, res.Skipped, "a snapshot from before the stream was emptied makes every record newer")
	require.JSONEq(t, `{"id":"a","v":"after reset"}`, string(get(t, s, stream, "a").Data))
}

func testMergingWindow(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":0`), in("b", `"v":0`), in("c", `"v":0`))
	snap := head(t, s, stream)
	save(t, s, stream, at(1), in("a", `"v":"webhook"`), in("b", `"v":"webhook"`))
	// A full sync whose every record but c was skipped: the skipped ones were still seen.
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Now: at(2), TrackSeen: "full",
		Records: []store.RecordInput{in("a", `"v":1`)}, IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap}})
	require.Equal(t, 1, res.Skipped)
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(2), TrackSeen: "full",
		Records: []store.RecordInput{in("b", `"w":1`)}, IgnoreModifiedAfter: &store.CursorSnapshot{Cursor: snap}})
	require.Equal(t, 1, res.Skipped)
	sw, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: stream, Sync: "full", Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, 1, sw.Deleted, "only c, which the sync did not see")
	require.Equal(t, store.ActionDeleted, get(t, s, stream, "c").LastAction)
	require.Equal(t, store.ActionUpdated, get(t, s, stream, "a").LastAction)
	require.Equal(t, store.ActionUpdated, get(t, s, stream, "b").LastAction)
}
