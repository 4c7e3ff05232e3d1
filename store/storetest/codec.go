package storetest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// codecTests check writes with a store.PayloadCodec: the store keeps what the classifier
// sealed and hashed, and puts sealed payloads in place of payloads kept in the clear without a
// change (Decision.Reseal).
func codecTests() []test {
	return []test{
		{"SealedPayloads", testCodecSealed},
		{"Merge", testCodecMerge},
		{"SealsPlainOnSave", testCodecSealsPlain},
		{"Reseal", testCodecReseal},
		{"RestoresPruned", testCodecRestoresPruned},
	}
}

// testCodec seals a payload as a marker, the record's id and the hex of its bytes, and hashes
// with another function than store.Hash, as a keyed hash would.
type testCodec struct{}

const testSealed = "\x00sealed:"

func (testCodec) Hash(canonical []byte) uint64 { return store.Hash(canonical) ^ 0x5bd1e9955bd1e995 }

func (testCodec) Seal(id string, canonical []byte) ([]byte, error) {
	return []byte(testSealed + id + ":" + hex.EncodeToString(canonical)), nil
}

func (testCodec) Open(id string, stored []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(stored), testSealed)
	if !ok {
		return stored, nil
	}
	rest, ok = strings.CutPrefix(rest, id+":")
	if !ok {
		return nil, errors.New("sealed for another record")
	}
	return hex.DecodeString(rest)
}

// opened returns the canonical payload of a record read from the store.
func opened(t *testing.T, r store.Record) string {
	t.Helper()
	require.True(t, bytes.HasPrefix(r.Data, []byte(testSealed)), "record %q is stored sealed: %q", r.ID, r.Data)
	plain, err := testCodec{}.Open(r.ID, r.Data)
	require.NoError(t, err)
	return string(plain)
}

func sealedSave(t *testing.T, s store.Store, n int, recs ...store.RecordInput) *store.RecordsWriteResult {
	t.Helper()
	return write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteSave, Records: recs, Now: at(n), Codec: testCodec{}})
}

func testCodecSealed(t *testing.T, su *suite) {
	s := su.open(t)
	require.Equal(t, counts{Added: 2}, countsOf(sealedSave(t, s, 0, in("a", `"n":1`), in("b", `"n":2`))))
	a := get(t, s, stream, "a")
	require.JSONEq(t, `{"id":"a","n":1}`, opened(t, a))
	h := head(t, s, stream)

	res := sealedSave(t, s, 1, in("a", `"n":1`), in("b", `"n":2`))
	require.Equal(t, counts{Unchanged: 2}, countsOf(res), "the same payloads, sealed again, are unchanged")
	require.Zero(t, res.Resealed)
	require.Equal(t, h, head(t, s, stream), "an unchanged save writes nothing")

	require.Equal(t, counts{Updated: 1, Unchanged: 1}, countsOf(sealedSave(t, s, 2, in("a", `"n":3`), in("b", `"n":2`))))
	require.JSONEq(t, `{"id":"a","n":3}`, opened(t, get(t, s, stream, "a")))

	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Records: []store.RecordInput{del("b")}, Now: at(3), Codec: testCodec{}})
	require.Equal(t, counts{Deleted: 1}, countsOf(res))
	b := get(t, s, stream, "b")
	require.Equal(t, store.ActionDeleted, b.LastAction)
	require.JSONEq(t, `{"id":"b","n":2}`, opened(t, b), "a deleted record keeps its sealed payload")
}

func testCodecMerge(t *testing.T, su *suite) {
	s := su.open(t)
	sealedSave(t, s, 0, in("a", `"n":1,"o":{"x":1}`))
	merge := func(n int, fields string) *store.RecordsWriteResult {
		return write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Records: []store.RecordInput{in("a", fields)}, Now: at(n), Codec: testCodec{}})
	}
	require.Equal(t, counts{Updated: 1}, countsOf(merge(1, `"o":{"y":2}`)))
	require.JSONEq(t, `{"id":"a","n":1,"o":{"x":1,"y":2}}`, opened(t, get(t, s, stream, "a")))
	h := head(t, s, stream)
	require.Equal(t, counts{Unchanged: 1}, countsOf(merge(2, `"n":1`)), "a merge that changes nothing")
	require.Equal(t, h, head(t, s, stream))
	require.Equal(t, counts{Unchanged: 1}, countsOf(sealedSave(t, s, 3, in("a", `"n":1,"o":{"x":1,"y":2}`))),
		"the merged payload's hash is the codec's")

	// A merge into a record kept in the clear: the merge is sealed.
	save(t, s, stream, at(4), in("p", `"n":1`))
	res := write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Records: []store.RecordInput{in("p", `"m":2`)}, Now: at(5), Codec: testCodec{}})
	require.Equal(t, counts{Updated: 1}, countsOf(res))
	require.JSONEq(t, `{"id":"p","m":2,"n":1}`, opened(t, get(t, s, stream, "p")))
	// A merge that leaves a record kept in the clear as it is seals it in place.
	save(t, s, stream, at(6), in("q", `"n":1`))
	q := get(t, s, stream, "q")
	res = write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Records: []store.RecordInput{in("q", `"n":1`)}, Now: at(7), Codec: testCodec{}})
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	require.Equal(t, 1, res.Resealed)
	q2 := get(t, s, stream, "q")
	require.JSONEq(t, `{"id":"q","n":1}`, opened(t, q2))
	require.Equal(t, q.Metadata, q2.Metadata, "sealing in place is not a change")
}

