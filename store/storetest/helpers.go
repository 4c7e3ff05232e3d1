package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// stream is the stream most tests write to; every test has a store of its own.
var stream = store.Stream{Integration: "github", Connection: "conn-1", Model: "issues"}

// t0 is the base of the controlled clock the tests pass as Now. It has whole microseconds, so
// the store keeps it exactly.
var t0 = time.Date(2024, 3, 4, 5, 6, 7, 123456000, time.UTC)

// at returns t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// in returns a record with this id whose payload is {"id":id, fields}; fields are JSON members
// without braces, or empty.
func in(id string, fields string) store.RecordInput {
	q, err := json.Marshal(id)
	if err != nil {
		panic(err)
	}
	data := `{"id":` + string(q)
	if fields != "" {
		data += "," + fields
	}
	return store.RecordInput{ID: id, Data: []byte(data + "}")}
}

// del returns a record to pass to WriteDelete, without payload.
func del(id string) store.RecordInput { return store.RecordInput{ID: id} }

// seq returns n records with ids prefix-0000 onwards and payload {"n":i, fields}.
func seq(prefix string, from, n int, fields string) []store.RecordInput {
	out := make([]store.RecordInput, 0, n)
	for i := from; i < from+n; i++ {
		f := fmt.Sprintf(`"n":%d`, i)
		if fields != "" {
			f += "," + fields
		}
		out = append(out, in(fmt.Sprintf("%s-%05d", prefix, i), f))
	}
	return out
}

// write calls RecordsWrite and requires it to succeed.
func write(t *testing.T, s store.Store, p store.RecordsWriteParams) *store.RecordsWriteResult {
	t.Helper()
	res, err := s.RecordsWrite(t.Context(), &p)
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

// save writes records in WriteSave mode to st at now.
func save(t *testing.T, s store.Store, st store.Stream, now time.Time, recs ...store.RecordInput) *store.RecordsWriteResult {
	t.Helper()
	return write(t, s, store.RecordsWriteParams{Stream: st, Mode: store.WriteSave, Records: recs, Now: now})
}

// counts is the part of a RecordsWriteResult most tests check.
type counts struct{ Added, Updated, Deleted, Unchanged, Ignored, Duplicates int }

// countsOf returns the counts of a result.
func countsOf(r *store.RecordsWriteResult) counts {
	return counts{r.Added, r.Updated, r.Deleted, r.Unchanged, r.Ignored, r.Duplicates}
}

// list calls RecordsList and requires it to succeed and to return a well-formed page.
func list(t *testing.T, s store.Store, p store.RecordsListParams) *store.RecordsListResult {
	t.Helper()
	res, err := s.RecordsList(t.Context(), &p)
	require.NoError(t, err)
	require.NotNil(t, res)
	require.NotNil(t, res.Records, "Records must be non-nil, even when empty")
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	require.LessOrEqual(t, len(res.Records), limit, "page longer than its limit")
	return res
}

// scan lists every page from p.Cursor on, following NextCursor, and returns all the records.
func scan(t *testing.T, s store.Store, p store.RecordsListParams) []store.Record {
	t.Helper()
	all := []store.Record{}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1_000_000, "listing does not end")
		res := list(t, s, p)
		all = append(all, res.Records...)
		if res.NextCursor == "" {
			return all
		}
		p.Cursor = res.NextCursor
	}
}

// all returns every record of a stream in cursor order.
func all(t *testing.T, s store.Store, st store.Stream) []store.Record {
	t.Helper()
	return scan(t, s, store.RecordsListParams{Stream: st, Limit: store.MaxListLimit})
}

// after returns the records of a stream after cursor, in cursor order.
func after(t *testing.T, s store.Store, st store.Stream, cursor string) []store.Record {
	t.Helper()
	return scan(t, s, store.RecordsListParams{Stream: st, Cursor: cursor, Limit: store.MaxListLimit})
}

// get returns the record with this id, which must exist.
func get(t *testing.T, s store.Store, st store.Stream, id string) store.Record {
	t.Helper()
	res := list(t, s, store.RecordsListParams{Stream: st, IDs: []string{id}})
	require.Len(t, res.Records, 1, "record %q", id)
	require.Equal(t, id, res.Records[0].ID)
	return res.Records[0]
}

// requireAbsent requires the stream to hold no record with this id.
func requireAbsent(t *testing.T, s store.Store, st store.Stream, id string) {
	t.Helper()
	res := list(t, s, store.RecordsListParams{Stream: st, IDs: []string{id}})
	require.Empty(t, res.Records, "record %q should not exist", id)
}

// requireEmpty requires the stream to hold no record at all.
func requireEmpty(t *testing.T, s store.Store, st store.Stream) {
	t.Helper()
	require.Empty(t, ids(all(t, s, st)), "stream %s should be empty", st)
	stats, err := s.StreamStats(t.Context(), st)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{}, *stats)
}

// ids returns the ids of records, in order.
func ids(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// inputIDs returns the ids of inputs, in order.
func inputIDs(recs []store.RecordInput) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// sorted returns a sorted copy of ss, never nil.
func sorted(ss []string) []string {
	out := append([]string{}, ss...)
	slices.Sort(out)
	return out
}

// requireTime requires got to be the same instant as want and, unless zero, in UTC; what names
// the time in messages.
func requireTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	require.Truef(t, want.Equal(got), "%s: want %s, got %s", what, want, got)
	if !got.IsZero() {
		require.Equalf(t, time.UTC, got.Location(), "%s must be in UTC", what)
	}
}

// requireSameRecord requires two reads of a record to be equal, times compared as instants.
func requireSameRecord(t *testing.T, want, got store.Record) {
	t.Helper()
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, string(want.Data), string(got.Data), "record %q", want.ID)
	require.Equal(t, want.LastAction, got.LastAction, "record %q", want.ID)
	require.Equal(t, want.Cursor, got.Cursor, "record %q", want.ID)
	requireTime(t, want.FirstSeenAt, got.FirstSeenAt, want.ID+" first seen at")
	requireTime(t, want.LastModifiedAt, got.LastModifiedAt, want.ID+" last modified at")
	requireTime(t, want.DeletedAt, got.DeletedAt, want.ID+" deleted at")
	requireTime(t, want.PrunedAt, got.PrunedAt, want.ID+" pruned at")
}

// requireCursorError requires err to be a *store.CursorError matching store.ErrInvalidCursor.
func requireCursorError(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, store.ErrInvalidCursor, msgAndArgs...)
	var ce *store.CursorError
	require.ErrorAs(t, err, &ce, msgAndArgs...)
}

// requireParamError requires err to be a *store.ParamError matching store.ErrInvalidParams.
func requireParamError(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, store.ErrInvalidParams, msgAndArgs...)
	var pe *store.ParamError
	require.ErrorAs(t, err, &pe, msgAndArgs...)
}
