package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// sweepTests check deletion tracking: TrackSeen windows, RecordsSweep, its guard, and
// RecordsSweepReset.
func sweepTests() []test {
	return []test{
		{"DeletesUnseen", testSweepDeletesUnseen},
		{"WindowSpansWrites", testSweepWindowSpansWrites},
		{"ClosesWindow", testSweepClosesWindow},
		{"Guard", testSweepGuard},
		{"GuardClosesWindowWhenRefusing", testSweepGuardClosesWindow},
		{"GuardSkipsSmallStreams", testSweepGuardSmallStream},
		{"Reset", testSweepReset},
		{"SyncsAreSeparate", testSweepSyncsAreSeparate},
		{"StreamsAreSeparate", testSweepStreamsAreSeparate},
		{"MergeJoinsWindow", testSweepMergeJoinsWindow},
		{"DeletedStayDeleted", testSweepDeletedStayDeleted},
		{"EmptyStream", testSweepEmptyStream},
		{"InvalidParams", testSweepInvalidParams},
		{"Large", testSweepLarge},
	}
}

// noGuard is the nil DeleteGuard, which never refuses.
var noGuard *store.DeleteGuard

// sweep calls RecordsSweep and requires it to succeed.
func sweep(t *testing.T, s store.Store, p store.RecordsSweepParams) store.RecordsSweepResult {
	t.Helper()
	res, err := s.RecordsSweep(t.Context(), &p)
	require.NoError(t, err)
	require.NotNil(t, res)
	return *res
}

// seen writes records in WriteSave mode with TrackSeen sync.
func seen(t *testing.T, s store.Store, st store.Stream, sync string, now time.Time, recs ...store.RecordInput) *store.RecordsWriteResult {
	t.Helper()
	return write(t, s, store.RecordsWriteParams{Stream: st, Mode: store.WriteSave, Records: recs, Now: now, TrackSeen: sync})
}

// requireLive requires the live records of st to be exactly these ids.
func requireLive(t *testing.T, s store.Store, st store.Stream, want ...string) {
	t.Helper()
	live := scan(t, s, store.RecordsListParams{Stream: st, Filter: store.FilterAdded | store.FilterUpdated, Limit: store.MaxListLimit})
	require.Equal(t, sorted(want), sorted(ids(live)), "live records of %s", st)
	stats, err := s.StreamStats(t.Context(), st)
	require.NoError(t, err)
	require.Equal(t, len(want), stats.Live, "live count of %s", st)
}

func testSweepDeletesUnseen(t *testing.T, su *suite) {
	s := su.open(t)
	res := seen(t, s, stream, "sync-a", at(0), in("a", ""), in("b", ""), in("c", ""), in("d", ""))
	require.Equal(t, counts{Added: 4}, countsOf(res))
	require.Equal(t, store.RecordsSweepResult{Live: 4}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(1), Guard: noGuard}))
	before := all(t, s, stream)
	last := before[len(before)-1].Cursor

	// The next run sees a and b, unchanged, and c changed; d is gone from the API.
	res = seen(t, s, stream, "sync-a", at(2), in("a", ""), in("b", ""))
	require.Equal(t, counts{Unchanged: 2}, countsOf(res))
	res = seen(t, s, stream, "sync-a", at(2), in("c", `"v":2`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	require.Equal(t, store.RecordsSweepResult{Live: 4, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(3), Guard: noGuard}))

	requireLive(t, s, stream, "a", "b", "c")
	d := get(t, s, stream, "d")
	require.Equal(t, store.ActionDeleted, d.LastAction)
	requireTime(t, at(3), d.DeletedAt, "deleted at")
	require.JSONEq(t, `{"id":"d"}`, string(d.Data), "a swept record keeps its payload")
	require.Equal(t, []string{"c", "d"}, ids(after(t, s, stream, last)),
		"unchanged records keep their cursor; the sweep's delete comes last")
}

