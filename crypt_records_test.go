package nango_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// secretItem is a record whose fields must never reach the store in the clear.
type secretItem struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Extra  string `json:"extra,omitempty"`
}

// sealedFix is an engine's integration whose sync saves (or merges) n secret items, with a
// checkpoint that holds a secret too.
type sealedFix struct {
	mu    sync.Mutex
	merge bool
	n     int
}

func (f *sealedFix) integration() nango.Integration {
	return nango.Integration{Key: "vault", BaseURL: "http://127.0.0.1:1",
		Syncs: []nango.SyncConfig{{Name: "items", Frequency: "every day", Models: []nango.Model{nango.ModelOf[secretItem]("Item")},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				f.mu.Lock()
				merge, count := f.merge, f.n
				f.mu.Unlock()
				items := make([]secretItem, count)
				for i := range items {
					items[i] = secretItem{ID: fmt.Sprintf("item-%03d", i), Secret: fmt.Sprintf("topsecret-%03d", i)}
				}
				if merge {
					patches := make([]map[string]string, count)
					for i := range patches {
						patches[i] = map[string]string{"id": items[i].ID, "extra": fmt.Sprintf("mergedsecret-%03d", i)}
					}
					return n.BatchUpdate(ctx, patches, "Item")
				}
				return n.BatchSave(ctx, items, "Item", nango.WithCheckpoint(map[string]string{"page": "checkpointsecret"}))
			})}},
	}
}

// sealedBackend is a store under test and a way to read what it holds in bytes.
type sealedBackend struct {
	name string
	open func(t *testing.T) (st store.Store, raw func() []byte)
}

func sealedBackends(t *testing.T) []sealedBackend {
	backends := []sealedBackend{
		{"bolt", func(t *testing.T) (store.Store, func() []byte) {
			path := filepath.Join(t.TempDir(), "syncs.db")
			st, err := bolt.Open(path, nil)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st, func() []byte {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				return b
			}
		}},
		{"memory", func(t *testing.T) (store.Store, func() []byte) {
			st := memory.New()
			t.Cleanup(func() { st.Close() })
			return st, func() []byte { return storedBytes(t, st) }
		}},
	}
	if url := os.Getenv("NANGO_TEST_POSTGRES_URL"); url != "" {
		backends = append(backends, sealedBackend{"postgres", func(t *testing.T) (store.Store, func() []byte) {
			schema := fmt.Sprintf("sealed_%d_%d", os.Getpid(), time.Now().UnixNano())
			st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				st.Close()
			})
			return st, func() []byte {
				var out []byte
				for _, table := range []string{"records", "checkpoints", "connections"} {
					rows, err := st.Pool().Query(t.Context(), "SELECT data FROM "+schema+"."+table)
					require.NoError(t, err)
					for rows.Next() {
						var b []byte
						require.NoError(t, rows.Scan(&b))
						out = append(out, b...)
					}
					require.NoError(t, rows.Err())
				}
				return out
			}
		}})
	}
	return backends
}

// storedBytes is every record payload, checkpoint and connection st holds, as stored.
func storedBytes(t *testing.T, st store.Store) []byte {
	t.Helper()
	var out []byte
	for _, r := range storedRecords(t, st) {
		out = append(out, r.Data...)
	}
	if cp, err := st.CheckpointGet(t.Context(), store.CheckpointKey{Integration: "vault", Sync: "items", Connection: "c1"}); err == nil {
		out = append(out, cp.Data...)
	}
	conns, err := st.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	for _, c := range conns {
		out = append(out, c.Metadata...)
		out = append(out, c.Credentials...)
		out = append(out, c.DataKey...)
	}
	return out
}

// storedRecords lists the records of vault/c1/Item as the store holds them.
func storedRecords(t *testing.T, st store.Store) []store.Record {
	t.Helper()
	res, err := st.RecordsList(t.Context(), &store.RecordsListParams{Stream: sealedStream, Limit: store.MaxListLimit})
	require.NoError(t, err)
	return res.Records
}

var sealedStream = store.Stream{Integration: "vault", Connection: "c1", Model: "Item"}

func requireNoClearText(t *testing.T, raw []byte, what string) {
	t.Helper()
	for _, s := range []string{"topsecret-", "mergedsecret-", "checkpointsecret"} {
		require.False(t, bytes.Contains(raw, []byte(s)), "%s holds %q in the clear", what, s)
	}
}

func sealedEngine(t *testing.T, st store.Store, f *sealedFix, keys ...[]byte) *nango.Engine {
	t.Helper()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler), EncryptionKeys: keys})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(f.integration()))
	return eng
}

func sealedRun(t *testing.T, eng *nango.Engine) nango.ModelResult {
	t.Helper()
	res, err := eng.RunSync(t.Context(), "vault", "items", "c1", nil)
	require.NoError(t, err)
	require.Equal(t, nango.RunSucceeded, res.State, res.Err)
	return res.Models["Item"]
}

