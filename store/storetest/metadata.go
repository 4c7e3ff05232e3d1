package storetest

import (
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// metadataTests check the times and actions a record's metadata carries.
func metadataTests() []test {
	return []test{
		{"TimesAreUTCMicroseconds", testTimesAreUTCMicroseconds},
		{"ZeroNowIsCurrentTime", testZeroNowIsCurrentTime},
		{"ModifiedTimeNeverDecreases", testModifiedTimeNeverDecreases},
	}
}

func testTimesAreUTCMicroseconds(t *testing.T, su *suite) {
	s := su.open(t)
	zone := time.FixedZone("UTC+5", 5*3600)
	now := func(n int) time.Time {
		return time.Date(2024, 6, 7, 8, 9, 10, 987654321, zone).Add(time.Duration(n) * time.Second)
	}
	want := func(n int) time.Time { return now(n).UTC().Truncate(time.Microsecond) }
	check := func(r store.Record) {
		t.Helper()
		for _, tm := range []time.Time{r.FirstSeenAt, r.LastModifiedAt, r.DeletedAt, r.PrunedAt} {
			if !tm.IsZero() {
				require.Equal(t, time.UTC, tm.Location(), "times are UTC")
				require.Zero(t, tm.Nanosecond()%1000, "times have microsecond precision")
			}
		}
	}

	save(t, s, stream, now(0), in("a", `"v":1`))
	r := get(t, s, stream, "a")
	check(r)
	requireTime(t, want(0), r.FirstSeenAt, "first seen at")
	requireTime(t, want(0), r.LastModifiedAt, "last modified at")
	require.True(t, r.DeletedAt.IsZero())
	require.True(t, r.PrunedAt.IsZero())

	save(t, s, stream, now(1), in("a", `"v":2`))
	r = get(t, s, stream, "a")
	check(r)
	requireTime(t, want(0), r.FirstSeenAt, "first seen at")
	requireTime(t, want(1), r.LastModifiedAt, "last modified at")
	require.True(t, r.DeletedAt.IsZero())

	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: now(2),
		Records: []store.RecordInput{del("a")}})
	r = get(t, s, stream, "a")
	check(r)
	require.Equal(t, store.ActionDeleted, r.LastAction)
	requireTime(t, want(2), r.DeletedAt, "deleted at")
	requireTime(t, want(2), r.LastModifiedAt, "last modified at")
	require.True(t, r.PrunedAt.IsZero())

	// A sweep stamps its deletes the same way.
	save(t, s, stream, now(3), in("b", `"v":1`))
	_, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: stream, Sync: "sync", Now: now(4), Guard: noGuard})
	require.NoError(t, err)
	r = get(t, s, stream, "b")
	check(r)
	require.Equal(t, store.ActionDeleted, r.LastAction)
	requireTime(t, want(4), r.DeletedAt, "deleted at")
	requireTime(t, want(4), r.LastModifiedAt, "last modified at")
}

func testZeroNowIsCurrentTime(t *testing.T, su *suite) {
	s := su.open(t)
	before := time.Now().Truncate(time.Microsecond)
	save(t, s, stream, time.Time{}, in("a", ""))
	_, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: stream, Sync: "sync", Guard: noGuard})
	require.NoError(t, err)
	save(t, s, stream, time.Time{}, in("b", ""))
	later := time.Now()
	for _, r := range all(t, s, stream) {
		for _, tm := range []time.Time{r.FirstSeenAt, r.LastModifiedAt} {
			require.Equal(t, time.UTC, tm.Location())
			require.False(t, tm.Before(before), "a zero Now stamps the current time, got %s before %s", tm, before)
			require.False(t, tm.After(later), "a zero Now stamps the current time, got %s after %s", tm, later)
		}
	}
	require.False(t, get(t, s, stream, "a").DeletedAt.IsZero())
}

// testModifiedTimeNeverDecreases writes with a clock that goes backwards.
func testModifiedTimeNeverDecreases(t *testing.T, su *suite) {
	s := su.open(t)
	save(t, s, stream, at(100), in("a", `"v":1`), in("b", `"v":1`), in("c", `"v":1`))
	save(t, s, stream, at(50), in("d", `"v":1`))
	requireNotBefore(t, at(100), get(t, s, stream, "d").LastModifiedAt)
	save(t, s, stream, at(200), in("e", `"v":1`))
	save(t, s, stream, at(10), in("a", `"v":2`))
	requireNotBefore(t, at(200), get(t, s, stream, "a").LastModifiedAt)
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: at(20),
		Records: []store.RecordInput{del("b")}})
	requireNotBefore(t, at(200), get(t, s, stream, "b").LastModifiedAt)
	requireNotBefore(t, at(200), get(t, s, stream, "b").DeletedAt)
	write(t, s, store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge, Now: at(30),
		Records: []store.RecordInput{in("c", `"w":1`)}})
	_, err := s.RecordsSweep(t.Context(), &store.RecordsSweepParams{Stream: stream, Sync: "sync", Now: at(5), Guard: noGuard})
	require.NoError(t, err)

	recs := all(t, s, stream)
	require.Len(t, recs, 5)
	for i := 1; i < len(recs); i++ {
		require.Falsef(t, recs[i].LastModifiedAt.Before(recs[i-1].LastModifiedAt),
			"last_modified_at decreases in cursor order: %s at %s after %s at %s",
			recs[i].ID, recs[i].LastModifiedAt, recs[i-1].ID, recs[i-1].LastModifiedAt)
	}
	// ModifiedAfter therefore selects a suffix of the feed.
	got := list(t, s, store.RecordsListParams{Stream: stream, ModifiedAfter: at(200)})
	require.Equal(t, ids(recs), ids(got.Records))
}

// requireNotBefore requires got to be at or after floor.
func requireNotBefore(t *testing.T, floor, got time.Time) {
	t.Helper()
	require.Falsef(t, got.Before(floor), "%s is before %s", got, floor)
}