func testSweepWindowSpansWrites(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""), in("b", ""), in("c", ""), in("d", ""), in("e", ""))
	// A run saw a and b, then failed; the next run saw c and succeeded.
	seen(t, s, stream, "sync-a", at(1), in("a", ""), in("b", ""))
	seen(t, s, stream, "sync-a", at(2), in("c", ""))
	require.Equal(t, store.RecordsSweepResult{Live: 5, Unseen: 2, Deleted: 2}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(3), Guard: noGuard}))
	requireLive(t, s, stream, "a", "b", "c")
}

func testSweepClosesWindow(t *testing.T, su *suite) {
	s := su.open(t)
	seen(t, s, stream, "sync-a", at(0), in("a", ""), in("b", ""), in("c", ""))
	require.Equal(t, store.RecordsSweepResult{Live: 3}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(1), Guard: noGuard}))
	// Nothing was seen since the last sweep: everything live goes.
	require.Equal(t, store.RecordsSweepResult{Live: 3, Unseen: 3, Deleted: 3}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}))
	requireLive(t, s, stream)
	stats, err := s.StreamStats(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{Deleted: 3}, *stats)
}

func testSweepGuard(t *testing.T, su *suite) {
	s := su.open(t)
	guard := &store.DeleteGuard{MaxShare: 0.5, MinRecords: 100}
	recs := seq("r", 0, 200, "")
	save(t, s, stream, at(0), recs...)

	// 101 of 200 unseen: more than half.
	seen(t, s, stream, "sync-a", at(1), recs[:99]...)
	snapshot := scan(t, s, store.RecordsListParams{Stream: stream, Limit: store.MaxListLimit})
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 101, Refused: true}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: guard}))
	later := scan(t, s, store.RecordsListParams{Stream: stream, Limit: store.MaxListLimit})
	require.Equal(t, ids(snapshot), ids(later), "a refused sweep deletes nothing")
	requireLive(t, s, stream, inputIDs(recs)...)

	// Force overrides the guard.
	seen(t, s, stream, "sync-a", at(3), recs[:99]...)
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 101, Deleted: 101}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(4), Guard: guard, Force: true}))
	requireLive(t, s, stream, inputIDs(recs[:99])...)

	// Exactly half is not more than half.
	save(t, s, stream, at(5), recs...)
	seen(t, s, stream, "sync-a", at(6), recs[100:]...)
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 100, Deleted: 100}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(7), Guard: guard}))
	requireLive(t, s, stream, inputIDs(recs[100:])...)

	// A MaxShare of 0 refuses any delete from a stream the guard covers; a MaxShare of 1 and a
	// nil guard disable it.
	save(t, s, stream, at(8), recs...)
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 200, Refused: true}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(9), Guard: &store.DeleteGuard{MaxShare: 0, MinRecords: 1}}))
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 200, Deleted: 200}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(10), Guard: &store.DeleteGuard{MaxShare: 1, MinRecords: 1}}))
	requireLive(t, s, stream)
	save(t, s, stream, at(11), recs...)
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 200, Deleted: 200}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(12), Guard: nil}))
	requireLive(t, s, stream)
}

func testSweepGuardClosesWindow(t *testing.T, su *suite) {
	s := su.open(t)
	guard := &store.DeleteGuard{MaxShare: 0.5, MinRecords: 100}
	recs := seq("r", 0, 200, "")
	save(t, s, stream, at(0), recs...)
	seen(t, s, stream, "sync-a", at(1), recs[:99]...)
	require.True(t, sweep(t, s, store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Now: at(2), Guard: guard}).Refused)

	// Had the refused sweep left its window open, only r-00099 would be unseen now.
	seen(t, s, stream, "sync-a", at(3), recs[100:]...)
	require.Equal(t, store.RecordsSweepResult{Live: 200, Unseen: 100, Deleted: 100}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(4), Guard: guard}))
	requireLive(t, s, stream, inputIDs(recs[100:])...)
}

func testSweepGuardSmallStream(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 99, "")...)
	require.Equal(t, store.RecordsSweepResult{Live: 99, Unseen: 99, Deleted: 99}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(1), Guard: &store.DeleteGuard{MaxShare: 0.5, MinRecords: 100}}),
		"a stream with fewer than MinRecords live records is swept regardless")
	requireLive(t, s, stream)
}

