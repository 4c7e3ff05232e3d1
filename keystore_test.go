package nango_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// keyStoreBackend is a data store, a separate store for data keys, and a way to take a raw
// backup of the data store and open it as a store.
type keyStoreBackend struct {
	name string
	open func(t *testing.T) (data, keys store.Store, backup func() store.Store)
}

func keyStoreBackends() []keyStoreBackend {
	backends := []keyStoreBackend{{"bolt", func(t *testing.T) (store.Store, store.Store, func() store.Store) {
		dir := t.TempDir()
		open := func(name string) store.Store {
			st, err := bolt.Open(filepath.Join(dir, name), nil)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		}
		data, keys := open("syncs.db"), open("keys.db")
		n := 0
		return data, keys, func() store.Store {
			// Every commit is on disk: the file as it is now is what a backup copies.
			b, err := os.ReadFile(filepath.Join(dir, "syncs.db"))
			require.NoError(t, err)
			n++
			name := fmt.Sprintf("backup-%d.db", n)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
			return open(name)
		}
	}}}
	if url := os.Getenv("NANGO_TEST_POSTGRES_URL"); url != "" {
		backends = append(backends, keyStoreBackend{"postgres", func(t *testing.T) (store.Store, store.Store, func() store.Store) {
			prefix := fmt.Sprintf("keystore_%d_%d", os.Getpid(), time.Now().UnixNano())
			open := func(schema string) *postgres.Store {
				st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
				require.NoError(t, err)
				t.Cleanup(func() {
					_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
					st.Close()
				})
				return st
			}
			data, keys := open(prefix+"_data"), open(prefix+"_keys")
			return data, keys, func() store.Store {
				// A copy of every table of the data schema into a new schema.
				backup := open(prefix + "_backup")
				rows, err := data.Pool().Query(t.Context(),
					`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'schema_version'`, prefix+"_data")
				require.NoError(t, err)
				var tables []string
				for rows.Next() {
					var name string
					require.NoError(t, rows.Scan(&name))
					tables = append(tables, name)
				}
				require.NoError(t, rows.Err())
				require.NotEmpty(t, tables)
				for _, table := range tables {
					_, err := data.Pool().Exec(t.Context(), fmt.Sprintf("INSERT INTO %s_backup.%s SELECT * FROM %s_data.%s", prefix, table, prefix, table))
					require.NoError(t, err, table)
				}
				return backup
			}
		}})
	}
	return backends
}

func keyStoreEngine(t *testing.T, st store.Store, ks store.Connections, f *sealedFix, keys ...[]byte) *nango.Engine {
	t.Helper()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler), EncryptionKeys: keys, DataKeyStore: ks})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(f.integration()))
	return eng
}

func runOn(t *testing.T, eng *nango.Engine, conn string) nango.ModelResult {
	t.Helper()
	res, err := eng.RunSync(t.Context(), "vault", "items", conn, nil)
	require.NoError(t, err)
	require.Equal(t, nango.RunSucceeded, res.State, res.Err)
	return res.Models["Item"]
}

func listOn(ctx context.Context, eng *nango.Engine, conn string) ([]secretItem, error) {
	var out []secretItem
	for r, err := range nango.RecordsOf[secretItem](ctx, eng, nango.ListRecordsParams{Integration: "vault", Connection: conn, Model: "Item", Limit: 1000}) {
		if err != nil {
			return nil, err
		}
		out = append(out, r.Value)
	}
	return out, nil
}

func checkpointOn(ctx context.Context, eng *nango.Engine, conn string) (string, error) {
	var cp map[string]string
	found, err := eng.GetCheckpoint(ctx, "vault", "items", conn, &cp)
	if err == nil && !found {
		err = errors.New("no checkpoint")
	}
	return cp["page"], err
}

