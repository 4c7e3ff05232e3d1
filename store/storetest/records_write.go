package storetest

import (
	"errors"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// recordsWriteTests check the transitions of RecordsWrite: what each mode does to unknown, live
// and deleted records.
func recordsWriteTests() []test {
	return []test{
		{"SaveNewIsAdded", testSaveNewIsAdded},
		{"SaveSamePayloadIsUnchanged", testSaveSamePayloadIsUnchanged},
		{"SaveOtherPayloadIsUpdated", testSaveOtherPayloadIsUpdated},
		{"KeyOrderAndWhitespaceChangeNothing", testKeyOrderAndWhitespace},
		{"PayloadIsCanonical", testPayloadIsCanonical},
		{"MixedBatchCounts", testMixedBatchCounts},
		{"DeleteLiveIsDeleted", testDeleteLiveIsDeleted},
		{"DeleteUnknownOrDeletedIsIgnored", testDeleteUnknownOrDeletedIsIgnored},
		{"SaveDeletedIsAddedAgain", testSaveDeletedIsAddedAgain},
		{"MergeLiveDeepMerges", testMergeLive},
		{"MergeUnknownOrDeletedIsIgnored", testMergeUnknownOrDeletedIsIgnored},
		{"MergeWithoutChangeIsUnchanged", testMergeWithoutChange},
		{"NumericID", testNumericID},
		{"DuplicatesLastWins", testDuplicatesLastWins},
		{"EmptyBatchIsNoOp", testEmptyBatch},
		{"BuffersAreNotShared", testBuffersAreNotShared},
		{"EncodeFillsPayloads", testEncodeFillsPayloads},
	}
}

// testEncodeFillsPayloads: a write whose payloads its Encode fills in is the write of those
// payloads, whatever its IDHints say; Encode runs once; its error fails the write, which writes
// nothing.
func testEncodeFillsPayloads(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`))
	calls := 0
	recs := make([]store.RecordInput, 3)
	p := store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Records: recs, Now: at(1),
		IDHints: []string{"a", "b", "wrong"},
		Encode: func() error {
			calls++
			recs[0], recs[1], recs[2] = in("a", `"v":2`), in("b", `"v":1`), in("c", `"v":1`)
			return nil
		}}
	res := write(t, s, p)
	require.Equal(t, 1, calls)
	require.Equal(t, counts{Added: 2, Updated: 1}, countsOf(res))
	got := all(t, s, stream)
	require.ElementsMatch(t, []string{"a", "b", "c"}, ids(got))

	refused := errors.New("cannot encode")
	p = store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Records: make([]store.RecordInput, 1), Now: at(2),
		IDHints: []string{"d"}, Encode: func() error { return refused }}
	_, err := s.RecordsWrite(t.Context(), &p)
	require.ErrorIs(t, err, refused)
	require.Equal(t, ids(got), ids(all(t, s, stream)), "nothing written")
}

func testSaveNewIsAdded(t *testing.T, su *suite) {
	s := su.open(t)
	res := save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":2`))
	require.Equal(t, counts{Added: 2}, countsOf(res))
	require.Nil(t, res.Checkpoint)
	recs := all(t, s, stream)
	require.ElementsMatch(t, []string{"a", "b"}, ids(recs))
	for _, r := range recs {
		require.Equal(t, store.ActionAdded, r.LastAction)
		requireTime(t, at(0), r.FirstSeenAt, "first seen at")
		requireTime(t, at(0), r.LastModifiedAt, "last modified at")
		require.True(t, r.DeletedAt.IsZero(), "DeletedAt of a live record")
		require.True(t, r.PrunedAt.IsZero(), "PrunedAt of a live record")
		require.NotEmpty(t, r.Cursor)
	}
	require.JSONEq(t, `{"id":"a","v":1}`, string(get(t, s, stream, "a").Data))
}

