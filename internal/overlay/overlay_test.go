package overlay_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango/internal/overlay"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

var (
	stream = store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	cpKey  = store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "acme"}
	t0     = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
)

func rec(id, fields string) store.RecordInput {
	return store.RecordInput{Data: []byte(`{"id":"` + id + `"` + fields + `}`)}
}

// openBase returns a bolt store holding: a, b, c live, d deleted, a checkpoint at version 1 and
// the connection.
func openBase(t *testing.T) *bolt.Store {
	t.Helper()
	base, err := bolt.Open(filepath.Join(t.TempDir(), "store.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, base.Close()) })
	ctx := t.Context()
	_, err = base.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Now: t0,
		Records:    []store.RecordInput{rec("a", `,"n":1`), rec("b", `,"n":1`), rec("c", `,"n":1`), rec("d", `,"n":1`)},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":1}`), Now: t0}})
	require.NoError(t, err)
	_, err = base.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete, Now: t0,
		Records: []store.RecordInput{{ID: "d"}}})
	require.NoError(t, err)
	require.NoError(t, base.ConnectionPut(ctx, &store.Connection{Integration: "crm", ID: "acme",
		Credentials: []byte(`{"refresh":"old"}`), CreatedAt: t0, UpdatedAt: t0}))
	return base
}

// feed is everything a write could change in the base's records.
func feed(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	res, err := s.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Limit: 1000})
	require.NoError(t, err)
	return res.Records
}

func TestOverlayKeepsWritesAndDiffsAgainstBolt(t *testing.T) {
	t.Parallel()
	base := openBase(t)
	ctx := t.Context()
	before := feed(t, base)
	head, err := base.StreamCursor(ctx, stream)
	require.NoError(t, err)

	o := overlay.New(base)
	var writes []store.RecordsWriteResult
	o.OnWrite(func(model string, r *store.RecordsWriteResult) {
		require.Equal(t, "Contact", model)
		writes = append(writes, *r)
	})
	// The run: a unchanged, b updated, d saved again (re-added), e new; c merged; then a deleted.
	res, err := o.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Now: t0.Add(time.Hour), TrackSeen: "contacts",
		Records:    []store.RecordInput{rec("a", `,"n":1`), rec("b", `,"n":2`), rec("d", `,"n":1`), rec("e", `,"n":1`)},
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"page":2}`), ExpectedVersion: 1}})
	require.NoError(t, err)
	require.Equal(t, [4]int{2, 1, 0, 1}, [4]int{res.Added, res.Updated, res.Deleted, res.Unchanged}, "classified against the base")
	require.Equal(t, int64(2), res.Checkpoint.Version, "versions continue the base's")
	res, err = o.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Mode: store.WriteMerge,
		Records: []store.RecordInput{rec("c", `,"m":1`), rec("zz", `,"m":1`)}})
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 1}, [2]int{res.Updated, res.Ignored})
	res, err = o.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Mode: store.WriteDelete,
		Records: []store.RecordInput{{ID: "a"}}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Deleted)
	require.Len(t, writes, 3, "OnWrite saw every write")

	// Reads by id show the run's writes; the change feed and the stats are the base's.
	got, err := o.RecordsList(ctx, &store.RecordsListParams{Stream: stream, IDs: []string{"a", "b", "e"}})
	require.NoError(t, err)
	require.Len(t, got.Records, 3)
	for _, r := range got.Records {
		switch r.ID {
		case "a":
			require.Equal(t, store.ActionDeleted, r.LastAction)
		case "b":
			require.JSONEq(t, `{"id":"b","n":2}`, string(r.Data))
		case "e":
			require.Equal(t, store.ActionAdded, r.LastAction)
		}
	}
	require.Equal(t, before, feed(t, o))
	cp, err := o.CheckpointGet(ctx, cpKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"page":2}`, string(cp.Data))

	// The sweep counts what it would delete (c was merged, not seen; a is deleted) and deletes
	// nothing.
	sw, err := o.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: stream, Sync: "contacts"})
	require.NoError(t, err)
	require.Equal(t, store.RecordsSweepResult{Live: 4, Unseen: 1, Deleted: 1}, *sw)

	d, err := o.Diff(ctx, stream, 10)
	require.NoError(t, err)
	require.Equal(t, [5]int{2, 2, 2, 0, 0}, [5]int{d.Added, d.Updated, d.Deleted, d.Unchanged, d.RefusedDeletes},
		"added d, e; updated b, c; deleted a and, by the sweep, c's unseen count")
	require.ElementsMatch(t, []string{"d", "e"}, []string{d.AddedSamples[0].ID, d.AddedSamples[1].ID})
	for _, c := range d.UpdatedSamples {
		require.NotEmpty(t, c.Before, "the base's payload of %s", c.ID)
		require.NotEqual(t, string(c.Before), string(c.After))
	}
	require.Equal(t, "a", d.DeletedSamples[0].ID)

	// Nothing reached the base.
	require.Equal(t, before, feed(t, base))
	after, err := base.StreamCursor(ctx, stream)
	require.NoError(t, err)
	require.Equal(t, head, after)
	cp, err = base.CheckpointGet(ctx, cpKey)
	require.NoError(t, err)
	require.Equal(t, int64(1), cp.Version)
	runs, err := base.RunList(ctx, &store.RunListParams{Key: store.SyncKey(cpKey)})
	require.NoError(t, err)
	require.Empty(t, runs)
}

func TestOverlayWritesOnlyRefreshedCredentialsThrough(t *testing.T) {
	t.Parallel()
	base := openBase(t)
	ctx := t.Context()
	o := overlay.New(base)
	conn, err := o.ConnectionGet(ctx, "crm", "acme")
	require.NoError(t, err)

	conn.Credentials = []byte(`{"refresh":"new"}`)
	require.NoError(t, o.ConnectionPut(ctx, conn))
	stored, err := base.ConnectionGet(ctx, "crm", "acme")
	require.NoError(t, err)
	require.JSONEq(t, `{"refresh":"new"}`, string(stored.Credentials), "a rotated refresh token must not be lost")

	conn.Metadata = []byte(`{"plan":"pro"}`)
	require.NoError(t, o.ConnectionPut(ctx, conn))
	stored, err = base.ConnectionGet(ctx, "crm", "acme")
	require.NoError(t, err)
	require.Nil(t, stored.Metadata, "other changes stay in the sandbox")
	mine, err := o.ConnectionGet(ctx, "crm", "acme")
	require.NoError(t, err)
	require.JSONEq(t, `{"plan":"pro"}`, string(mine.Metadata))

	require.ErrorIs(t, o.ConnectionDelete(ctx, "crm", "acme"), overlay.ErrUnsupported)
	require.ErrorIs(t, o.StreamDelete(ctx, stream), overlay.ErrUnsupported)
	require.Len(t, feed(t, base), 4)

	// A stale checkpoint version is a conflict, as on the base.
	_, err = o.CheckpointPut(ctx, &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{}`), ExpectedVersion: 0})
	require.ErrorIs(t, err, store.ErrVersionConflict)
	require.NoError(t, o.CheckpointDelete(ctx, &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: 1}))
	_, err = o.CheckpointGet(ctx, cpKey)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = base.CheckpointGet(ctx, cpKey)
	require.NoError(t, err, "the deletion stayed in the sandbox")

	// Closing the sandbox leaves the base open.
	require.NoError(t, o.Close())
	_, err = base.StreamStats(ctx, stream)
	require.NoError(t, err)
}