// With a separate data key store, deleting a connection makes its records and checkpoints
// unreadable in a backup of the data store taken before the deletion, even with the master
// key and the key store; the other connections' stay readable there.
func TestDeletedConnectionUnreadableInBackups(t *testing.T) {
	t.Parallel()
	for _, b := range keyStoreBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			data, keys, backup := b.open(t)
			f := &sealedFix{n: 20}
			master := key(7)
			eng := keyStoreEngine(t, data, keys, f, master)
			for _, c := range []string{"c1", "c2"} {
				require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: c}))
				require.Equal(t, nango.ModelResult{Added: 20}, runOn(t, eng, c))
				items, err := listOn(t.Context(), eng, c)
				require.NoError(t, err)
				require.Len(t, items, 20)
				require.Equal(t, "topsecret-004", items[4].Secret)
			}
			rows, err := keys.ConnectionList(t.Context(), "vault")
			require.NoError(t, err)
			require.Len(t, rows, 2, "one data key per connection, in the key store")
			requireNoClearText(t, storedBytes(t, data), "the data store")

			// The data store alone, with the master key, opens nothing: it holds no key.
			alone, err := nango.NewStoreOpener(data, [][]byte{master})
			require.NoError(t, err)
			err = alone.OpenRecords(t.Context(), sealedStream, storedRecords(t, data)[:1])
			require.ErrorContains(t, err, "Config.DataKeyStore is not set")

			old := backup()
			require.NoError(t, eng.DeleteConnection(t.Context(), "vault", "c1"))
			rows, err = keys.ConnectionList(t.Context(), "vault")
			require.NoError(t, err)
			require.Len(t, rows, 1, "the deleted connection's key is gone from the key store")

			restored := keyStoreEngine(t, old, keys, f, master)
			_, err = listOn(t.Context(), restored, "c1")
			require.ErrorIs(t, err, nango.ErrDataKeyNotFound, "the deleted connection's records in the backup")
			require.ErrorContains(t, err, `connection "c1" of "vault"`)
			_, err = checkpointOn(t.Context(), restored, "c1")
			require.ErrorIs(t, err, nango.ErrDataKeyNotFound, "the deleted connection's checkpoint in the backup")
			opener, err := nango.NewStoreOpener(old, [][]byte{master})
			require.NoError(t, err)
			err = opener.OpenRecords(t.Context(), sealedStream, storedRecords(t, old)[:1])
			require.Error(t, err, "nor does a reader of the store without the key store")
			withKeys := opener.WithDataKeyStore(keys)
			err = withKeys.OpenRecords(t.Context(), sealedStream, storedRecords(t, old)[:1])
			require.ErrorIs(t, err, nango.ErrDataKeyNotFound, "nor with it")
			other := store.Stream{Integration: "vault", Connection: "c2", Model: "Item"}
			res, err := old.RecordsList(t.Context(), &store.RecordsListParams{Stream: other, Limit: 1})
			require.NoError(t, err)
			require.NoError(t, withKeys.OpenRecords(t.Context(), other, res.Records), "another connection's records open")
			require.Contains(t, string(res.Records[0].Data), "topsecret-")

			items, err := listOn(t.Context(), restored, "c2")
			require.NoError(t, err, "another connection's records in the backup")
			require.Len(t, items, 20)
			require.Equal(t, "topsecret-019", items[19].Secret)
			page, err := checkpointOn(t.Context(), restored, "c2")
			require.NoError(t, err)
			require.Equal(t, "checkpointsecret", page)

			// The connection added again gets a new key; the old data still does not open.
			require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
			require.Equal(t, nango.ModelResult{Added: 20}, runOn(t, eng, "c1"))
			_, err = listOn(t.Context(), restored, "c1")
			require.ErrorIs(t, err, nango.ErrDataKeyNotFound)
		})
	}
}