func testSaveSamePayloadIsUnchanged(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":1`))
	before := get(t, s, stream, "a")
	last := all(t, s, stream)[1].Cursor

	res := save(t, s, stream, at(5), in("a", `"v":1`))
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	requireSameRecord(t, before, get(t, s, stream, "a"))
	require.Empty(t, ids(after(t, s, stream, last)), "an unchanged record must not be listed again")
}

func testSaveOtherPayloadIsUpdated(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":1`))
	before := get(t, s, stream, "a")
	last := all(t, s, stream)[1].Cursor

	res := save(t, s, stream, at(5), in("a", `"v":2`))
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	got := get(t, s, stream, "a")
	require.Equal(t, store.ActionUpdated, got.LastAction)
	require.JSONEq(t, `{"id":"a","v":2}`, string(got.Data))
	requireTime(t, before.FirstSeenAt, got.FirstSeenAt, "first seen at")
	requireTime(t, at(5), got.LastModifiedAt, "last modified at")
	require.True(t, got.DeletedAt.IsZero())
	require.NotEqual(t, before.Cursor, got.Cursor)
	// The new cursor is after every earlier one: the record is listed after b's cursor.
	rest := after(t, s, stream, last)
	require.Equal(t, []string{"a"}, ids(rest))
	require.Equal(t, got.Cursor, rest[0].Cursor)
}

func testKeyOrderAndWhitespace(t *testing.T, su *suite) {
	s := su.open(t)
	first := []store.RecordInput{
		{ID: "1", Data: []byte(`{"id":"1","a":1,"b":2}`)},
		{ID: "2", Data: []byte(`{"id":"2","o":{"x":1,"y":[1,{"q":1,"p":2}]}}`)},
	}
	save(t, s, stream, at(0), first...)
	before := all(t, s, stream)
	for _, batch := range [][]store.RecordInput{
		{
			{ID: "1", Data: []byte(`{"b":2,"id":"1","a":1}`)},
			{ID: "2", Data: []byte(`{"o":{"y":[1,{"p":2,"q":1}],"x":1},"id":"2"}`)},
		},
		{
			{ID: "1", Data: []byte(" {\n\t\"a\" : 1 ,\r\n \"b\":2, \"id\" :\"1\"}\n")},
			{ID: "2", Data: []byte(`{ "id": "2", "o": { "x": 1, "y": [ 1, { "q": 1, "p": 2 } ] } }`)},
		},
	} {
		res := save(t, s, stream, at(1), batch...)
		require.Equal(t, counts{Unchanged: 2}, countsOf(res), "key order or whitespace made a change")
	}
	got := all(t, s, stream)
	require.Len(t, got, len(before))
	for i := range got {
		requireSameRecord(t, before[i], got[i])
	}
}

func testPayloadIsCanonical(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), store.RecordInput{
		ID:   "1",
		Data: []byte(" { \"id\" : \"1\", \"b\" : { \"d\" : 1, \"c\" : [3, 2] }, \"a\" : \"x y\" } "),
	})
	require.Equal(t, `{"a":"x y","b":{"c":[3,2],"d":1},"id":"1"}`, string(get(t, s, stream, "1").Data))
}

func testMixedBatchCounts(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("same", `"v":1`), in("changed", `"v":1`))
	res := save(t, s, stream, at(1), in("same", `"v":1`), in("changed", `"v":2`), in("new", `"v":1`))
	require.Equal(t, counts{Added: 1, Updated: 1, Unchanged: 1}, countsOf(res))
	require.Equal(t, store.ActionAdded, get(t, s, stream, "new").LastAction)
	require.Equal(t, store.ActionUpdated, get(t, s, stream, "changed").LastAction)
	require.Equal(t, store.ActionAdded, get(t, s, stream, "same").LastAction)
}

