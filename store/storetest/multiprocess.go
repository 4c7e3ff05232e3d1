package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// multiProcessTests check a store shared by several handles at once (Features.MultiProcess):
// what one handle commits the other sees, leases exclude across handles, and the change feed
// stays in one order whichever handle wrote.
func multiProcessTests() []test {
	return []test{
		{"SeeEachOthersWrites", testSharedWrites},
		{"LeasesExclude", testSharedLeases},
		{"CursorsStayOrdered", testSharedCursors},
	}
}

func testSharedWrites(t *testing.T, su *suite) {
	a, b := su.openShared(t)
	ctx := t.Context()

	save(t, a, stream, at(1), in("1", `"v":1`), in("2", `"v":1`))
	got := all(t, b, stream)
	require.Equal(t, []string{"1", "2"}, ids(got), "b sees a's records")
	// A record b rewrote with the same payload is unchanged for everyone.
	require.Equal(t, counts{Unchanged: 1, Added: 1}, countsOf(save(t, b, stream, at(2), in("1", `"v":1`), in("3", `"v":1`))))
	res := write(t, b, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Records: []store.RecordInput{in("2", `"v":2`)}, Now: at(3)})
	require.Equal(t, 1, res.Updated)
	later := after(t, a, stream, got[1].Cursor)
	require.Equal(t, []string{"3", "2"}, ids(later), "a follows b's changes from a's cursor")
	require.JSONEq(t, `{"id":"2","v":2}`, string(later[1].Data))
	stats, err := a.StreamStats(ctx, stream)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{Live: 3}, *stats)
	head, err := b.StreamCursor(ctx, stream)
	require.NoError(t, err)
	require.Equal(t, later[1].Cursor, head, "both handles agree on the stream's head")

	// Checkpoint versions are one sequence across handles.
	key := store.CheckpointKey(syncKey)
	_, err = a.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"p":1}`), Now: at(4)})
	require.NoError(t, err)
	_, err = b.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"p":2}`), Now: at(5)})
	require.ErrorIs(t, err, store.ErrVersionConflict, "b must see a's checkpoint")
	_, err = b.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"p":2}`), ExpectedVersion: 1, Now: at(5)})
	require.NoError(t, err)
	cp, err := a.CheckpointGet(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(2), cp.Version)
	require.JSONEq(t, `{"p":2}`, string(cp.Data))

	// A connection deleted through one handle is gone, with its records, for the other.
	conn := &store.Connection{Integration: stream.Integration, ID: stream.Connection, CreatedAt: at(6), UpdatedAt: at(6)}
	require.NoError(t, b.ConnectionPut(ctx, conn))
	conns, err := a.ConnectionList(ctx, stream.Integration)
	require.NoError(t, err)
	require.Len(t, conns, 1)
	require.NoError(t, a.ConnectionDelete(ctx, stream.Integration, stream.Connection))
	_, err = b.ConnectionGet(ctx, stream.Integration, stream.Connection)
	require.ErrorIs(t, err, store.ErrNotFound)
	requireEmpty(t, b, stream)
	_, err = b.RecordsList(ctx, &store.RecordsListParams{Stream: stream, Cursor: head})
	require.ErrorIs(t, err, store.ErrCursorStale, "b rejects a cursor of the deleted stream")
}

func testSharedLeases(t *testing.T, su *suite) {
	a, b := su.openShared(t)
	ctx := t.Context()
	la := acquire(t, a, "replica-a", at(0))
	_, err := b.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: syncKey, Owner: "replica-b", TTL: time.Minute, Now: at(10)})
	require.ErrorIs(t, err, store.ErrLeaseHeld, "a's lease excludes b")
	write(t, a, store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("1", "")}, Now: at(11), Fence: la})

	// Expired, b takes it over: a is fenced off on its own handle.
	lb := acquire(t, b, "replica-b", at(31))
	require.Greater(t, lb.Token, la.Token)
	_, err = a.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("2", "")}, Now: at(32), Fence: la})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	_, err = a.LeaseRenew(ctx, &store.LeaseRenewParams{Lease: la, TTL: time.Minute, Now: at(32)})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	write(t, b, store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("3", "")}, Now: at(33), Fence: lb})
	require.Equal(t, []string{"1", "3"}, ids(all(t, a, stream)))

	// Released through b, a can take it at once.
	require.NoError(t, b.LeaseRelease(ctx, lb))
	la2 := acquire(t, a, "replica-a", at(34))
	require.Greater(t, la2.Token, lb.Token)

	// Two handles racing for a free lease: exactly one wins.
	other := syncKey
	other.Sync = "sync-race"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []store.Store{a, b} {
		wg.Go(func() {
			_, errs[i] = s.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: other, Owner: fmt.Sprintf("replica-%d", i), TTL: time.Minute, Now: at(40)})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, store.ErrLeaseHeld)
	}
	require.Equal(t, 1, won, "one handle wins a contested lease")
}

// testSharedCursors writes to one stream from both handles at once while a reader on each
// handle follows the feed: every reader sees every change once, in one order, whichever handle
// committed it.
func testSharedCursors(t *testing.T, su *suite) {
	a, b := su.openShared(t)
	const batches, perBatch = 20, 10
	var writers sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []store.Store{a, b} {
		writers.Go(func() {
			for i := range batches {
				recs := seq(fmt.Sprintf("h%d-b%02d", w, i), 0, perBatch, "")
				if _, err := s.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: stream, Records: recs, Now: at(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// follow reads the feed through s until it has seen want changes; each page is read from the
	// cursor of the last, so a change committed behind a reader's cursor would be missed.
	follow := func(s store.Store, want int) ([]store.Record, error) {
		var seen []store.Record
		cursor := ""
		for range 100_000 {
			res, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: cursor, Limit: 7})
			if err != nil {
				return nil, err
			}
			seen = append(seen, res.Records...)
			if len(res.Records) > 0 {
				cursor = res.Records[len(res.Records)-1].Cursor
			}
			if len(seen) >= want {
				return seen, nil
			}
		}
		return seen, fmt.Errorf("saw %d of %d changes", len(seen), want)
	}
	total := 2 * batches * perBatch
	feeds := make([][]store.Record, 2)
	var readers sync.WaitGroup
	for r, s := range []store.Store{b, a} {
		readers.Go(func() {
			recs, err := follow(s, total)
			if err != nil {
				errs <- err
				return
			}
			feeds[r] = recs
		})
	}
	writers.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	final := all(t, a, stream)
	require.Len(t, final, total)
	require.Equal(t, ids(final), ids(all(t, b, stream)), "both handles list one order")
	for r, feed := range feeds {
		require.Equal(t, ids(final), ids(feed), "reader %d saw every change once, in commit order", r)
	}
	for i := 1; i < len(final); i++ {
		require.False(t, final[i].LastModifiedAt.Before(final[i-1].LastModifiedAt), "change times decrease at %s", final[i].ID)
	}
	// Each handle's own batches stay whole and in order in the shared feed.
	for w := range 2 {
		var mine []string
		for _, r := range final {
			if r.ID[:2] == fmt.Sprintf("h%d", w) {
				mine = append(mine, r.ID)
			}
		}
		require.Equal(t, sorted(mine), mine, "handle %d's batches out of order", w)
	}
}
