package storetest

import (
	"fmt"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// pruneTests check RecordsPrune and the restore of a pruned payload by a later save.
func pruneTests() []test {
	return []test{
		{"ByAgeKeepsCursorsAndOrder", testPruneByAge},
		{"SaveRestoresWithoutUpdate", testPruneRestore},
		{"UntilCursorInBatches", testPruneUntilCursor},
		{"DeleteAndMergeOfPruned", testPruneDeleteMerge},
		{"Invalid", testPruneInvalid},
	}
}

func prune(t *testing.T, s store.Store, p store.RecordsPruneParams) store.RecordsPruneResult {
	t.Helper()
	res, err := s.RecordsPrune(t.Context(), &p)
	require.NoError(t, err)
	require.NotNil(t, res)
	return *res
}

func testPruneByAge(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("old", 0, 5, "")...)
	save(t, s, stream, at(10), seq("new", 0, 3, "")...)
	before := all(t, s, stream)
	head, err := s.StreamCursor(t.Context(), stream)
	require.NoError(t, err)

	res := prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(10), Now: at(20)})
	require.Equal(t, store.RecordsPruneResult{Count: 5}, res)

	got := all(t, s, stream)
	require.Equal(t, ids(before), ids(got), "the feed keeps its order")
	for i, r := range got {
		want := before[i]
		if i < 5 {
			require.Empty(t, r.Data, "record %q is pruned", r.ID)
			want.Data, want.PrunedAt = r.Data, at(20)
		}
		requireSameRecord(t, want, r)
	}
	head2, err := s.StreamCursor(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, head, head2, "pruning is not a change")
	require.Empty(t, after(t, s, stream, head), "a consumer at the head sees nothing new")
	require.Equal(t, store.StreamStats{Live: 8}, stats(t, s, stream))

	require.Equal(t, store.RecordsPruneResult{}, prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(10), Now: at(21)}),
		"pruned records are not pruned again")
	require.Equal(t, store.RecordsPruneResult{}, prune(t, s, store.RecordsPruneParams{Stream: store.Stream{Integration: "x", Connection: "y", Model: "z"},
		ModifiedBefore: at(10)}), "an unknown stream prunes nothing")
}

func testPruneRestore(t *testing.T, su *suite) {
	h := su.openHandle(t)
	s := h.s
	recs := seq("r", 0, 4, `"v":1`)
	save(t, s, stream, at(0), recs...)
	before := all(t, s, stream)
	head, err := s.StreamCursor(t.Context(), stream)
	require.NoError(t, err)
	prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(5), Now: at(5)})

	// The same payload again: unchanged, and the payload is back in place.
	res := save(t, s, stream, at(6), recs[1], recs[2])
	require.Equal(t, counts{Unchanged: 2}, countsOf(res))
	got := all(t, s, stream)
	requireSameRecord(t, before[1], got[1])
	requireSameRecord(t, before[2], got[2])
	require.Empty(t, got[0].Data)
	require.Empty(t, got[3].Data)
	head2, err := s.StreamCursor(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, head, head2, "a restore is not a change")
	require.Empty(t, after(t, s, stream, head))

	// A restored record is pruned again by the next prune.
	require.Equal(t, store.RecordsPruneResult{Count: 2}, prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(5), Now: at(7)}))
	require.Empty(t, get(t, s, stream, recs[1].ID).Data)

	// Another payload: an update as usual, with a new cursor and no pruned_at.
	res = save(t, s, stream, at(8), in(recs[3].ID, `"v":2`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	r := get(t, s, stream, recs[3].ID)
	require.JSONEq(t, `{"id":"r-00003","v":2}`, string(r.Data))
	require.True(t, r.PrunedAt.IsZero())
	require.Equal(t, []string{recs[3].ID}, ids(after(t, s, stream, head)))

	// Persisted: a reopened store keeps the pruned and restored state.
	if su.features.Reopen != nil {
		s2 := h.reopen(t)
		require.Empty(t, get(t, s2, stream, recs[0].ID).Data)
		require.Equal(t, counts{Unchanged: 1}, countsOf(save(t, s2, stream, at(9), recs[0])))
		requireSameRecord(t, before[0], get(t, s2, stream, recs[0].ID))
	}
}

func testPruneUntilCursor(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 25, "")...)
	recs := all(t, s, stream)
	until := recs[20].Cursor
	var got []store.RecordsPruneResult
	for range 5 {
		got = append(got, prune(t, s, store.RecordsPruneParams{Stream: stream, UntilCursor: until, Limit: 10, Now: at(1)}))
	}
	require.Equal(t, []store.RecordsPruneResult{{Count: 10, HasMore: true}, {Count: 10, HasMore: true}, {Count: 1}, {}, {}}, got,
		"the same call continues until done; the cursor's own record is included")
	for i, r := range all(t, s, stream) {
		require.Equal(t, i <= 20, len(r.Data) == 0, "record %d pruned", i)
		require.Equal(t, recs[i].Cursor, r.Cursor)
	}
	// The default limit is Nango's 1000.
	save(t, s, stream, at(2), seq("s", 0, 1001, "")...)
	res := prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(3), Now: at(3)})
	require.Equal(t, store.RecordsPruneResult{Count: 1000, HasMore: true}, res)
}