// Data keys made before the key store was set keep working; each moves to the key store at its
// connection's next write, or by ReencryptCredentials, and is then gone from the data store.
func TestDataKeysMoveToKeyStore(t *testing.T) {
	t.Parallel()
	data, keys := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); keys.Close() })
	f := &sealedFix{n: 10}
	k1, k2 := key(1), key(2)
	before := keyStoreEngine(t, data, nil, f, k1)
	for _, c := range []string{"c1", "c2"} {
		require.NoError(t, before.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: c}))
		require.Equal(t, nango.ModelResult{Added: 10}, runOn(t, before, c))
	}
	dataOnly, err := nango.NewStoreOpener(data, [][]byte{k1})
	require.NoError(t, err)
	require.NoError(t, dataOnly.OpenRecords(t.Context(), sealedStream, storedRecords(t, data)), "the keys are in the data store")

	eng := keyStoreEngine(t, data, keys, f, k1)
	items, err := listOn(t.Context(), eng, "c1")
	require.NoError(t, err, "a key in the data store still opens")
	require.Len(t, items, 10)
	rows, err := keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "a read moves nothing")

	require.Equal(t, nango.ModelResult{Unchanged: 10}, runOn(t, eng, "c1"), "the same key: the hashes match")
	rows, err = keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, rows, 1, "the run moved c1's key")
	err = dataOnly.OpenRecords(t.Context(), sealedStream, storedRecords(t, data))
	require.ErrorContains(t, err, "Config.DataKeyStore is not set", "the data store no longer holds c1's key")
	_, err = listOn(t.Context(), before, "c1")
	require.ErrorContains(t, err, "Config.DataKeyStore is not set", "an engine without the key store")
	require.ErrorContains(t, before.DeleteConnection(t.Context(), "vault", "c1"), "Config.DataKeyStore is not set",
		"an engine without the key store does not delete a connection whose key it cannot destroy")

	// ReencryptCredentials moves the others, and a rotation re-wraps the keys in the key store.
	n, err := eng.ReencryptCredentials(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n, "c2's key moved")
	rotated := keyStoreEngine(t, data, keys, f, k2, k1)
	n, err = rotated.ReencryptCredentials(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n, "both keys in the key store wrapped again")
	only2 := keyStoreEngine(t, data, keys, f, k2)
	for _, c := range []string{"c1", "c2"} {
		items, err := listOn(t.Context(), only2, c)
		require.NoError(t, err, c)
		require.Len(t, items, 10)
		page, err := checkpointOn(t.Context(), only2, c)
		require.NoError(t, err, c)
		require.Equal(t, "checkpointsecret", page)
		require.Equal(t, nango.ModelResult{Unchanged: 10}, runOn(t, only2, c))
	}
	_, err = listOn(t.Context(), keyStoreEngine(t, data, keys, f, k1), "c1")
	require.ErrorContains(t, err, "not in Config.EncryptionKeys", "the old master key alone no longer opens")

	require.NoError(t, only2.DeleteConnection(t.Context(), "vault", "c1"))
	rows, err = keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, rows, 1)
}

// flakyKeys is a key store that can be made unreachable.
type flakyKeys struct {
	store.Connections
	down atomic.Bool
}

var errKeysDown = errors.New("key store unreachable")

func (k *flakyKeys) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	if k.down.Load() {
		return nil, errKeysDown
	}
	return k.Connections.ConnectionGet(ctx, integration, id)
}

func (k *flakyKeys) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if k.down.Load() {
		return errKeysDown
	}
	return k.Connections.ConnectionPut(ctx, c)
}

func (k *flakyKeys) ConnectionDelete(ctx context.Context, integration, id string) error {
	if k.down.Load() {
		return errKeysDown
	}
	return k.Connections.ConnectionDelete(ctx, integration, id)
}