func listItems(t *testing.T, eng *nango.Engine) []secretItem {
	t.Helper()
	var out []secretItem
	for r, err := range nango.RecordsOf[secretItem](t.Context(), eng, nango.ListRecordsParams{Integration: "vault", Connection: "c1", Model: "Item", Limit: 1000}) {
		require.NoError(t, err)
		out = append(out, r.Value)
	}
	return out
}

func TestRecordsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	for _, b := range sealedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, raw := b.open(t)
			f := &sealedFix{n: 50}
			k1, k2 := key(1), key(2)
			eng := sealedEngine(t, st, f, k1)
			require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))

			require.Equal(t, nango.ModelResult{Added: 50}, sealedRun(t, eng))
			requireNoClearText(t, raw(), "the store")
			if b.name == "bolt" { // the others' dumps above hold payloads only
				require.Contains(t, string(raw()), "item-007", "record ids are stored in the clear: the bytes read are the store's")
			}
			items := listItems(t, eng)
			require.Len(t, items, 50)
			require.Equal(t, "topsecret-007", items[7].Secret, "readers get the payloads in the clear")
			var cp map[string]string
			found, err := eng.GetCheckpoint(t.Context(), "vault", "items", "c1", &cp)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, "checkpointsecret", cp["page"])

			head, err := st.StreamCursor(t.Context(), sealedStream)
			require.NoError(t, err)
			require.Equal(t, nango.ModelResult{Unchanged: 50}, sealedRun(t, eng), "the same records again change nothing")
			head2, err := st.StreamCursor(t.Context(), sealedStream)
			require.NoError(t, err)
			require.Equal(t, head, head2, "an unchanged save writes no change")

			f.mu.Lock()
			f.merge = true
			f.mu.Unlock()
			require.Equal(t, nango.ModelResult{Updated: 50}, sealedRun(t, eng))
			items = listItems(t, eng)
			require.Equal(t, secretItem{ID: "item-003", Secret: "topsecret-003", Extra: "mergedsecret-003"}, items[3], "merged into the opened payload")
			requireNoClearText(t, raw(), "the store after a merge")
			require.Equal(t, nango.ModelResult{Unchanged: 50}, sealedRun(t, eng), "the same merge again changes nothing")

			// A consumer and a dry run read the payloads in the clear too.
			var consumed []nango.Record
			c, err := eng.NewConsumer(nango.ConsumerConfig{Name: "backend", Integration: "vault", BatchSize: 20,
				Handle: func(_ context.Context, b *nango.ChangeBatch) error {
					consumed = append(consumed, b.Records...)
					return nil
				}})
			require.NoError(t, err)
			got, err := c.Drain(t.Context())
			require.NoError(t, err)
			require.Equal(t, 50, got)
			require.Contains(t, string(consumed[49].Data), "mergedsecret-")
			f.mu.Lock()
			f.merge = false
			f.mu.Unlock()
			report, err := eng.DryRun(t.Context(), "vault", "items", "c1", nil)
			require.NoError(t, err)
			dm := report.Models["Item"]
			require.Equal(t, 50, dm.WouldUpdate, "saving the items without their merged field")
			require.Contains(t, string(dm.Updated[0].Before), "mergedsecret-", "the stored payload, opened")
			require.NotContains(t, string(dm.Updated[0].After), "mergedsecret-")
			require.JSONEq(t, `{"page":"checkpointsecret"}`, string(report.CheckpointBefore))
			f.mu.Lock()
			f.merge = true
			f.mu.Unlock()
			requireNoClearText(t, raw(), "the store after a dry run")

			// Rotation: a new master key first, the old one still there to open.
			rotated := sealedEngine(t, st, f, k2, k1)
			n, err := rotated.ReencryptCredentials(t.Context())
			require.NoError(t, err)
			require.Equal(t, 1, n, "the connection's data key is wrapped again")
			only2 := sealedEngine(t, st, f, k2)
			require.Equal(t, items, listItems(t, only2), "readable with the new key alone")
			found, err = only2.GetCheckpoint(t.Context(), "vault", "items", "c1", &cp)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, nango.ModelResult{Unchanged: 50}, sealedRun(t, only2), "rotation does not change the hashes")
			_, err = sealedEngine(t, st, f, k1).ListRecords(t.Context(), nango.ListRecordsParams{Integration: "vault", Connection: "c1", Model: "Item"})
			require.ErrorContains(t, err, "not in Config.EncryptionKeys", "the old key alone no longer opens the data key")
			_, err = sealedEngine(t, st, f).ListRecords(t.Context(), nango.ListRecordsParams{Integration: "vault", Connection: "c1", Model: "Item"})
			require.ErrorIs(t, err, nango.ErrNoEncryptionKey)

			// Deleting the connection deletes its data key: a sealed payload left anywhere no
			// longer opens, even with the master key, once the connection is added again.
			leftover := storedRecords(t, st)[0]
			conn, err := st.ConnectionGet(t.Context(), "vault", "c1")
			require.NoError(t, err)
			backup := memory.New() // what a backup taken before the deletion holds
			t.Cleanup(func() { backup.Close() })
			require.NoError(t, backup.ConnectionPut(t.Context(), conn))

			require.NoError(t, only2.DeleteConnection(t.Context(), "vault", "c1"))
			require.NoError(t, only2.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
			f.mu.Lock()
			f.merge, f.n = false, 1
			f.mu.Unlock()
			require.Equal(t, nango.ModelResult{Added: 1}, sealedRun(t, only2), "the new connection gets a new data key")
			opener, err := nango.NewStoreOpener(st, [][]byte{k2})
			require.NoError(t, err)
			err = opener.OpenRecords(t.Context(), sealedStream, []store.Record{leftover})
			require.ErrorContains(t, err, "another data key")

			fromBackup, err := nango.NewStoreOpener(backup, [][]byte{k2})
			require.NoError(t, err)
			recs := []store.Record{leftover}
			require.NoError(t, fromBackup.OpenRecords(t.Context(), sealedStream, recs), "a backup keeps the wrapped key")
			require.Contains(t, string(recs[0].Data), "topsecret-")
		})
	}
}

