package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// recordsListTests check RecordsList's parameters and the isolation of streams.
func recordsListTests() []test {
	return []test{
		{"DefaultLimit", testDefaultLimit},
		{"LimitBounds", testLimitBounds},
		{"ModifiedAfterIsInclusive", testModifiedAfter},
		{"Filter", testFilter},
		{"IDs", testListIDs},
		{"TooManyIDs", testTooManyIDs},
		{"EmptyStream", testEmptyStream},
		{"StreamsAreIsolated", testStreamsAreIsolated},
	}
}

func testDefaultLimit(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 150, "")...)
	res := list(t, s, store.RecordsListParams{Stream: stream})
	require.Len(t, res.Records, store.DefaultListLimit)
	require.NotEmpty(t, res.NextCursor)
	res = list(t, s, store.RecordsListParams{Stream: stream, Cursor: res.NextCursor})
	require.Len(t, res.Records, 50)
	require.Empty(t, res.NextCursor)
}

func testLimitBounds(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 3, "")...)
	res := list(t, s, store.RecordsListParams{Stream: stream, Limit: store.MaxListLimit})
	require.Len(t, res.Records, 3)
	res = list(t, s, store.RecordsListParams{Stream: stream, Limit: 1})
	require.Len(t, res.Records, 1)
	for _, limit := range []int{store.MaxListLimit + 1, 1 << 30, -1, -100} {
		_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Limit: limit})
		requireParamError(t, err, "limit %d", limit)
	}
}

func testModifiedAfter(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(1), in("a", ""))
	save(t, s, stream, at(2), in("b", ""))
	save(t, s, stream, at(3), in("c", ""))
	save(t, s, stream, at(4), in("a", `"v":2`))
	cases := []struct {
		after time.Time
		want  []string
	}{
		{at(0), []string{"b", "c", "a"}},
		{at(1), []string{"b", "c", "a"}},
		{at(2), []string{"b", "c", "a"}},
		{at(2).Add(time.Microsecond), []string{"c", "a"}},
		{at(3), []string{"c", "a"}},
		{at(4), []string{"a"}},
		{at(5), []string{}},
	}
	for _, c := range cases {
		got := list(t, s, store.RecordsListParams{Stream: stream, ModifiedAfter: c.after})
		require.Equal(t, c.want, ids(got.Records), "modified after %s", c.after)
	}
	// In another time zone: the same instant.
	got := list(t, s, store.RecordsListParams{Stream: stream, ModifiedAfter: at(3).In(time.FixedZone("X", -7*3600))})
	require.Equal(t, []string{"c", "a"}, ids(got.Records))
	// With a cursor and a page size.
	first := list(t, s, store.RecordsListParams{Stream: stream, Limit: 1}).Records[0]
	require.Equal(t, "b", first.ID)
	got = list(t, s, store.RecordsListParams{Stream: stream, ModifiedAfter: at(3), Cursor: first.Cursor, Limit: 1})
	require.Equal(t, []string{"c"}, ids(got.Records))
	require.NotEmpty(t, got.NextCursor)
	got = list(t, s, store.RecordsListParams{Stream: stream, ModifiedAfter: at(3), Cursor: got.NextCursor, Limit: 1})
	require.Equal(t, []string{"a"}, ids(got.Records))
	require.Empty(t, got.NextCursor)
}

// filterFixture writes records whose last actions are: added a1 a2, updated u1 u2, deleted d1 d2
// (d2 after an update). Their feed order is a1 u1 a2 d1 u2 d2.
func filterFixture(t *testing.T, s store.Store) {
	t.Helper()
	save(t, s, stream, at(0), in("d1", ""), in("u1", ""))
	save(t, s, stream, at(1), in("a1", ""))
	save(t, s, stream, at(2), in("u1", `"v":2`), in("d2", ""), in("u2", ""))
	save(t, s, stream, at(3), in("d2", `"v":2`), in("a2", ""))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(4),
		Records: []store.RecordInput{del("d1")}})
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(5),
		Records: []store.RecordInput{in("u2", `"v":2`)}})
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(6),
		Records: []store.RecordInput{del("d2")}})
}

func testFilter(t *testing.T, su *suite) {
	s := su.open(t)
	filterFixture(t, s)
	cases := []struct {
		f    store.Filter
		want []string
	}{
		{0, []string{"a1", "a2", "d1", "d2", "u1", "u2"}},
		{store.FilterAdded, []string{"a1", "a2"}},
		{store.FilterUpdated, []string{"u1", "u2"}},
		{store.FilterDeleted, []string{"d1", "d2"}},
		{store.FilterAdded | store.FilterUpdated, []string{"a1", "a2", "u1", "u2"}},
		{store.FilterAdded | store.FilterDeleted, []string{"a1", "a2", "d1", "d2"}},
		{store.FilterUpdated | store.FilterDeleted, []string{"d1", "d2", "u1", "u2"}},
		{store.FilterAdded | store.FilterUpdated | store.FilterDeleted, []string{"a1", "a2", "d1", "d2", "u1", "u2"}},
	}
	full := all(t, s, stream)
	require.Equal(t, []string{"a1", "u1", "a2", "d1", "u2", "d2"}, ids(full))
	for _, c := range cases {
		// In one page and in pages of one record: the same records in the same feed order.
		one := list(t, s, store.RecordsListParams{Stream: stream, Filter: c.f})
		require.Equal(t, c.want, sorted(ids(one.Records)), "filter %#x", uint8(c.f))
		require.Empty(t, one.NextCursor)
		paged := scan(t, s, store.RecordsListParams{Stream: stream, Filter: c.f, Limit: 1})
		require.Equal(t, ids(one.Records), ids(paged), "filter %#x, paged", uint8(c.f))
		want := []string{}
		for _, r := range full {
			if c.f.Match(r.LastAction) {
				want = append(want, r.ID)
			}
		}
		require.Equal(t, want, ids(one.Records), "filter %#x keeps feed order", uint8(c.f))
		for _, r := range one.Records {
			require.True(t, c.f.Match(r.LastAction))
		}
	}
	_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Filter: store.FilterDeleted << 1})
	requireParamError(t, err, "unknown filter bits")
}