// An unreachable key store fails writes, reads and deletions with its error, and leaves
// nothing half-written.
func TestKeyStoreUnreachable(t *testing.T) {
	t.Parallel()
	data, mem := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); mem.Close() })
	keys := &flakyKeys{Connections: mem}
	f := &sealedFix{n: 5}
	eng := keyStoreEngine(t, data, keys, f, key(3))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))

	keys.down.Store(true)
	_, err := eng.RunSync(t.Context(), "vault", "items", "c1", nil)
	require.ErrorIs(t, err, errKeysDown, "the run fails")
	require.ErrorContains(t, err, "data key store")
	cur, err := data.StreamCursor(t.Context(), sealedStream)
	require.NoError(t, err)
	require.Empty(t, cur, "no record written")
	c, err := data.ConnectionGet(t.Context(), "vault", "c1")
	require.NoError(t, err)
	require.Empty(t, c.DataKey, "no key named")

	keys.down.Store(false)
	require.Equal(t, nango.ModelResult{Added: 5}, runOn(t, eng, "c1"))
	keys.down.Store(true)
	_, err = listOn(t.Context(), eng, "c1")
	require.ErrorIs(t, err, errKeysDown)
	err = eng.DeleteConnection(t.Context(), "vault", "c1")
	require.ErrorIs(t, err, errKeysDown)
	keys.down.Store(false)
	items, err := listOn(t.Context(), eng, "c1")
	require.NoError(t, err, "a deletion that could not destroy the key deleted nothing")
	require.Len(t, items, 5)
	require.NoError(t, eng.DeleteConnection(t.Context(), "vault", "c1"))
}

func TestDataKeyStoreValidated(t *testing.T) {
	t.Parallel()
	st, ks := memory.New(), memory.New()
	t.Cleanup(func() { st.Close(); ks.Close() })
	_, err := nango.NewEngine(st, &nango.Config{DataKeyStore: ks})
	require.ErrorContains(t, err, "EncryptionKeys is empty")
	_, err = nango.NewEngine(st, &nango.Config{DataKeyStore: st, EncryptionKeys: [][]byte{key(1)}})
	require.ErrorContains(t, err, "DataKeyStore is the engine's store")
	_, err = nango.NewEngine(st, &nango.Config{DataKeyStore: ks, EncryptionKeys: [][]byte{key(1)}})
	require.NoError(t, err, "another memory store")
}

// A key store that is another handle on the engine's own data is refused: its key rows would
// be the engine's connections (phantoms that get runs, and whose deletion destroys a real
// connection's key).
func TestDataKeyStoreOnTheEnginesData(t *testing.T) {
	t.Parallel()
	cfg := func(ks store.Connections) *nango.Config {
		return &nango.Config{DataKeyStore: ks, EncryptionKeys: [][]byte{key(1)}, Logger: slog.New(slog.DiscardHandler)}
	}
	t.Run("bolt", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		open := func(name string, ro bool) *bolt.Store {
			st, err := bolt.Open(filepath.Join(dir, name), &bolt.Options{ReadOnly: ro})
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		}
		open("syncs.db", false).Close()
		// Two read-only handles on one file are the only two handles bolt opens on it.
		a, b := open("syncs.db", true), open("syncs.db", true)
		_, err := nango.NewEngine(a, cfg(b))
		require.ErrorContains(t, err, "DataKeyStore is the engine's store")
		_, err = nango.NewEngine(open("data.db", false), cfg(open("keys.db", false)))
		require.NoError(t, err, "another file")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("NANGO_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("NANGO_TEST_POSTGRES_URL is not set")
		}
		prefix := fmt.Sprintf("keysame_%d_%d", os.Getpid(), time.Now().UnixNano())
		open := func(schema string) *postgres.Store {
			st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
				st.Close()
			})
			return st
		}
		data := open(prefix + "_data")
		_, err := nango.NewEngine(data, cfg(open(prefix+"_data")))
		require.ErrorContains(t, err, "DataKeyStore is the engine's store", "a second Open of the same schema")
		_, err = nango.NewEngine(data, cfg(open(prefix+"_keys")))
		require.NoError(t, err, "another schema")
	})
}

