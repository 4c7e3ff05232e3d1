package nango_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// On the fake clock: old payloads are pruned with cursors and feed order unchanged, a later
// run with the same payloads restores them without UPDATED, and the streams of a sync that
// has not run for 60 days are deleted while an active sync's are kept.
func TestRetention(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "retention.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	day := 24 * time.Hour
	clock := nangotest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng, err := nango.NewEngine(st, &nango.Config{Clock: clock, Retention: &nango.RetentionConfig{RunHistoryKeep: 2}})
	require.NoError(t, err)
	save := func(model string, ids ...string) nango.SyncFunc {
		return func(ctx context.Context, n *nango.Nango) error {
			var recs []map[string]any
			for _, id := range ids {
				recs = append(recs, map[string]any{"id": id, "name": "n-" + id})
			}
			return n.BatchSave(ctx, recs, model)
		}
	}
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Contact"}}, Sync: save("Contact", "c1", "c2")},
		{Name: "deals", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Deal"}}, Sync: save("Deal", "d1")},
	}}))
	ctx := t.Context()
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "conn-1"}))
	run := func(sync string) *nango.RunResult {
		res, err := eng.RunSync(ctx, "crm", sync, "conn-1", nil)
		require.NoError(t, err)
		require.Equal(t, nango.RunSucceeded, res.State)
		return res
	}
	list := func(model string) []nango.Record {
		page, err := eng.ListRecords(ctx, nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: model})
		require.NoError(t, err)
		return page.Records
	}
	run("contacts")
	run("deals")
	before := list("Contact")
	head := before[len(before)-1].Metadata.Cursor

	clock.Advance(29 * day)
	res, err := eng.PruneExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, nango.RetentionResult{}, *res, "nothing is 30 days old yet")

	clock.Advance(2 * day)
	res, err = eng.PruneExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, nango.RetentionResult{PrunedRecords: 3}, *res)
	for range 3 {
		run("deals")
	}
	res, err = eng.PruneExpired(ctx)
	require.NoError(t, err)
	// deals keeps its 2 newest runs of 4; its runs restored d1, whose last change is still
	// older than 30 days, so the pass prunes it again.
	require.Equal(t, nango.RetentionResult{PrunedRecords: 1, DeletedRuns: 2}, *res)
	runs, err := eng.Store().RunList(ctx, &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "deals", Connection: "conn-1"}})
	require.NoError(t, err)
	require.Len(t, runs, 2, "run history capped")
	pruned := list("Contact")
	require.Len(t, pruned, 2)
	for i, r := range pruned {
		require.Empty(t, r.Data)
		require.Equal(t, clock.Now(), r.Metadata.PrunedAt)
		require.Equal(t, before[i].ID, r.ID, "feed order unchanged")
		require.Equal(t, before[i].Metadata.Cursor, r.Metadata.Cursor, "cursor unchanged")
		require.Equal(t, before[i].Metadata.LastModifiedAt, r.Metadata.LastModifiedAt)
	}

	// The same payloads again: restored, no UPDATED, nothing new in the feed.
	rr := run("contacts")
	require.Equal(t, nango.ModelResult{Unchanged: 2}, rr.Models["Contact"])
	require.Equal(t, before, list("Contact"))
	page, err := eng.ListRecords(ctx, nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact", Cursor: head})
	require.NoError(t, err)
	require.Empty(t, page.Records)

	// 61 days later contacts has not run again; deals has.
	clock.Advance(60 * day)
	run("deals")
	clock.Advance(day)
	res, err = eng.PruneExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.DeletedStreams)
	require.Equal(t, 2, res.DeletedRuns, "the run of deals beyond the 2 newest, and the run of contacts that ended 92 days ago")
	require.Empty(t, list("Contact"), "the idle stream is deleted")
	require.Len(t, list("Deal"), 1, "the active stream is kept")
}

func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	for _, rc := range []nango.RetentionConfig{
		{PayloadAge: -time.Hour}, {IdleStreamAge: -1}, {RunHistoryKeep: -1}, {RunHistoryAge: -time.Minute}, {Interval: -time.Second}, {BatchSize: -1}, {BatchSize: 10001},
	} {
		_, err := nango.NewEngine(memory.New(), &nango.Config{Retention: &rc})
		require.ErrorIs(t, err, nango.ErrInvalidConfig, "%+v", rc)
	}
}

// Engine.Run prunes in the background, on the engine's clock.
func TestRetentionInBackground(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	clock := nangotest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Clock: clock, Retention: &nango.RetentionConfig{Interval: time.Hour}})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Contact"}},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				return n.BatchSave(ctx, []map[string]any{{"id": "c1"}}, "Contact")
			})},
	}}))
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "conn-1"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "conn-1", nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	clock.Advance(31 * day)
	require.Eventually(t, func() bool {
		clock.Advance(time.Hour) // the pass runs every hour of the fake clock
		page, err := eng.ListRecords(ctx, nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact"})
		return err == nil && len(page.Records) == 1 && !page.Records[0].Metadata.PrunedAt.IsZero()
	}, 10*time.Second, 10*time.Millisecond)
}

// With a data key store, the background pass deletes from it a key that no connection names
// once it is over an hour old, and keeps the connection's own.
func TestRetentionSweepsDataKeyStoreInBackground(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	data, keys := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); keys.Close() })
	eng, err := nango.NewEngine(data, &nango.Config{Clock: clock, EncryptionKeys: [][]byte{key(3)}, DataKeyStore: keys,
		Retention: &nango.RetentionConfig{Interval: time.Hour, SweepDataKeys: true}})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Contact"}},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				return n.BatchSave(ctx, []map[string]any{{"id": "c1"}}, "Contact")
			})},
	}}))
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "conn-1"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "conn-1", nil)
	require.NoError(t, err)
	named, err := keys.ConnectionList(ctx, "crm")
	require.NoError(t, err)
	require.Len(t, named, 1, "the connection's key")
	// A key row that its engine wrote and never named, as it writes them.
	now := clock.Now()
	require.NoError(t, keys.ConnectionPut(ctx, &store.Connection{Integration: "crm", ID: "00112233445566ff",
		Metadata: []byte(`{"connection":"conn-1"}`), DataKey: []byte("a wrapped key"), CreatedAt: now, UpdatedAt: now}))
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	require.Eventually(t, func() bool {
		clock.Advance(time.Hour) // the pass runs every hour of the fake clock
		rows, err := keys.ConnectionList(ctx, "crm")
		return err == nil && len(rows) == 1
	}, 10*time.Second, 10*time.Millisecond)
	rows, err := keys.ConnectionList(ctx, "crm")
	require.NoError(t, err)
	require.Equal(t, named[0].ID, rows[0].ID, "the named key stays")
	items, err := eng.ListRecords(ctx, nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact"})
	require.NoError(t, err)
	require.Len(t, items.Records, 1, "the connection's records still open")
}
