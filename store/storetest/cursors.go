package storetest

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// cursorTests check the change feed's cursors: their order, paging, and the rejection of cursors
// the store did not issue for the stream.
func cursorTests() []test {
	return []test{
		{"GrowInCommitOrder", testCursorsGrowInCommitOrder},
		{"ListFromCursorReturnsLaterChanges", testListFromCursor},
		{"PagingVisitsEveryRecordOnce", testPaging},
		{"FullLastPageHasNoNextCursor", testFullLastPage},
		{"UpdatedRecordReappears", testUpdatedRecordReappears},
		{"Malformed", testMalformedCursors},
		{"Altered", testAlteredCursors},
		{"FromAnotherStream", testForeignCursors},
		{"URLSafe", testCursorsURLSafe},
	}
}

func testCursorsGrowInCommitOrder(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":1`))
	save(t, s, stream, at(0), in("c", `"v":1`))
	save(t, s, stream, at(0), in("a", `"v":2`), in("d", `"v":1`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(0),
		Records: []store.RecordInput{del("c")}})

	recs := all(t, s, stream)
	got := ids(recs)
	require.Len(t, got, 4, "each record is listed once, at its latest change")
	require.Equal(t, "b", got[0])
	require.ElementsMatch(t, []string{"a", "d"}, got[1:3], "changes of one batch follow the earlier batches")
	require.Equal(t, "c", got[3])
	seen := map[string]bool{}
	for i, r := range recs {
		require.False(t, seen[r.Cursor], "cursor %q given twice", r.Cursor)
		seen[r.Cursor] = true
		rest := after(t, s, stream, r.Cursor)
		require.Equal(t, ids(recs[i+1:]), ids(rest), "listing after the cursor of %s", r.ID)
		for j := range rest {
			require.Equal(t, recs[i+1+j].Cursor, rest[j].Cursor)
		}
	}
	// An empty cursor starts at the beginning.
	require.Equal(t, got, ids(list(t, s, store.RecordsListParams{Stream: stream, Cursor: ""}).Records))
}

func testListFromCursor(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 10, "")...)
	read := all(t, s, stream)
	cursor := read[len(read)-1].Cursor
	require.Empty(t, after(t, s, stream, cursor), "nothing after the last change")

	save(t, s, stream, at(1), in("r-00003", `"n":3,"x":1`), in("new", ""))
	save(t, s, stream, at(1), seq("r", 0, 10, "")...) // unchanged but r-00003, set back
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2),
		Records: []store.RecordInput{del("r-00007")}})
	got := after(t, s, stream, cursor)
	require.Equal(t, []string{"new", "r-00003", "r-00007"}, sorted(ids(got)))
	require.Equal(t, "r-00007", got[2].ID, "the delete came last")
	require.Equal(t, store.ActionDeleted, got[2].LastAction)
	require.JSONEq(t, `{"id":"r-00003","n":3}`, string(got[slices.IndexFunc(got, func(r store.Record) bool {
		return r.ID == "r-00003"
	})].Data), "a record is listed at its latest change")
}

func testPaging(t *testing.T, su *suite) {
	s := su.open(t)
	for b := 0; b < 5; b++ {
		save(t, s, stream, at(b), seq("r", b*5, 5, "")...)
	}
	save(t, s, stream, at(6), in("r-00002", `"n":2,"v":2`), in("r-00013", `"n":13,"v":2`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(7),
		Records: []store.RecordInput{del("r-00020")}})
	want := all(t, s, stream)
	require.Len(t, want, 25)

	for _, limit := range []int{1, 2, 3, 7, 24, 25, 26, 100} {
		p := store.RecordsListParams{Stream: stream, Limit: limit}
		var got []store.Record
		for pages := 0; ; pages++ {
			require.LessOrEqual(t, pages, 25/limit+1, "too many pages with limit %d", limit)
			res := list(t, s, p)
			got = append(got, res.Records...)
			if res.NextCursor == "" {
				break
			}
			p.Cursor = res.NextCursor
		}
		require.Equal(t, ids(want), ids(got), "paging with limit %d", limit)
	}
}

func testFullLastPage(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 10, "")...)
	res := list(t, s, store.RecordsListParams{Stream: stream, Limit: 10})
	require.Len(t, res.Records, 10)
	require.Empty(t, res.NextCursor, "a page with exactly Limit records and nothing after is the last page")

	res = list(t, s, store.RecordsListParams{Stream: stream, Limit: 5})
	require.Len(t, res.Records, 5)
	require.NotEmpty(t, res.NextCursor)
	res = list(t, s, store.RecordsListParams{Stream: stream, Limit: 5, Cursor: res.NextCursor})
	require.Len(t, res.Records, 5)
	require.Empty(t, res.NextCursor)

	// Records that the filter drops after a full page do not make it the last but one.
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("r-00000"), del("r-00001"), del("r-00002")}})
	res = list(t, s, store.RecordsListParams{Stream: stream, Limit: 7, Filter: store.FilterAdded})
	require.Len(t, res.Records, 7)
	require.Empty(t, res.NextCursor, "a filtered page with exactly Limit records and no more matches is the last page")

	res = list(t, s, store.RecordsListParams{Stream: stream, Limit: 3,
		IDs: []string{"r-00009", "r-00005", "r-00004"}})
	require.Len(t, res.Records, 3)
	require.Empty(t, res.NextCursor)
}