func testPruneDeleteMerge(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1,"w":1`), in("b", `"v":1`), in("c", `"v":1`))
	prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(1), Now: at(1)})

	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2), Records: []store.RecordInput{del("a")}})
	require.Equal(t, counts{Deleted: 1}, countsOf(res))
	a := get(t, s, stream, "a")
	require.Equal(t, store.ActionDeleted, a.LastAction)
	require.Empty(t, a.Data)
	requireTime(t, at(1), a.PrunedAt, "a deleted pruned record keeps pruned_at")

	// A merge into a pruned record applies onto an empty object.
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(3), Records: []store.RecordInput{in("b", `"v":2`)}})
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	b := get(t, s, stream, "b")
	require.JSONEq(t, `{"id":"b","v":2}`, string(b.Data))
	require.True(t, b.PrunedAt.IsZero())

	// Saving a deleted pruned record adds it again, with its payload.
	res = save(t, s, stream, at(4), in("a", `"v":1,"w":1`))
	require.Equal(t, counts{Added: 1}, countsOf(res))
	a = get(t, s, stream, "a")
	require.JSONEq(t, `{"id":"a","v":1,"w":1}`, string(a.Data))
	require.True(t, a.PrunedAt.IsZero())
	require.Equal(t, store.StreamStats{Live: 3}, stats(t, s, stream))
}

func testPruneInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 3, "")...)
	recs := all(t, s, stream)
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"}
	save(t, s, other, at(0), in("x", ""))
	foreign := all(t, s, other)[0].Cursor

	for name, p := range map[string]store.RecordsPruneParams{
		"no bound":    {Stream: stream},
		"limit":       {Stream: stream, ModifiedBefore: at(1), Limit: store.MaxPruneLimit + 1},
		"negative":    {Stream: stream, ModifiedBefore: at(1), Limit: -1},
		"bad stream":  {Stream: store.Stream{Integration: "github"}, ModifiedBefore: at(1)},
		"empty model": {Stream: store.Stream{Integration: "github", Connection: "c"}, UntilCursor: recs[0].Cursor},
	} {
		_, err := s.RecordsPrune(t.Context(), &p)
		requireParamError(t, err, name)
	}
	_, err := s.RecordsPrune(t.Context(), nil)
	requireParamError(t, err)
	_, err = s.RecordsPrune(t.Context(), &store.RecordsPruneParams{Stream: stream, UntilCursor: "not-a-cursor"})
	requireCursorError(t, err)
	_, err = s.RecordsPrune(t.Context(), &store.RecordsPruneParams{Stream: stream, UntilCursor: foreign})
	requireCursorError(t, err, "a cursor of another stream")
	for _, r := range all(t, s, stream) {
		require.NotEmpty(t, r.Data, "bad input prunes nothing")
	}

	require.NoError(t, s.StreamDelete(t.Context(), stream))
	_, err = s.RecordsPrune(t.Context(), &store.RecordsPruneParams{Stream: stream, UntilCursor: recs[2].Cursor})
	require.ErrorIs(t, err, store.ErrCursorStale)
	// After a stream is emptied its new records are pruned from the start.
	save(t, s, stream, at(5), seq("n", 0, 2, "")...)
	require.Equal(t, store.RecordsPruneResult{Count: 2}, prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(6)}))
}

// runsPruneTests check RunsPrune.
func runsPruneTests() []test {
	return []test{
		{"KeepAndAge", testRunsPrune},
		{"Invalid", testRunsPruneInvalid},
	}
}

func testRunsPrune(t *testing.T, su *suite) {
	s := su.open(t)
	key := store.SyncKey{Integration: "github", Sync: "issues", Connection: "conn-1"}
	other := store.SyncKey{Integration: "github", Sync: "pulls", Connection: "conn-1"}
	// r00 succeeded; r01..r08 failed; r09 is running. Ended at n+1 seconds.
	for i := range 10 {
		r := newRun(fmt.Sprintf("r%02d", i), key, i)
		require.NoError(t, s.RunInsert(t.Context(), r))
		if i < 9 {
			r.State, r.EndedAt = store.RunFailed, at(i+1)
			if i == 0 {
				r.State = store.RunSucceeded
			}
			require.NoError(t, s.RunUpdate(t.Context(), r))
		}
	}
	require.NoError(t, s.RunInsert(t.Context(), newRun("o1", other, 0)))
	listAll := func(k store.SyncKey) []string {
		runs, err := s.RunList(t.Context(), &store.RunListParams{Key: k, Limit: 100})
		require.NoError(t, err)
		return runIDs(runs)
	}

	res, err := s.RunsPrune(t.Context(), &store.RunsPruneParams{Key: key, Keep: 3, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, store.RunsPruneResult{Count: 2, HasMore: true}, *res)
	res, err = s.RunsPrune(t.Context(), &store.RunsPruneParams{Key: key, Keep: 3})
	require.NoError(t, err)
	require.Equal(t, store.RunsPruneResult{Count: 3}, *res)
	require.Equal(t, []string{"r09", "r08", "r07", "r06", "r00"}, listAll(key),
		"the running run, the newest 3 finished and the last success stay")
	last, err := s.RunLastSuccess(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, "r00", last.ID)
	_, err = s.RunGet(t.Context(), "r03")
	require.ErrorIs(t, err, store.ErrNotFound)

	res, err = s.RunsPrune(t.Context(), &store.RunsPruneParams{Key: key, EndedBefore: at(9)})
	require.NoError(t, err)
	require.Equal(t, store.RunsPruneResult{Count: 2}, *res, "r06 and r07 ended before; r08 ended at 9")
	require.Equal(t, []string{"r09", "r08", "r00"}, listAll(key))
	require.Equal(t, []string{"o1"}, listAll(other), "other syncs are left alone")
}

func testRunsPruneInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	key := store.SyncKey{Integration: "github", Sync: "issues", Connection: "conn-1"}
	for name, p := range map[string]*store.RunsPruneParams{
		"nil":      nil,
		"no rule":  {Key: key},
		"negative": {Key: key, Keep: -1},
		"limit":    {Key: key, Keep: 1, Limit: store.MaxPruneLimit + 1},
		"key":      {Key: store.SyncKey{Integration: "github"}, Keep: 1},
	} {
		_, err := s.RunsPrune(t.Context(), p)
		requireParamError(t, err, name)
	}
	res, err := s.RunsPrune(t.Context(), &store.RunsPruneParams{Key: key, Keep: 1})
	require.NoError(t, err)
	require.Equal(t, store.RunsPruneResult{}, *res, "a key without runs")
}
