package nango

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// handClock is a clock that only moves when a test moves it.
type handClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *handClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *handClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *handClock) After(time.Duration) <-chan time.Time { return make(chan time.Time, 1) }

func (c *handClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// keyStorePairs opens a data store and a separate data key store on each backend.
func keyStorePairs() map[string]func(t *testing.T) (data, keys store.Store) {
	pairs := map[string]func(t *testing.T) (store.Store, store.Store){
		"memory": func(t *testing.T) (store.Store, store.Store) {
			data, keys := memory.New(), memory.New()
			t.Cleanup(func() { data.Close(); keys.Close() })
			return data, keys
		},
		"bolt": func(t *testing.T) (store.Store, store.Store) {
			dir := t.TempDir()
			open := func(name string) store.Store {
				st, err := bolt.Open(filepath.Join(dir, name), nil)
				require.NoError(t, err)
				t.Cleanup(func() { st.Close() })
				return st
			}
			return open("syncs.db"), open("keys.db")
		},
	}
	if url := os.Getenv("NANGO_TEST_POSTGRES_URL"); url != "" {
		pairs["postgres"] = func(t *testing.T) (store.Store, store.Store) {
			prefix := fmt.Sprintf("keysweep_%d_%d", os.Getpid(), time.Now().UnixNano())
			open := func(schema string) store.Store {
				st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
				require.NoError(t, err)
				t.Cleanup(func() {
					_, _ = st.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
					st.Close()
				})
				return st
			}
			return open(prefix + "_data"), open(prefix + "_keys")
		}
	}
	return pairs
}

// The retention pass deletes from the data key store the keys that no connection holds once
// they are older than the grace period: one whose engine stopped before naming it, and one
// copied there for a connection being deleted. It keeps a key written within the grace period,
// every key a connection names, and the copy of a key that its connection still keeps in the
// engine's store; the connections keep their data.
func TestKeyStoreSweep(t *testing.T) {
	t.Parallel()
	for name, open := range keyStorePairs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			data, ks := open(t)
			clock := &handClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			master := bytes.Repeat([]byte{5}, EncryptionKeySize)
			var logs bytes.Buffer
			var logMu sync.Mutex
			logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &logMu, w: &logs}, nil))
			// Batches of one row: a pass goes through several.
			eng, err := NewEngine(data, &Config{Clock: clock, Logger: logger, EncryptionKeys: [][]byte{master}, DataKeyStore: ks,
				Retention: &RetentionConfig{BatchSize: 1, SweepDataKeys: true}})
			require.NoError(t, err)
			legacy, err := NewEngine(data, &Config{Clock: clock, EncryptionKeys: [][]byte{master}})
			require.NoError(t, err)
			for _, c := range []string{"named", "crashed", "deleting", "wrapped"} {
				require.NoError(t, data.ConnectionPut(ctx, &store.Connection{Integration: "crm", ID: c}))
			}
			rowsOf := func() []string {
				rows, err := ks.ConnectionList(ctx, "")
				require.NoError(t, err)
				var out []string
				for _, r := range rows {
					out = append(out, r.ID)
				}
				return out
			}
			randomID := func() []byte {
				id := make([]byte, keyIDLen)
				_, _ = rand.Read(id)
				return id
			}

			// A key named by its connection.
			named, err := eng.keys.dataKey(ctx, "crm", "named", true)
			require.NoError(t, err)
			// An engine that wrote its key's row and stopped before naming it.
			crashed := randomID()
			require.NoError(t, eng.keys.putRow(ctx, "crm", "crashed", crashed, []byte("wrapped key")))
			// A key still wrapped in the engine's store, and its copy left by a move whose
			// update failed.
			wrapped, err := legacy.keys.dataKey(ctx, "crm", "wrapped", true)
			require.NoError(t, err)
			c, err := data.ConnectionGet(ctx, "crm", "wrapped")
			require.NoError(t, err)
			require.NoError(t, eng.keys.putRow(ctx, "crm", "wrapped", wrapped.id(), c.DataKey))
			// A key still wrapped in the engine's store, moved to the key store by an engine
			// that stopped before seeing that the connection's deletion had begun (which had
			// looked for the row before it was written).
			moved, err := legacy.keys.dataKey(ctx, "crm", "deleting", true)
			require.NoError(t, err)
			c, err = data.ConnectionGet(ctx, "crm", "deleting")
			require.NoError(t, err)
			require.NoError(t, eng.keys.destroy(ctx, "crm", "deleting"))
			require.NoError(t, eng.keys.putRow(ctx, "crm", "deleting", moved.id(), c.DataKey))
			c, err = data.ConnectionGet(ctx, "crm", "deleting")
			require.NoError(t, err)
			require.Equal(t, moved.id(), deletedKeyID(c.DataKey), "the connection is marked as being deleted")
			require.Len(t, rowsOf(), 4)

			res, err := eng.PruneExpired(ctx)
			require.NoError(t, err)
			require.Zero(t, res.DeletedDataKeys, "no key is older than the grace period yet")

			clock.Advance(30 * time.Minute)
			// Without SweepDataKeys (the default) no pass deletes a key, however old: here an
			// engine whose clock is hours ahead.
			later := &handClock{now: clock.Now().Add(2 * time.Hour)}
			cautious, err := NewEngine(data, &Config{Clock: later, Logger: slog.New(slog.DiscardHandler), EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
			require.NoError(t, err)
			res, err = cautious.PruneExpired(ctx)
			require.NoError(t, err)
			require.Zero(t, res.DeletedDataKeys)
			require.Len(t, rowsOf(), 4, "the sweep is off by default")
			young := randomID()
			require.NoError(t, eng.keys.putRow(ctx, "crm", "crashed", young, []byte("another wrapped key")))
			clock.Advance(31 * time.Minute)
			res, err = eng.PruneExpired(ctx)
			require.NoError(t, err)
			require.Equal(t, 2, res.DeletedDataKeys)
			require.ElementsMatch(t, []string{keyRowID(named.id()), keyRowID(wrapped.id()), keyRowID(young)}, rowsOf(),
				"the named key, the copy of a key its connection holds and the young key stay")
			logMu.Lock()
			require.Contains(t, logs.String(), "count=2")
			require.NotContains(t, logs.String(), keyRowID(crashed))
			logMu.Unlock()

			clock.Advance(30 * time.Minute)
			res, err = eng.PruneExpired(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, res.DeletedDataKeys, "the young key, once old")
			require.ElementsMatch(t, []string{keyRowID(named.id()), keyRowID(wrapped.id())}, rowsOf())

			// The connections that hold keys read them as before, and the deletion finishes.
			dk, err := eng.keys.dataKey(ctx, "crm", "named", false)
			require.NoError(t, err)
			require.Equal(t, named.id(), dk.id())
			dk, err = eng.keys.dataKey(ctx, "crm", "wrapped", true)
			require.NoError(t, err)
			require.Equal(t, wrapped.id(), dk.id(), "the key moves over its copy")
			require.NoError(t, eng.DeleteConnection(ctx, "crm", "deleting"))
			_, err = data.ConnectionGet(ctx, "crm", "deleting")
			require.ErrorIs(t, err, store.ErrNotFound)

			clock.Advance(24 * time.Hour)
			res, err = eng.PruneExpired(ctx)
			require.NoError(t, err)
			require.Zero(t, res.DeletedDataKeys, "keys that connections name are never deleted")
			require.ElementsMatch(t, []string{keyRowID(named.id()), keyRowID(wrapped.id())}, rowsOf())
		})
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// updateHook is a store that runs a function, once, just before its next connection update.
type updateHook struct {
	store.Store
	once   sync.Once
	before func()
}