// Payloads stored before a key was set stay readable, are sealed by ReencryptRecords without a
// change, and an unchanged save afterwards writes nothing.
func TestRecordsSealedAfterTheFact(t *testing.T) {
	t.Parallel()
	for _, b := range sealedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, _ := b.open(t)
			f := &sealedFix{n: 30}
			plain := sealedEngine(t, st, f)
			require.NoError(t, plain.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
			require.Equal(t, nango.ModelResult{Added: 30}, sealedRun(t, plain))
			require.Contains(t, string(storedBytes(t, st)), "topsecret-", "without a key, payloads are in the clear")
			require.Equal(t, `{"id":"item-000","secret":"topsecret-000"}`, string(storedRecords(t, st)[0].Data), "stored as canonical JSON, as before")
			conn, err := st.ConnectionGet(t.Context(), "vault", "c1")
			require.NoError(t, err)
			require.Empty(t, conn.DataKey, "no data key without a master key")
			_, err = st.RecordsWrite(t.Context(), &store.RecordsWriteParams{Stream: sealedStream, Mode: store.WriteDelete,
				Records: []store.RecordInput{{ID: "item-000"}}})
			require.NoError(t, err)

			eng := sealedEngine(t, st, f, key(1))
			items := listItems(t, eng)
			require.Len(t, items, 30)
			require.Equal(t, "topsecret-004", items[3].Secret, "payloads in the clear stay readable")
			before := storedRecords(t, st)
			n, err := eng.ReencryptRecords(t.Context(), &nango.ReencryptRecordsOptions{BatchSize: 7})
			require.NoError(t, err)
			require.Equal(t, 30, n, "every payload is sealed, the deleted one too")
			after := storedRecords(t, st)
			var payloads []byte
			for i, r := range after {
				require.Equal(t, before[i].ID, r.ID)
				require.Equal(t, before[i].Metadata, r.Metadata, "sealing in place is not a change")
				payloads = append(payloads, r.Data...)
			}
			requireNoClearText(t, payloads, "the payloads")
			require.Equal(t, items, listItems(t, eng))

			n, err = eng.ReencryptRecords(t.Context(), nil)
			require.NoError(t, err)
			require.Zero(t, n, "sealed once")
			require.Equal(t, nango.ModelResult{Added: 1, Unchanged: 29}, sealedRun(t, eng), "the hashes are the data key's now; the deleted record comes back")
			requireNoClearText(t, storedBytes(t, st), "the store")
		})
	}
}

func TestReencryptRecordsOptions(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	eng := sealedEngine(t, st, &sealedFix{}, key(1))
	_, err := eng.ReencryptRecords(t.Context(), &nango.ReencryptRecordsOptions{BatchSize: 20000})
	require.ErrorContains(t, err, "batch size")
	_, err = eng.ReencryptRecords(t.Context(), &nango.ReencryptRecordsOptions{Connection: "c1"})
	require.ErrorContains(t, err, "needs its integration")
	n, err := sealedEngine(t, st, &sealedFix{}).ReencryptRecords(t.Context(), nil)
	require.NoError(t, err)
	require.Zero(t, n, "without keys it does nothing")
}

// A dry run for a connection that has no data key yet makes one in its sandbox only, and its
// report shows the checkpoint it would leave in the clear.
func TestDryRunEncryptedNewConnection(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	eng := sealedEngine(t, st, &sealedFix{n: 3}, key(1))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
	report, err := eng.DryRun(t.Context(), "vault", "items", "c1", nil)
	require.NoError(t, err)
	require.Equal(t, 3, report.Models["Item"].WouldAdd)
	require.Contains(t, string(report.Models["Item"].Added[0].Data), "topsecret-")
	require.JSONEq(t, `{"page":"checkpointsecret"}`, string(report.Checkpoint))
	c, err := st.ConnectionGet(t.Context(), "vault", "c1")
	require.NoError(t, err)
	require.Empty(t, c.DataKey, "the dry run wrote nothing")
}