func testSweepReset(t *testing.T, su *suite) {
	s := su.open(t)
	seen(t, s, stream, "sync-a", at(0), in("a", ""), in("b", ""), in("c", ""))
	require.NoError(t, s.RecordsSweepReset(t.Context(), &store.RecordsSweepResetParams{Stream: stream, Sync: "sync-a"}))
	requireLive(t, s, stream, "a", "b", "c")
	seen(t, s, stream, "sync-a", at(1), in("c", ""))
	require.Equal(t, store.RecordsSweepResult{Live: 3, Unseen: 2, Deleted: 2}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}), "the reset discarded a and b from the window")
	requireLive(t, s, stream, "c")
	// Resetting without a window is fine.
	require.NoError(t, s.RecordsSweepReset(t.Context(), &store.RecordsSweepResetParams{Stream: stream, Sync: "sync-b"}))
}

func testSweepSyncsAreSeparate(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""), in("b", ""), in("c", ""))
	seen(t, s, stream, "sync-a", at(1), in("a", ""), in("b", ""))
	seen(t, s, stream, "sync-b", at(1), in("b", ""), in("c", ""))
	require.Equal(t, store.RecordsSweepResult{Live: 3, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}))
	requireLive(t, s, stream, "a", "b")
	// sync-b's window survived sync-a's sweep, and holds only its own ids.
	require.Equal(t, store.RecordsSweepResult{Live: 2, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-b", Now: at(3), Guard: noGuard}))
	requireLive(t, s, stream, "b")

	// A reset of one sync leaves the other's window alone.
	seen(t, s, stream, "sync-a", at(4), in("b", ""))
	seen(t, s, stream, "sync-b", at(4), in("b", ""))
	require.NoError(t, s.RecordsSweepReset(t.Context(), &store.RecordsSweepResetParams{Stream: stream, Sync: "sync-b"}))
	require.Equal(t, store.RecordsSweepResult{Live: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(5), Guard: noGuard}))
}

func testSweepStreamsAreSeparate(t *testing.T, su *suite) {
	s := su.open(t)
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"}
	seen(t, s, stream, "sync-a", at(0), in("a", ""))
	save(t, s, other, at(0), in("a", ""))
	require.Equal(t, store.RecordsSweepResult{Live: 1, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: other, Sync: "sync-a", Now: at(1), Guard: noGuard}), "a window belongs to one stream")
	requireLive(t, s, other)
	require.Equal(t, store.RecordsSweepResult{Live: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(1), Guard: noGuard}))
	requireLive(t, s, stream, "a")
}

func testSweepMergeJoinsWindow(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":1`), in("c", `"v":1`), in("gone", ""))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(0),
		Records: []store.RecordInput{del("gone")}})
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(1), TrackSeen: "sync-a",
		Records: []store.RecordInput{in("a", `"v":2`), in("b", `"v":1`), in("unknown", ""), in("gone", "")}})
	require.Equal(t, counts{Updated: 1, Unchanged: 1, Ignored: 2}, countsOf(res))
	require.Equal(t, store.RecordsSweepResult{Live: 3, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(2), Guard: noGuard}))
	requireLive(t, s, stream, "a", "b")
	requireAbsent(t, s, stream, "unknown")
	require.Equal(t, store.ActionDeleted, get(t, s, stream, "gone").LastAction)
}

func testSweepDeletedStayDeleted(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""), in("b", ""), in("c", ""), in("d", ""))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("c"), del("d")}})
	c := get(t, s, stream, "c")
	// d comes back within the window: it is live again and seen.
	res := seen(t, s, stream, "sync-a", at(2), in("a", ""), in("d", ""))
	require.Equal(t, counts{Added: 1, Unchanged: 1}, countsOf(res))
	require.Equal(t, store.RecordsSweepResult{Live: 3, Unseen: 1, Deleted: 1}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(3), Guard: noGuard}), "deleted records are not counted")
	requireSameRecord(t, c, get(t, s, stream, "c"))
	requireLive(t, s, stream, "a", "d")
	stats, err := s.StreamStats(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{Live: 2, Deleted: 2}, *stats)
}