// A dry run neither makes nor moves a data key in the key store.
func TestDryRunWritesNoDataKey(t *testing.T) {
	t.Parallel()
	data, keys := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); keys.Close() })
	f := &sealedFix{n: 3}
	before := keyStoreEngine(t, data, nil, f, key(1))
	require.NoError(t, before.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "old"}))
	require.Equal(t, nango.ModelResult{Added: 3}, runOn(t, before, "old"))

	eng := keyStoreEngine(t, data, keys, f, key(1))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "new"}))
	for _, c := range []string{"new", "old"} {
		report, err := eng.DryRun(t.Context(), "vault", "items", c, nil)
		require.NoError(t, err, c)
		require.JSONEq(t, `{"page":"checkpointsecret"}`, string(report.Checkpoint), c)
	}
	rows, err := keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "the dry runs wrote no key")
	c, err := data.ConnectionGet(t.Context(), "vault", "new")
	require.NoError(t, err)
	require.Empty(t, c.DataKey)
	items, err := listOn(t.Context(), before, "old")
	require.NoError(t, err, "the old connection's key is still where it was")
	require.Len(t, items, 3)
}

// failingDelete is a data store whose connection deletion fails, as if the process stopped
// there.
type failingDelete struct {
	store.Store
	fail atomic.Bool
}

func (s *failingDelete) ConnectionDelete(ctx context.Context, integration, id string) error {
	if s.fail.Load() {
		return errors.New("store stopped")
	}
	return s.Store.ConnectionDelete(ctx, integration, id)
}

// A deletion that stops after destroying the key leaves data that no longer decrypts, and
// calling it again finishes it.
func TestDeletionStoppedAfterTheKey(t *testing.T) {
	t.Parallel()
	mem, keys := memory.New(), memory.New()
	t.Cleanup(func() { mem.Close(); keys.Close() })
	data := &failingDelete{Store: mem}
	f := &sealedFix{n: 4}
	eng := keyStoreEngine(t, data, keys, f, key(4))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
	require.Equal(t, nango.ModelResult{Added: 4}, runOn(t, eng, "c1"))

	data.fail.Store(true)
	require.ErrorContains(t, eng.DeleteConnection(t.Context(), "vault", "c1"), "store stopped")
	rows, err := keys.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "the key went first")
	_, err = listOn(t.Context(), eng, "c1")
	require.ErrorIs(t, err, nango.ErrDataKeyNotFound, "what is left does not decrypt")
	_, err = eng.RunSync(t.Context(), "vault", "items", "c1", nil)
	require.ErrorIs(t, err, nango.ErrDataKeyNotFound, "nor is a new key made for it")

	data.fail.Store(false)
	require.NoError(t, eng.DeleteConnection(t.Context(), "vault", "c1"))
	_, err = mem.ConnectionGet(t.Context(), "vault", "c1")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// Adding a connection again after a deletion that stopped midway is refused with an error that
// says to finish the deletion; once it is finished, the connection is added afresh and works.
func TestAddConnectionAfterUnfinishedDeletion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write bool // the connection has a data key when it is deleted
	}{{"with a key", true}, {"without a key", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem, keys := memory.New(), memory.New()
			t.Cleanup(func() { mem.Close(); keys.Close() })
			data := &failingDelete{Store: mem}
			f := &sealedFix{n: 3}
			eng := keyStoreEngine(t, data, keys, f, key(5))
			require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
			if tc.write {
				require.Equal(t, nango.ModelResult{Added: 3}, runOn(t, eng, "c1"))
			}
			data.fail.Store(true)
			require.ErrorContains(t, eng.DeleteConnection(t.Context(), "vault", "c1"), "store stopped")
			data.fail.Store(false)

			err := eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1", Metadata: map[string]string{"a": "b"}})
			require.ErrorContains(t, err, "call DeleteConnection again")
			require.ErrorContains(t, err, `"c1" of "vault"`)
			c, err := mem.ConnectionGet(t.Context(), "vault", "c1")
			require.NoError(t, err)
			require.Empty(t, c.Metadata, "nothing changed")

			require.NoError(t, eng.DeleteConnection(t.Context(), "vault", "c1"))
			require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "vault", ID: "c1"}))
			require.Equal(t, nango.ModelResult{Added: 3}, runOn(t, eng, "c1"), "the connection added again works")
			items, err := listOn(t.Context(), eng, "c1")
			require.NoError(t, err)
			require.Len(t, items, 3)
		})
	}
}
