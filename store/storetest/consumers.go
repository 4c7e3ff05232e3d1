package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// consumerTests check the cursors of durable consumers.
func consumerTests() []test {
	return []test{
		{"PutGet", testConsumerPutGet},
		{"Conflict", testConsumerConflict},
		{"ListDelete", testConsumerListDelete},
		{"ConnectionDelete", testConsumerConnectionDelete},
		{"Persistence", testConsumerPersistence},
	}
}

func ckey(consumer string, st store.Stream) store.ConsumerKey {
	return store.ConsumerKey{Consumer: consumer, Stream: st}
}

func putCursor(t *testing.T, s store.Store, k store.ConsumerKey, expected, cursor string, n int) *store.ConsumerCursor {
	t.Helper()
	c, err := s.ConsumerCursorPut(t.Context(), &store.ConsumerCursorPutParams{Key: k, Cursor: cursor, Expected: expected, Now: at(n)})
	require.NoError(t, err)
	return c
}

func testConsumerPutGet(t *testing.T, su *suite) {
	s := su.open(t)
	k := ckey("indexer", stream)
	_, err := s.ConsumerCursorGet(t.Context(), k)
	require.ErrorIs(t, err, store.ErrNotFound)

	save(t, s, stream, at(0), in("a", ""), in("b", ""))
	recs := all(t, s, stream)
	putCursor(t, s, k, "", recs[0].Cursor, 1)
	got, err := s.ConsumerCursorGet(t.Context(), k)
	require.NoError(t, err)
	require.Equal(t, k, got.Key)
	require.Equal(t, recs[0].Cursor, got.Cursor)
	requireTime(t, at(1), got.UpdatedAt, "updated at")
	require.Equal(t, []string{"b"}, ids(after(t, s, stream, got.Cursor)), "the cursor is a feed position")

	putCursor(t, s, k, recs[0].Cursor, recs[1].Cursor, 2)
	got, err = s.ConsumerCursorGet(t.Context(), k)
	require.NoError(t, err)
	require.Equal(t, recs[1].Cursor, got.Cursor)

	// Other consumers and other streams are apart.
	_, err = s.ConsumerCursorGet(t.Context(), ckey("other", stream))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ConsumerCursorGet(t.Context(), ckey("indexer", store.Stream{Integration: stream.Integration, Connection: "conn-2", Model: stream.Model}))
	require.ErrorIs(t, err, store.ErrNotFound)

	for _, bad := range []store.ConsumerKey{ckey("", stream), ckey("x", store.Stream{Integration: "i", Connection: "c"})} {
		_, err := s.ConsumerCursorGet(t.Context(), bad)
		requireParamError(t, err, "get %+v", bad)
		_, err = s.ConsumerCursorPut(t.Context(), &store.ConsumerCursorPutParams{Key: bad})
		requireParamError(t, err, "put %+v", bad)
	}
	_, err = s.ConsumerCursorPut(t.Context(), nil)
	requireParamError(t, err, "nil params")
}

func testConsumerConflict(t *testing.T, su *suite) {
	s := su.open(t)
	k := ckey("indexer", stream)
	putCursor(t, s, k, "", "c1", 1)
	_, err := s.ConsumerCursorPut(t.Context(), &store.ConsumerCursorPutParams{Key: k, Cursor: "c2", Expected: ""})
	require.ErrorIs(t, err, store.ErrConsumerConflict, "another instance moved it from nothing")
	_, err = s.ConsumerCursorPut(t.Context(), &store.ConsumerCursorPutParams{Key: k, Cursor: "c2", Expected: "c0"})
	require.ErrorIs(t, err, store.ErrConsumerConflict)
	got, err := s.ConsumerCursorGet(t.Context(), k)
	require.NoError(t, err)
	require.Equal(t, "c1", got.Cursor, "a conflict writes nothing")
	putCursor(t, s, k, "c1", "c2", 2)
}

func testConsumerListDelete(t *testing.T, su *suite) {
	s := su.open(t)
	streams := []store.Stream{
		{Integration: "b", Connection: "c1", Model: "m"},
		{Integration: "a", Connection: "c2", Model: "m"},
		{Integration: "a", Connection: "c1", Model: "z"},
		{Integration: "a", Connection: "c1", Model: "m"},
	}
	for i, st := range streams {
		putCursor(t, s, ckey("indexer", st), "", "cur", i)
	}
	putCursor(t, s, ckey("indexer-2", streams[0]), "", "cur", 0)
	got, err := s.ConsumerCursorList(t.Context(), "indexer")
	require.NoError(t, err)
	var order []store.Stream
	for _, c := range got {
		require.Equal(t, "indexer", c.Key.Consumer)
		order = append(order, c.Key.Stream)
	}
	require.Equal(t, []store.Stream{streams[3], streams[2], streams[1], streams[0]}, order, "ordered by integration, connection, model")

	require.NoError(t, s.ConsumerDelete(t.Context(), "indexer"))
	got, err = s.ConsumerCursorList(t.Context(), "indexer")
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)
	_, err = s.ConsumerCursorGet(t.Context(), ckey("indexer-2", streams[0]))
	require.NoError(t, err, "other consumers stay")
	require.NoError(t, s.ConsumerDelete(t.Context(), "never-seen"))
	requireParamError(t, s.ConsumerDelete(t.Context(), ""))
}

func testConsumerConnectionDelete(t *testing.T, su *suite) {
	s := su.open(t)
	conn := &store.Connection{Integration: stream.Integration, ID: stream.Connection, CreatedAt: at(0), UpdatedAt: at(0)}
	require.NoError(t, s.ConnectionPut(t.Context(), conn))
	other := store.Stream{Integration: stream.Integration, Connection: "conn-2", Model: stream.Model}
	putCursor(t, s, ckey("indexer", stream), "", "cur", 1)
	putCursor(t, s, ckey("indexer", other), "", "cur", 1)
	require.NoError(t, s.ConnectionDelete(t.Context(), conn.Integration, conn.ID))
	_, err := s.ConsumerCursorGet(t.Context(), ckey("indexer", stream))
	require.ErrorIs(t, err, store.ErrNotFound, "a deleted connection's cursors go with its streams")
	_, err = s.ConsumerCursorGet(t.Context(), ckey("indexer", other))
	require.NoError(t, err)
}

func testConsumerPersistence(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	k := ckey("indexer", stream)
	putCursor(t, h.s, k, "", "cur-1", 1)
	s := h.reopen(t)
	got, err := s.ConsumerCursorGet(t.Context(), k)
	require.NoError(t, err)
	require.Equal(t, "cur-1", got.Cursor)
	requireTime(t, at(1), got.UpdatedAt, "updated at")
}