func testSweepEmptyStream(t *testing.T, su *suite) {
	s := su.open(t)
	require.Equal(t, store.RecordsSweepResult{}, sweep(t, s, store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Now: at(0)}))
	seen(t, s, stream, "sync-a", at(0))
	require.Equal(t, store.RecordsSweepResult{}, sweep(t, s, store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Now: at(0)}))
	requireEmpty(t, s, stream)
}

func testSweepInvalidParams(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""))
	for _, p := range []store.RecordsSweepParams{
		{Stream: stream, Sync: "", Guard: noGuard},
		{Stream: stream, Sync: "a\x00b", Guard: noGuard},
		{Stream: store.Stream{Integration: stream.Integration, Model: stream.Model}, Sync: "sync-a", Guard: noGuard},
	} {
		_, err := s.RecordsSweep(t.Context(), &p)
		requireParamError(t, err, "sweep %+v", p)
		err = s.RecordsSweepReset(t.Context(), &store.RecordsSweepResetParams{Stream: p.Stream, Sync: p.Sync})
		requireParamError(t, err, "reset %+v", p)
	}
	_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, TrackSeen: "a\x00b", Now: at(1),
		Records: []store.RecordInput{in("b", "")}})
	requireParamError(t, err, "TrackSeen with a NUL")
	requireLive(t, s, stream, "a")
}

// testSweepLarge exercises the chunking an implementation may do: 5,000 records written in
// batches of 500, of which 4,700 are seen again.
func testSweepLarge(t *testing.T, su *suite) {
	s := su.open(t)
	const n, batch = 5000, 500
	recs := seq("r", 0, n, "")
	for i := 0; i < n; i += batch {
		res := seen(t, s, stream, "sync-a", at(0), recs[i:i+batch]...)
		require.Equal(t, batch, res.Added)
	}
	guard := &store.DeleteGuard{MaxShare: 0.5, MinRecords: 100}
	require.Equal(t, store.RecordsSweepResult{Live: n}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(1), Guard: guard}))

	// Every 50 records, three are gone; every 7th of the others changed.
	var again []store.RecordInput
	var gone []string
	for i, r := range recs {
		switch {
		case i%50 < 3:
			gone = append(gone, r.ID)
		case i%7 == 0:
			again = append(again, in(r.ID, fmt.Sprintf(`"n":%d,"v":2`, i)))
		default:
			again = append(again, r)
		}
	}
	require.Len(t, again, 4700)
	for i := 0; i < len(again); i += batch {
		seen(t, s, stream, "sync-a", at(2), again[i:min(i+batch, len(again))]...)
	}
	require.Equal(t, store.RecordsSweepResult{Live: n, Unseen: 300, Deleted: 300}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(3), Guard: guard}))
	deleted := scan(t, s, store.RecordsListParams{Stream: stream, Filter: store.FilterDeleted, Limit: 1000})
	require.Equal(t, gone, sorted(ids(deleted)))
	stats, err := s.StreamStats(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{Live: 4700, Deleted: 300}, *stats)

	// A forced sweep of a window that saw one record deletes the 4,699 others, more than an
	// implementation's page, each with its own cursor, in id order.
	seen(t, s, stream, "sync-a", at(4), again[0])
	require.Equal(t, store.RecordsSweepResult{Live: 4700, Unseen: 4699, Deleted: 4699}, sweep(t, s, store.RecordsSweepParams{
		Stream: stream, Sync: "sync-a", Now: at(5), Guard: guard, Force: true}))
	feed := scan(t, s, store.RecordsListParams{Stream: stream, Filter: store.FilterDeleted, Limit: 1000})
	require.Len(t, feed, n-1)
	late := ids(feed[300:])
	require.Equal(t, sorted(late), late, "the sweep's deletions come in id order")
	require.NotContains(t, late, again[0].ID)
	cursors := map[string]bool{}
	for _, r := range feed {
		cursors[r.Metadata.Cursor] = true
	}
	require.Len(t, cursors, n-1, "every deletion has its own cursor")
}