func testCodecSealsPlain(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"n":1`), in("b", `"n":2`))
	before := all(t, s, stream)
	h := head(t, s, stream)

	res := sealedSave(t, s, 1, in("a", `"n":1`), in("b", `"n":3`))
	require.Equal(t, counts{Unchanged: 1, Updated: 1}, countsOf(res), "a payload kept in the clear is the same payload")
	require.Equal(t, 1, res.Resealed)
	a := get(t, s, stream, "a")
	require.JSONEq(t, `{"id":"a","n":1}`, opened(t, a), "and it is sealed in place")
	require.Equal(t, before[0].Metadata, a.Metadata, "without a change")
	require.Len(t, after(t, s, stream, h), 1, "only b changed")

	res = sealedSave(t, s, 2, in("a", `"n":1`))
	require.Equal(t, counts{Unchanged: 1}, countsOf(res))
	require.Zero(t, res.Resealed, "sealed once")
}

func testCodecReseal(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"n":1`), in("b", `"n":2`), in("c", `"n":3`))
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Records: []store.RecordInput{del("b")}, Now: at(1)})
	before := all(t, s, stream)
	h := head(t, s, stream)

	_, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Mode: store.WriteReseal, Records: []store.RecordInput{in("a", `"n":1`)}})
	requireParamError(t, err, "a reseal without a codec")

	reseal := func(recs ...store.RecordInput) *store.RecordsWriteResult {
		return write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteReseal, Records: recs, Now: at(5), Codec: testCodec{}})
	}
	// c changed since it was read (the payload given is not the one held): left alone.
	res := reseal(in("a", `"n":1`), in("b", `"n":2`), in("c", `"n":4`), in("x", `"n":1`))
	require.Equal(t, 2, res.Resealed)
	require.Equal(t, counts{Unchanged: 2, Ignored: 2}, countsOf(res))
	require.Equal(t, h, head(t, s, stream), "sealing in place is not a change")
	got := all(t, s, stream)
	require.Equal(t, ids(before), ids(got))
	for i, r := range got {
		require.Equal(t, before[i].Metadata, r.Metadata, "record %q keeps its metadata", r.ID)
		if r.ID == "c" {
			require.Equal(t, before[i].Data, r.Data, "c stays in the clear")
			continue
		}
		require.JSONEq(t, string(before[i].Data), opened(t, r))
	}
	require.Equal(t, store.StreamStats{Live: 2, Deleted: 1}, stats(t, s, stream))

	res = reseal(in("a", `"n":1`), in("b", `"n":2`))
	require.Equal(t, counts{Ignored: 2}, countsOf(res), "sealed once")
	require.Equal(t, counts{Unchanged: 1}, countsOf(sealedSave(t, s, 6, in("a", `"n":1`))), "with the codec's hash")
	require.Equal(t, counts{Added: 1}, countsOf(sealedSave(t, s, 7, in("b", `"n":2`))), "b is still deleted")
}

func testCodecRestoresPruned(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(0), in("a", `"n":1`))
	sealedSave(t, s, 1, in("b", `"n":2`))
	prune(t, s, store.RecordsPruneParams{Stream: stream, ModifiedBefore: at(5), Now: at(6)})
	h := head(t, s, stream)
	res := sealedSave(t, s, 7, in("a", `"n":1`), in("b", `"n":2`))
	require.Equal(t, counts{Unchanged: 2}, countsOf(res), "pruned payloads, in the clear or sealed, are restored")
	require.Equal(t, h, head(t, s, stream))
	for _, r := range all(t, s, stream) {
		require.True(t, r.PrunedAt.IsZero(), "record %q is restored", r.ID)
		opened(t, r)
	}
}
