package nango

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// Engines sharing a store and a data key store that make a connection's data key at the same
// moment agree on one, and the key store keeps only that one.
func TestDataKeyStoreMadeOnce(t *testing.T) {
	t.Parallel()
	type pair struct{ data, keys store.Store }
	backends := map[string]func(t *testing.T) pair{
		"memory": func(t *testing.T) pair {
			p := pair{memory.New(), memory.New()}
			t.Cleanup(func() { p.data.Close(); p.keys.Close() })
			return p
		},
	}
	if url := os.Getenv("NANGO_TEST_POSTGRES_URL"); url != "" {
		backends["postgres"] = func(t *testing.T) pair {
			prefix := fmt.Sprintf("keyrace_%d_%d", os.Getpid(), time.Now().UnixNano())
			open := func(schema string) store.Store {
				st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
				require.NoError(t, err)
				t.Cleanup(func() {
					_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
					st.Close()
				})
				return st
			}
			return pair{open(prefix + "_data"), open(prefix + "_keys")}
		}
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := open(t)
			require.NoError(t, p.data.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: "acme"}))
			master := bytes.Repeat([]byte{9}, EncryptionKeySize)
			const engines = 8
			keys := make([]*dataKey, engines)
			errs := make([]error, engines)
			var wg sync.WaitGroup
			for i := range engines {
				e, err := NewEngine(p.data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: p.keys})
				require.NoError(t, err)
				wg.Go(func() { keys[i], errs[i] = e.keys.dataKey(t.Context(), "crm", "acme", true) })
			}
			wg.Wait()
			for i, dk := range keys {
				require.NoError(t, errs[i], "engine %d", i)
				require.Equal(t, keys[0].id(), dk.id(), "engine %d has another key", i)
			}
			rows, err := p.keys.ConnectionList(t.Context(), "crm")
			require.NoError(t, err)
			require.Len(t, rows, 1, "the losers' keys are deleted")
			require.Equal(t, keyRowID(keys[0].id()), rows[0].ID)
			c, err := p.data.ConnectionGet(t.Context(), "crm", "acme")
			require.NoError(t, err)
			require.True(t, inKeyStore(c.DataKey), "the data store names the key")
			require.False(t, bytes.Contains(c.DataKey, rows[0].DataKey), "and does not hold it")
		})
	}
}

// A connection deleted while an engine makes its first data key leaves no key in the key
// store, whichever comes first.
func TestDataKeyStoreDeleteRacesCreate(t *testing.T) {
	t.Parallel()
	data, ks := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); ks.Close() })
	master := bytes.Repeat([]byte{5}, EncryptionKeySize)
	maker, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	deleter, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	require.NoError(t, deleter.RegisterIntegration(Integration{Key: "crm"}))
	for i := range 50 {
		id := fmt.Sprintf("acme-%d", i)
		require.NoError(t, data.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: id}))
		var wg sync.WaitGroup
		var delErr error
		wg.Go(func() { _, _ = maker.keys.dataKey(t.Context(), "crm", id, true) })
		wg.Go(func() { delErr = deleter.DeleteConnection(t.Context(), "crm", id) })
		wg.Wait()
		require.NoError(t, delErr, "round %d", i)
		rows, err := ks.ConnectionList(t.Context(), "crm")
		require.NoError(t, err)
		require.Empty(t, rows, "round %d: a key outlives its connection", i)
	}
}

// deleteHook is a store that runs a function just before deleting a connection.
type deleteHook struct {
	store.Store
	before func()
}

func (h *deleteHook) ConnectionDelete(ctx context.Context, integration, id string) error {
	h.before()
	return h.Store.ConnectionDelete(ctx, integration, id)
}

// The interleaving the deletion guards against: an engine makes the connection's first key
// after the deletion looked for one and before it deleted the connection.
func TestDataKeyMadeDuringDeletion(t *testing.T) {
	t.Parallel()
	data, ks := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); ks.Close() })
	master := bytes.Repeat([]byte{6}, EncryptionKeySize)
	maker, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	var makeErr error
	hooked := &deleteHook{Store: data, before: func() { _, makeErr = maker.keys.dataKey(t.Context(), "crm", "acme", true) }}
	deleter, err := NewEngine(hooked, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	require.NoError(t, deleter.RegisterIntegration(Integration{Key: "crm"}))
	require.NoError(t, data.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: "acme"}))

	require.NoError(t, deleter.DeleteConnection(t.Context(), "crm", "acme"))
	require.ErrorIs(t, makeErr, ErrDataKeyNotFound, "no key for a connection being deleted")
	require.ErrorContains(t, makeErr, "being deleted")
	rows, err := ks.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "no key outlives the connection")
}

// A data key still wrapped in the engine's store (made before the key store was set) that
// another engine moves to the key store while the connection is being deleted does not outlive
// the connection, and a deletion called again drops a copy left there.
func TestDataKeyMovedDuringDeletion(t *testing.T) {
	t.Parallel()
	data, ks := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); ks.Close() })
	master := bytes.Repeat([]byte{7}, EncryptionKeySize)
	before, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}})
	require.NoError(t, err)
	require.NoError(t, data.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: "acme"}))
	old, err := before.keys.dataKey(t.Context(), "crm", "acme", true)
	require.NoError(t, err)

	mover, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	deleter, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
	require.NoError(t, err)
	require.NoError(t, deleter.keys.destroy(t.Context(), "crm", "acme"))
	_, err = mover.keys.dataKey(t.Context(), "crm", "acme", true)
	require.ErrorIs(t, err, ErrDataKeyNotFound, "no key is moved for a connection being deleted")
	require.ErrorContains(t, err, "being deleted")
	require.NoError(t, data.ConnectionDelete(t.Context(), "crm", "acme"))
	rows, err := ks.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "no key outlives the connection")

	// A copy that a move left in the key store before the deletion began (its update of the
	// connection failed) goes with a deletion called again after one that stopped midway.
	require.NoError(t, data.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: "acme"}))
	dk, err := before.keys.dataKey(t.Context(), "crm", "acme", true)
	require.NoError(t, err)
	require.NotEqual(t, old.id(), dk.id())
	c, err := data.ConnectionGet(t.Context(), "crm", "acme")
	require.NoError(t, err)
	down := &flakyConns{Connections: ks}
	stopped, err := NewEngine(data, &Config{EncryptionKeys: [][]byte{master}, DataKeyStore: down})
	require.NoError(t, err)
	require.NoError(t, mover.keys.putRow(t.Context(), "crm", "acme", dk.id(), c.DataKey))
	down.failDelete = true
	require.Error(t, stopped.keys.destroy(t.Context(), "crm", "acme"))
	rows, err = ks.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NoError(t, deleter.keys.destroy(t.Context(), "crm", "acme"), "called again")
	rows, err = ks.ConnectionList(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, rows, "the copy is gone")
}

// flakyConns is a key store whose deletions can be made to fail.
type flakyConns struct {
	store.Connections
	failDelete bool
}

func (f *flakyConns) ConnectionDelete(ctx context.Context, integration, id string) error {
	if f.failDelete {
		return fmt.Errorf("key store unreachable")
	}
	return f.Connections.ConnectionDelete(ctx, integration, id)
}