func testListIDs(t *testing.T, su *suite) {
	s := su.open(t)
	filterFixture(t, s)
	full := all(t, s, stream)
	pos := map[string]int{}
	for i, r := range full {
		pos[r.ID] = i
	}

	got := list(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"u2", "unknown", "a1", "u2", "d1"}})
	require.Equal(t, []string{"a1", "d1", "u2"}, ids(got.Records), "the ids in feed order, once each, unknown ids dropped")
	require.Empty(t, got.NextCursor)
	for _, r := range got.Records {
		requireSameRecord(t, full[pos[r.ID]], r)
	}

	got = list(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"unknown"}})
	require.Empty(t, got.Records)
	require.Empty(t, got.NextCursor)

	// With a cursor: only the ids' changes after it.
	got = list(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"a1", "u2", "d2", "d1"}, Cursor: full[pos["a1"]].Cursor})
	require.Equal(t, []string{"d1", "u2", "d2"}, ids(got.Records))

	// With a filter, and with both.
	got = list(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"a1", "u1", "d1", "d2"}, Filter: store.FilterDeleted})
	require.Equal(t, []string{"d1", "d2"}, ids(got.Records))
	got = list(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"a1", "u1", "d1", "d2", "a2"},
		Filter: store.FilterAdded | store.FilterDeleted, Cursor: full[pos["a1"]].Cursor})
	require.Equal(t, []string{"a2", "d1", "d2"}, ids(got.Records))

	// In pages.
	paged := scan(t, s, store.RecordsListParams{Stream: stream, IDs: []string{"u2", "a1", "a2", "d2", "u1"}, Limit: 2})
	require.Equal(t, []string{"a1", "u1", "a2", "u2", "d2"}, ids(paged))

	// Ids of another stream are not found.
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "other"}
	require.Empty(t, list(t, s, store.RecordsListParams{Stream: other, IDs: []string{"a1"}}).Records)
}

func testTooManyIDs(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, store.MaxListIDs+1, "")...)
	var many []string
	for i := range store.MaxListIDs + 1 {
		many = append(many, fmt.Sprintf("r-%05d", i))
	}
	got := list(t, s, store.RecordsListParams{Stream: stream, IDs: many[:store.MaxListIDs], Limit: store.MaxListLimit})
	require.Len(t, got.Records, store.MaxListIDs)
	_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, IDs: many})
	requireParamError(t, err, "%d ids", len(many))
}

func testEmptyStream(t *testing.T, su *suite) {
	s := su.open(t)
	for _, p := range []store.RecordsListParams{
		{Stream: stream},
		{Stream: stream, Limit: 1},
		{Stream: stream, Filter: store.FilterDeleted},
		{Stream: stream, IDs: []string{"a"}},
		{Stream: stream, ModifiedAfter: at(0)},
	} {
		res := list(t, s, p)
		require.NotNil(t, res.Records)
		require.Empty(t, res.Records)
		require.Empty(t, res.NextCursor)
	}
	stats, err := s.StreamStats(t.Context(), stream)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{}, *stats)
}

func testStreamsAreIsolated(t *testing.T, su *suite) {
	s := su.open(t)
	streams := []store.Stream{
		stream,
		{Integration: "gitlab", Connection: stream.Connection, Model: stream.Model},
		{Integration: stream.Integration, Connection: "conn-2", Model: stream.Model},
		{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"},
	}
	for i, st := range streams {
		res := save(t, s, st, at(0), in("a", fmt.Sprintf(`"s":%d`, i)), in("b", fmt.Sprintf(`"s":%d`, i)))
		require.Equal(t, counts{Added: 2}, countsOf(res), "stream %s sees another stream's records", st)
	}
	// Changes to the first stream leave the others alone.
	save(t, s, stream, at(1), in("a", `"s":0,"v":2`), in("c", ""))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2),
		Records: []store.RecordInput{del("b")}})
	_, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: streams[1], Sync: "sync", Now: at(3), Guard: noGuard})
	require.NoError(t, err)
	require.NoError(t, s.StreamDelete(t.Context(), streams[2]))

	want := map[int][]string{0: {"a", "b", "c"}, 1: {"a", "b"}, 2: {}, 3: {"a", "b"}}
	wantStats := map[int]store.StreamStats{0: {Live: 2, Deleted: 1}, 1: {Deleted: 2}, 2: {}, 3: {Live: 2}}
	for i, st := range streams {
		recs := all(t, s, st)
		require.Equal(t, want[i], sorted(ids(recs)), "records of %s", st)
		for _, r := range recs {
			if i == 0 {
				continue
			}
			require.JSONEq(t, fmt.Sprintf(`{"id":%q,"s":%d}`, r.ID, i), string(r.Data), "record of %s", st)
		}
		stats, err := s.StreamStats(t.Context(), st)
		require.NoError(t, err)
		require.Equal(t, wantStats[i], *stats, "stats of %s", st)
	}
	require.Equal(t, store.ActionAdded, get(t, s, streams[3], "b").LastAction)
}
