package storetest

import (
	"strings"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// recordsInvalidTests check that RecordsWrite rejects bad input with a typed error and writes
// nothing of the batch.
func recordsInvalidTests() []test {
	return []test{
		{"BadRecord", testBadRecord},
		{"BadRecordInMerge", testBadRecordInMerge},
		{"LongestIDIsAccepted", testLongestID},
		{"BadParams", testBadWriteParams},
	}
}

// badRecords are records that no write accepts, by name.
var badRecords = []struct {
	name string
	rec  store.RecordInput
}{
	{"EmptyID", store.RecordInput{ID: "", Data: []byte(`{"id":""}`)}},
	{"IDTooLong", store.RecordInput{ID: strings.Repeat("x", store.MaxIDLength+1),
		Data: []byte(`{"id":"` + strings.Repeat("x", store.MaxIDLength+1) + `"}`)}},
	{"IDWithNUL", store.RecordInput{ID: "a\x00b", Data: []byte(`{"id":"a\u0000b"}`)}},
	{"NotAnObjectArray", store.RecordInput{ID: "c", Data: []byte(`[1]`)}},
	{"NotAnObjectString", store.RecordInput{ID: "c", Data: []byte(`"x"`)}},
	{"NotAnObjectNumber", store.RecordInput{ID: "c", Data: []byte(`1`)}},
	{"NotAnObjectNull", store.RecordInput{ID: "c", Data: []byte(`null`)}},
	{"NoPayload", store.RecordInput{ID: "c"}},
	{"InvalidJSON", store.RecordInput{ID: "c", Data: []byte(`{"id":"c",`)}},
	{"TrailingData", store.RecordInput{ID: "c", Data: []byte(`{"id":"c"} {}`)}},
	{"DuplicateKey", store.RecordInput{ID: "c", Data: []byte(`{"id":"c","a":1,"a":2}`)}},
	{"NoID", store.RecordInput{ID: "c", Data: []byte(`{"a":1}`)}},
	{"IDNull", store.RecordInput{ID: "c", Data: []byte(`{"id":null}`)}},
	{"IDBool", store.RecordInput{ID: "true", Data: []byte(`{"id":true}`)}},
	{"IDFloat", store.RecordInput{ID: "1.5", Data: []byte(`{"id":1.5}`)}},
	{"IDObject", store.RecordInput{ID: "c", Data: []byte(`{"id":{"c":1}}`)}},
	{"IDArray", store.RecordInput{ID: "c", Data: []byte(`{"id":["c"]}`)}},
	{"IDMismatch", store.RecordInput{ID: "c", Data: []byte(`{"id":"d"}`)}},
}

// requireRecordError requires err to be a *store.RecordError for the record at index of model.
func requireRecordError(t *testing.T, err error, index int, model, id string) {
	t.Helper()
	require.ErrorIs(t, err, store.ErrInvalidRecord)
	var re *store.RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, index, re.Index, "RecordError.Index is the position in the caller's batch")
	require.Equal(t, model, re.Model)
	if id != "" {
		require.Equal(t, id, re.ID)
	}
	require.NotEmpty(t, re.Error())
}

func testBadRecord(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`))
	before := all(t, s, stream)
	for _, bad := range badRecords {
		t.Run(bad.name, func(t *testing.T) {
			// Two good records, one of them a change to a live record, then the bad one.
			_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{
				Stream: stream, Mode: store.WriteSave, Now: at(1), TrackSeen: "sync",
				Records: []store.RecordInput{in("a", `"v":2`), in("b", `"v":1`), bad.rec},
			})
			requireRecordError(t, err, 2, stream.Model, bad.rec.ID)
			got := all(t, s, stream)
			require.Len(t, got, len(before), "a rejected batch writes nothing")
			requireSameRecord(t, before[0], got[0])
		})
	}
	// Nor did any rejected batch join the deletion-tracking window: a sweep deletes "a".
	res, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: stream, Sync: "sync", Now: at(2), Guard: noGuard})
	require.NoError(t, err)
	require.Equal(t, 1, res.Deleted)
}

func testBadRecordInMerge(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"v":1`), in("c", `"v":1`))
	before := all(t, s, stream)
	for _, bad := range badRecords {
		t.Run(bad.name, func(t *testing.T) {
			_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{
				Stream: stream, Mode: store.WriteMerge, Now: at(1),
				Records: []store.RecordInput{in("a", `"v":2`), bad.rec},
			})
			requireRecordError(t, err, 1, stream.Model, bad.rec.ID)
			got := all(t, s, stream)
			require.Len(t, got, len(before))
			for i := range got {
				requireSameRecord(t, before[i], got[i])
			}
		})
	}
}

func testLongestID(t *testing.T, su *suite) {
	s := su.open(t)
	id := strings.Repeat("é", store.MaxIDLength/2) + "x" // 255 bytes
	require.Len(t, id, store.MaxIDLength)
	res := save(t, s, stream, at(0), in(id, ""))
	require.Equal(t, counts{Added: 1}, countsOf(res))
	get(t, s, stream, id)
}

func testBadWriteParams(t *testing.T, su *suite) {
	s := su.open(t)
	cases := []struct {
		name string
		p    store.RecordsWriteParams
	}{
		{"UnknownMode", store.RecordsWriteParams{Stream: stream, Mode: store.WriteReseal + 1}},
		{"NegativeMode", store.RecordsWriteParams{Stream: stream, Mode: -1}},
		{"NoIntegration", store.RecordsWriteParams{Stream: store.Stream{Connection: "c", Model: "m"}}},
		{"NoConnection", store.RecordsWriteParams{Stream: store.Stream{Integration: "i", Model: "m"}}},
		{"NoModel", store.RecordsWriteParams{Stream: store.Stream{Integration: "i", Connection: "c"}}},
		{"NULInModel", store.RecordsWriteParams{Stream: store.Stream{Integration: "i", Connection: "c", Model: "m\x00"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			p.Now = at(0)
			p.Records = []store.RecordInput{in("a", `"v":1`)}
			_, err := s.RecordsWrite(t.Context(), &p)
			requireParamError(t, err)
		})
	}
	requireEmpty(t, s, stream)
	for _, st := range []store.Stream{
		{Integration: "", Connection: "c", Model: "m"},
		{Integration: "i", Connection: "", Model: "m"},
		{Integration: "i", Connection: "c", Model: ""},
	} {
		_, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: st})
		requireParamError(t, err, "listing %s", st)
		_, err = s.StreamStats(t.Context(), st)
		requireParamError(t, err, "stats of %s", st)
	}
}