func testUpdatedRecordReappears(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", ""))
	save(t, s, stream, at(0), in("b", ""))
	save(t, s, stream, at(0), in("c", ""))
	save(t, s, stream, at(0), in("d", ""))
	page := list(t, s, store.RecordsListParams{Stream: stream, Limit: 2})
	require.Equal(t, []string{"a", "b"}, ids(page.Records))

	save(t, s, stream, at(1), in("a", `"v":2`))
	rest := scan(t, s, store.RecordsListParams{Stream: stream, Limit: 2, Cursor: page.NextCursor})
	require.Equal(t, []string{"c", "d", "a"}, ids(rest), "a change after the reader's cursor is listed later")
	require.JSONEq(t, `{"id":"a","v":2}`, string(rest[2].Data))
}

// cursorOf returns a valid cursor of st, writing to it.
func cursorOf(t *testing.T, s store.Store, st store.Stream) string {
	t.Helper()
	save(t, s, st, at(0), in("a", ""), in("b", ""))
	recs := all(t, s, st)
	require.Len(t, recs, 2)
	return recs[0].Cursor
}

func testMalformedCursors(t *testing.T, su *suite) {
	s := su.open(t)
	valid := cursorOf(t, s, stream)
	for _, c := range []string{
		"!!", "abc", "AAAA", "%%%", "a b", "\x00", "====", "-", valid + "A", valid[:len(valid)-1],
		strings.Repeat("A", 4096), valid + valid,
	} {
		_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: c})
		requireCursorError(t, err, "cursor %q", c)
	}
}

// base64URL is the base64url alphabet; altering a character to its partner 32 places away
// changes the top bit of the six it stands for, which is never padding.
const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// alter returns c with its i-th character changed.
func alter(c string, i int) string {
	b := []byte(c)
	switch k := strings.IndexByte(base64URL, b[i]); {
	case k >= 0:
		b[i] = base64URL[k^32]
	case b[i] != 'A':
		b[i] = 'A'
	default:
		b[i] = 'B'
	}
	return string(b)
}

func testAlteredCursors(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), seq("r", 0, 300, "")...)
	recs := all(t, s, stream)
	for _, valid := range []string{recs[0].Cursor, recs[150].Cursor, recs[299].Cursor} {
		for i := range len(valid) {
			c := alter(valid, i)
			_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: c})
			requireCursorError(t, err, "cursor %q altered at %d to %q", valid, i, c)
		}
	}
}

func testForeignCursors(t *testing.T, su *suite) {
	s := su.open(t)
	c := cursorOf(t, s, stream)
	for _, other := range []store.Stream{
		{Integration: "gitlab", Connection: stream.Connection, Model: stream.Model},
		{Integration: stream.Integration, Connection: "conn-2", Model: stream.Model},
		{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"},
	} {
		// Whether the other stream exists or not.
		_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: other, Cursor: c})
		requireCursorError(t, err, "cursor of %s used on %s", stream, other)
		oc := cursorOf(t, s, other)
		_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: other, Cursor: c})
		requireCursorError(t, err, "cursor of %s used on %s", stream, other)
		_, err = s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: oc})
		requireCursorError(t, err, "cursor of %s used on %s", other, stream)
	}
}

func testCursorsURLSafe(t *testing.T, su *suite) {
	s := su.open(t)
	for b := 0; b < 4; b++ {
		save(t, s, stream, at(b), seq("r", b*100, 100, "")...)
	}
	save(t, s, stream, at(5), seq("r", 0, 400, `"v":2`)...)
	cursors := 0
	check := func(c string) {
		t.Helper()
		require.NotEmpty(t, c)
		require.Equal(t, url.QueryEscape(c), c, "cursor %q is not URL-safe", c)
		require.Equal(t, url.PathEscape(c), c, "cursor %q is not URL-safe", c)
		cursors++
	}
	p := store.RecordsListParams{Stream: stream, Limit: 33}
	for {
		res := list(t, s, p)
		for _, r := range res.Records {
			check(r.Cursor)
		}
		if res.NextCursor == "" {
			break
		}
		check(res.NextCursor)
		p.Cursor = res.NextCursor
	}
	require.Greater(t, cursors, 400)
}