func testDeleteLiveIsDeleted(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("b", `"v":1`))
	before := get(t, s, stream, "a")
	last := all(t, s, stream)[1].Cursor

	// A payload passed with a delete is not stored: the record keeps the one it had.
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(3),
		Records: []store.RecordInput{del("a"), in("b", `"v":"other"`)}})
	require.Equal(t, counts{Deleted: 2}, countsOf(res))
	for _, id := range []string{"a", "b"} {
		got := get(t, s, stream, id)
		require.Equal(t, store.ActionDeleted, got.LastAction)
		require.JSONEq(t, `{"id":"`+id+`","v":1}`, string(got.Data), "a deleted record keeps its payload")
		requireTime(t, before.FirstSeenAt, got.FirstSeenAt, "first seen at")
		requireTime(t, at(3), got.DeletedAt, "deleted at")
		requireTime(t, at(3), got.LastModifiedAt, "last modified at")
		require.True(t, got.PrunedAt.IsZero())
	}
	require.ElementsMatch(t, []string{"a", "b"}, ids(after(t, s, stream, last)),
		"deletes must be listed after the earlier changes")
}

func testDeleteUnknownOrDeletedIsIgnored(t *testing.T, su *suite) {
	s := su.open(t)
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(0),
		Records: []store.RecordInput{del("unknown")}})
	require.Equal(t, counts{Ignored: 1}, countsOf(res))
	requireEmpty(t, s, stream)

	save(t, s, stream, at(0), in("a", `"v":1`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("a")}})
	before := get(t, s, stream, "a")
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(2),
		Records: []store.RecordInput{del("a"), del("unknown")}})
	require.Equal(t, counts{Ignored: 2}, countsOf(res))
	requireSameRecord(t, before, get(t, s, stream, "a"))
	requireAbsent(t, s, stream, "unknown")
	require.Empty(t, ids(after(t, s, stream, before.Cursor)))
}

func testSaveDeletedIsAddedAgain(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("a")}})
	deleted := get(t, s, stream, "a")

	// The same payload as before the delete: still a change.
	res := save(t, s, stream, at(2), in("a", `"v":1`))
	require.Equal(t, counts{Added: 1}, countsOf(res))
	got := get(t, s, stream, "a")
	require.Equal(t, store.ActionAdded, got.LastAction)
	requireTime(t, at(2), got.FirstSeenAt, "first seen at is reset")
	requireTime(t, at(2), got.LastModifiedAt, "last modified at")
	require.True(t, got.DeletedAt.IsZero(), "DeletedAt of a record added again")
	require.True(t, got.PrunedAt.IsZero())
	require.Equal(t, []string{"a"}, ids(after(t, s, stream, deleted.Cursor)))
}

func testMergeLive(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0),
		in("a", `"o":{"x":1,"y":2,"deep":{"k":1}},"arr":[1,2,3],"n":5,"keep":"k","gone":{"z":1}`))
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(1),
		Records: []store.RecordInput{
			in("a", `"o":{"y":3,"z":4,"deep":{"m":2}},"arr":[9],"n":null,"new":true,"gone":"scalar"`),
		}})
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	got := get(t, s, stream, "a")
	require.JSONEq(t, `{"id":"a","o":{"x":1,"y":3,"z":4,"deep":{"k":1,"m":2}},"arr":[9],"n":null,`+
		`"keep":"k","new":true,"gone":"scalar"}`, string(got.Data),
		"objects are merged member by member; arrays, null and scalars replace")
	require.Equal(t, store.ActionUpdated, got.LastAction)
	requireTime(t, at(0), got.FirstSeenAt, "first seen at")
	requireTime(t, at(1), got.LastModifiedAt, "last modified at")
}

func testMergeUnknownOrDeletedIsIgnored(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("gone", `"v":1`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(1),
		Records: []store.RecordInput{del("gone")}})
	before := get(t, s, stream, "gone")

	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(2),
		Records: []store.RecordInput{in("unknown", `"v":2`), in("gone", `"v":2`)}})
	require.Equal(t, counts{Ignored: 2}, countsOf(res))
	requireAbsent(t, s, stream, "unknown")
	requireSameRecord(t, before, get(t, s, stream, "gone"))
}