func (h *updateHook) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	h.once.Do(h.before)
	return h.Store.ConnectionUpdate(ctx, integration, id, update)
}

// An engine that stalls between writing its new key and naming it for longer than the grace
// period finds the key deleted by another engine's retention pass: it writes it again, and the
// connection's data is sealed with a key that the key store holds.
func TestKeyStoreSweepAfterStall(t *testing.T) {
	t.Parallel()
	for name, open := range keyStorePairs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			data, ks := open(t)
			clock := &handClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			master := bytes.Repeat([]byte{4}, EncryptionKeySize)
			sweeper, err := NewEngine(data, &Config{Clock: clock, Logger: slog.New(slog.DiscardHandler), EncryptionKeys: [][]byte{master}, DataKeyStore: ks,
				Retention: &RetentionConfig{SweepDataKeys: true}})
			require.NoError(t, err)
			var swept int
			stalled := &updateHook{Store: data, before: func() {
				clock.Advance(2 * time.Hour)
				res, err := sweeper.PruneExpired(ctx)
				require.NoError(t, err)
				swept = res.DeletedDataKeys
			}}
			maker, err := NewEngine(stalled, &Config{Clock: clock, EncryptionKeys: [][]byte{master}, DataKeyStore: ks})
			require.NoError(t, err)
			require.NoError(t, data.ConnectionPut(ctx, &store.Connection{Integration: "crm", ID: "acme"}))

			dk, err := maker.keys.dataKey(ctx, "crm", "acme", true)
			require.NoError(t, err)
			require.Equal(t, 1, swept, "the pass deleted the row not yet named")
			rows, err := ks.ConnectionList(ctx, "")
			require.NoError(t, err)
			require.Len(t, rows, 1, "the row is written again")
			require.Equal(t, keyRowID(dk.id()), rows[0].ID)
			again, err := sweeper.keys.dataKey(ctx, "crm", "acme", false)
			require.NoError(t, err, "another engine reads the key")
			require.Equal(t, dk.id(), again.id())
		})
	}
}

// unlistable is a key store that cannot be listed.
type unlistable struct{ store.Connections }

func (unlistable) ConnectionList(context.Context, string) ([]*store.Connection, error) {
	return nil, fmt.Errorf("key store unreachable")
}

// A key store that cannot be reached fails the pass with an error that says where, and deletes
// nothing; the rest of the pass runs.
func TestKeyStoreSweepUnreachable(t *testing.T) {
	t.Parallel()
	data, ks := memory.New(), memory.New()
	t.Cleanup(func() { data.Close(); ks.Close() })
	master := bytes.Repeat([]byte{3}, EncryptionKeySize)
	eng, err := NewEngine(data, &Config{Logger: slog.New(slog.DiscardHandler), EncryptionKeys: [][]byte{master}, DataKeyStore: unlistable{ks},
		Retention: &RetentionConfig{SweepDataKeys: true}})
	require.NoError(t, err)
	res, err := eng.PruneExpired(t.Context())
	require.ErrorContains(t, err, "sweeping the data key store: reading the data key store: key store unreachable")
	require.NotNil(t, res)
	require.Zero(t, res.DeletedDataKeys)
}
