package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// freshSchema returns two stores, each with its own pool, on a new schema dropped at the end.
func freshSchema(t *testing.T) (*Store, *Store) {
	t.Helper()
	url, pool, name := testSchema(t, "nango_test_fresh")
	ctx := context.Background()
	other, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(other.Close)
	var stores []*Store
	for _, p := range []*pgxpool.Pool{pool, other} {
		s, err := New(ctx, p, &Options{Schema: name})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	return stores[0], stores[1]
}

func contacts(from, to int, version string) []store.RecordInput {
	recs := make([]store.RecordInput, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil, `{"id":"c-%05d","v":%q}`, i, version)})
	}
	return recs
}

// TestFreshStreamConflicts: a stream whose saves only added records has its next save copy its
// records in without looking their ids up; when one of them is there after all (live, deleted,
// or written by another process), the write starts again from its savepoint and comes out as if
// it had looked them up: the same verdicts, counters, cursors without gaps, window and
// checkpoint.
func TestFreshStreamConflicts(t *testing.T) {
	ctx := context.Background()
	s, other := freshSchema(t)
	st := store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	cpKey := store.CheckpointKey{Integration: "crm", Sync: "full", Connection: "acme"}
	save := func(s *Store, recs []store.RecordInput, cpVersion int64) *store.RecordsWriteResult {
		t.Helper()
		p := &store.RecordsWriteParams{Stream: st, Records: recs, TrackSeen: "full"}
		if cpVersion >= 0 {
			p.Checkpoint = &store.CheckpointPutParams{Key: cpKey, Data: fmt.Appendf(nil, `{"page":%d}`, cpVersion+1), ExpectedVersion: cpVersion}
		}
		res, err := s.RecordsWrite(ctx, p)
		require.NoError(t, err)
		return res
	}

	// Two saves of new ids: the stream is fresh after the first.
	require.False(t, s.fresh.has(st))
	require.Equal(t, 1000, save(s, contacts(0, 1000, "1"), 0).Added)
	require.True(t, s.fresh.has(st))
	require.Equal(t, 1000, save(s, contacts(1000, 2000, "1"), 1).Added)
	require.True(t, s.fresh.has(st), "a save copied in without lookups keeps the stream fresh")

	// A bad record in a fresh save, whose payloads are prepared while its first round trip is
	// out, fails it and writes nothing.
	bad := append(contacts(2000, 2010, "1"), store.RecordInput{Data: []byte(`{"name":"no id"}`)})
	_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Records: bad, TrackSeen: "full"})
	var re *store.RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 10, re.Index)
	before, err := s.StreamStats(ctx, st)
	require.NoError(t, err)
	require.Equal(t, 2000, before.Live)

	// A save of 2,500 records in three chunks whose last chunk holds a changed record, a
	// record unchanged, and new ones.
	recs := append(contacts(2000, 4000, "1"), contacts(1500, 1501, "2")...) // changed
	recs = append(recs, contacts(1600, 1601, "1")...)                       // unchanged
	recs = append(recs, contacts(4000, 4498, "1")...)
	res := save(s, recs, 2)
	require.Equal(t, store.RecordsWriteResult{Added: 2498, Updated: 1, Unchanged: 1, Checkpoint: res.Checkpoint}, *res)
	require.Equal(t, int64(3), res.Checkpoint.Version)
	require.False(t, s.fresh.has(st), "a save that found an id makes the stream not fresh")

	// Deleted records are there too: a save that re-adds one starts again as well.
	sw, err := s.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: st, Sync: "full", Force: true})
	require.NoError(t, err)
	require.Equal(t, 0, sw.Deleted, "every record was seen once")
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Mode: store.WriteDelete, Records: []store.RecordInput{{ID: "c-00007"}}})
	require.NoError(t, err)
	require.Equal(t, 100, save(s, contacts(5000, 5100, "1"), -1).Added)
	require.True(t, s.fresh.has(st))
	res = save(s, append(contacts(5100, 5200, "1"), contacts(7, 8, "1")...), -1)
	require.Equal(t, 101, res.Added, "100 new and one re-added")

	// Another process's save makes the hint of this one wrong.
	require.Equal(t, 10, save(s, contacts(6000, 6010, "1"), -1).Added)
	require.True(t, s.fresh.has(st))
	require.Equal(t, 10, save(other, contacts(6010, 6020, "1"), -1).Added)
	res = save(s, contacts(6015, 6030, "1"), -1)
	require.Equal(t, store.RecordsWriteResult{Added: 10, Unchanged: 5}, *res)

	// The stream holds every record once, with one cursor per change and none lost: the feed's
	// sequence numbers run without a gap.
	stats, err := s.StreamStats(ctx, st)
	require.NoError(t, err)
	require.Equal(t, store.StreamStats{Live: 4498 + 200 + 30, Deleted: 0}, *stats)
	var changes, top, rows int64
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*), max(seq) FROM {s}.records`)).Scan(&rows, &top))
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT seq FROM {s}.streams`)).Scan(&changes))
	require.Equal(t, rows, int64(stats.Live))
	require.Equal(t, changes, top)
	feed, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: st, Limit: 10000})
	require.NoError(t, err)
	require.Len(t, feed.Records, int(rows))
	// 2,000 + 2,498 added and one updated, 1 deleted and re-added, 200 + 30 added: the feed's
	// last change has the sequence number of the changes made.
	require.Equal(t, int64(2000+2498+1+1+1+200+30), changes)
	cp, err := s.CheckpointGet(ctx, cpKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"page":3}`, string(cp.Data))
}