func testMergeWithoutChange(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1,"o":{"x":1,"y":2}`))
	before := get(t, s, stream, "a")
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(1),
		Records: []store.RecordInput{in("a", `"o":{"y":2},"v":1`)}})
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	requireSameRecord(t, before, get(t, s, stream, "a"))
	require.Empty(t, ids(after(t, s, stream, before.Cursor)))
}

func testNumericID(t *testing.T, su *suite) {
	s := su.open(t)
	res := save(t, s, stream, at(0), store.RecordInput{ID: "42", Data: []byte(`{"id":42,"v":1}`)})
	require.Equal(t, counts{Added: 1}, countsOf(res))
	got := get(t, s, stream, "42")
	require.JSONEq(t, `{"id":42,"v":1}`, string(got.Data))

	res = save(t, s, stream, at(1), store.RecordInput{ID: "42", Data: []byte(`{"v":1,"id":42}`)})
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))

	for _, r := range []store.RecordInput{
		{ID: "42", Data: []byte(`{"id":43}`)},
		{ID: "a", Data: []byte(`{"id":"b"}`)},
		{ID: "42", Data: []byte(`{"id":"042"}`)},
	} {
		_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Now: at(2),
			Records: []store.RecordInput{r}})
		var re *store.RecordError
		require.ErrorAs(t, err, &re, "RecordInput.ID %q with payload %s", r.ID, r.Data)
		require.ErrorIs(t, err, store.ErrInvalidRecord)
	}
	require.Equal(t, []string{"42"}, ids(all(t, s, stream)))
}

func testDuplicatesLastWins(t *testing.T, su *suite) {
	s := su.open(t)
	res := save(t, s, stream, at(0),
		in("a", `"v":1`), in("b", `"v":1`), in("a", `"v":2`), in("c", `"v":1`), in("a", `"v":3`), in("c", `"v":2`))
	require.Equal(t, counts{Added: 3, Duplicates: 3}, countsOf(res))
	require.ElementsMatch(t, []string{"a", "c"}, res.DuplicateIDs)
	require.JSONEq(t, `{"id":"a","v":3}`, string(get(t, s, stream, "a").Data))
	require.JSONEq(t, `{"id":"c","v":2}`, string(get(t, s, stream, "c").Data))
	require.Len(t, all(t, s, stream), 3, "each id is listed once")

	// Against live records: the last one decides, even when it equals what is stored.
	res = save(t, s, stream, at(1), in("a", `"v":4`), in("a", `"v":3`))
	require.Equal(t, counts{Unchanged: 1, Duplicates: 1}, countsOf(res))
	require.Equal(t, []string{"a"}, res.DuplicateIDs)
	require.Equal(t, store.ActionAdded, get(t, s, stream, "a").LastAction)
}

func testEmptyBatch(t *testing.T, su *suite) {
	s := su.open(t)
	for _, recs := range [][]store.RecordInput{nil, {}} {
		for _, mode := range []store.WriteMode{store.WriteSave, store.WriteMerge, store.WriteDelete} {
			res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: mode, Records: recs, Now: at(0)})
			require.Equal(t, counts{}, countsOf(res))
			require.Empty(t, res.DuplicateIDs)
		}
	}
	requireEmpty(t, s, stream)
}

func testBuffersAreNotShared(t *testing.T, su *suite) {
	s := su.open(t)
	r := in("a", `"v":"xxxx"`)
	save(t, s, stream, at(0), r)
	for i := range r.Data {
		r.Data[i] = ' '
	}
	got := get(t, s, stream, "a")
	require.JSONEq(t, `{"id":"a","v":"xxxx"}`, string(got.Data), "the store must not keep the caller's buffer")
	for i := range got.Data {
		got.Data[i] = ' '
	}
	require.JSONEq(t, `{"id":"a","v":"xxxx"}`, string(get(t, s, stream, "a").Data),
		"the store must not hand out its own buffer")
}
