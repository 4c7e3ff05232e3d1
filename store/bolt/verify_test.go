package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"
)

var testStream = store.Stream{Integration: "i", Connection: "c", Model: "m"}

var discard = slog.New(slog.DiscardHandler)

// writeStore writes n records to a new store file and closes it.
func writeStore(t testing.TB, path string, n int) {
	t.Helper()
	s, err := bolt.Open(path, &bolt.Options{NoSync: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	writeRecords(t, s, n)
	require.NoError(t, s.Close())
}

// writeFull writes a store with a bit of everything: records, a connection, a checkpoint, runs
// and webhooks.
func writeFull(t testing.TB, path string, n int) {
	t.Helper()
	s, err := bolt.Open(path, &bolt.Options{NoSync: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	writeRecords(t, s, n)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, s.ConnectionPut(ctx, &store.Connection{Integration: "i", ID: "c", Metadata: []byte(`{"a":1}`), Credentials: []byte(`{"token":"t"}`)}))
	_, err = s.CheckpointPut(ctx, &store.CheckpointPutParams{Key: store.CheckpointKey{Integration: "i", Sync: "s", Connection: "c"}, Data: []byte(`{"page":3}`)})
	require.NoError(t, err)
	key := store.SyncKey{Integration: "i", Sync: "s", Connection: "c"}
	for r := range 5 {
		run := &store.Run{ID: fmt.Sprintf("run%d", r), Key: key, State: store.RunRunning, StartedAt: now}
		require.NoError(t, s.RunInsert(ctx, run))
		run.State, run.EndedAt = store.RunSucceeded, now.Add(time.Minute)
		var out []*store.OutboxEntry
		for e := range 3 {
			out = append(out, &store.OutboxEntry{ID: fmt.Sprintf("w%d-%d", r, e), Endpoint: "http://127.0.0.1:1/hook", Body: []byte(`{}`), RunID: run.ID, Key: key, Model: "m"})
		}
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{Run: run, Outbox: out}))
	}
	require.NoError(t, s.Close())
}

func writeRecords(t testing.TB, s *bolt.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		batch := make([]store.RecordInput, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, store.RecordInput{Data: fmt.Appendf(nil, `{"id":"r%06d","name":"record number %d"}`, j, j)})
		}
		_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: testStream, Records: batch})
		require.NoError(t, err)
	}
}

func requireCorrupt(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	var ce *bolt.CorruptError
	require.True(t, errors.As(err, &ce), "want a *CorruptError, got %T: %v", err, err)
	require.ErrorIs(t, err, store.ErrCorrupt)
	require.Contains(t, err.Error(), want)
	require.Contains(t, err.Error(), "restore it from a backup")
}

// TestOpenTruncatedFile cuts a store of 30,000 records to half and to its first 16 KiB: Open
// answers with a *CorruptError instead of a panic in bbolt's goroutine or a SIGBUS.
func TestOpenTruncatedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	full := filepath.Join(dir, "full.db")
	writeStore(t, full, 30_000)
	data, err := os.ReadFile(full)
	require.NoError(t, err)
	for _, size := range []int{len(data) / 2, 16 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("cut-%d.db", size))
			require.NoError(t, os.WriteFile(path, data[:size], 0o600))
			_, err := bolt.Open(path, &bolt.Options{Timeout: 100 * time.Millisecond})
			requireCorrupt(t, err, "cut short")
			require.ErrorIs(t, err, bolt.ErrNotStore)
			_, err = bolt.Open(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
			requireCorrupt(t, err, "cut short")
		})
	}
	s, err := bolt.Open(full, nil)
	require.NoError(t, err, "the whole file still opens")
	res, err := s.RecordsList(context.Background(), &store.RecordsListParams{Stream: testStream, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, res.Records, 1000)
	require.NoError(t, s.Close())
}

// TestFileCutWhileOpen truncates the file under an open store: reads fail with a *CorruptError
// (the fault on the mapped pages is recovered) and the process lives on.
func TestFileCutWhileOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	writeStore(t, path, 30_000)
	s, err := bolt.Open(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.Truncate(path, 16<<10))
	_, err = s.RecordsList(context.Background(), &store.RecordsListParams{Stream: testStream, Limit: 1000})
	requireCorrupt(t, err, "cut short while open")
	require.NotEmpty(t, s.Damage())
}

// TestOpenDamagedMeta flips bytes of the meta pages: one bad meta page is a write a crash cut
// short and the other one is used; two are a damaged file.
func TestOpenDamagedMeta(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeStore(t, good, 100)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	const pageSize = 4096 // bbolt's default on this platform's page size; checked below
	require.Equal(t, 0, len(data)%pageSize)

	one := append([]byte(nil), data...)
	one[16+40] ^= 0xFF // meta 0's high-water mark: its checksum fails
	path := filepath.Join(dir, "one.db")
	require.NoError(t, os.WriteFile(path, one, 0o600))
	s, err := bolt.Open(path, nil)
	require.NoError(t, err, "bbolt falls back to the other meta page")
	st, err := s.StreamStats(context.Background(), testStream)
	require.NoError(t, err)
	require.Equal(t, 100, st.Live)
	require.NoError(t, s.Close())

	both := append([]byte(nil), data...)
	both[16+40] ^= 0xFF
	both[pageSize+16+40] ^= 0xFF
	path = filepath.Join(dir, "both.db")
	require.NoError(t, os.WriteFile(path, both, 0o600))
	_, err = bolt.Open(path, nil)
	requireCorrupt(t, err, "checksum mismatch")
}

// TestOpenDamagedPage points a branch of the tree outside the file, and at itself.
func TestOpenDamagedPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeStore(t, good, 5000)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	// The root page of the stream's change log, a branch page in a store of this size.
	var root uint64
	db, err := bbolt.Open(good, 0o600, &bbolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		root = uint64(tx.Bucket([]byte("streams")).Bucket([]byte("i\x00c\x00m")).Bucket([]byte("l")).Root())
		return nil
	}))
	require.NoError(t, db.Close())
	const pageSize = 4096
	branch := int(root) * pageSize
	require.Equal(t, byte(0x01), data[branch+8], "a store of 5,000 records has a branch page")
	for _, child := range []uint64{1 << 40, root} {
		bad := append([]byte(nil), data...)
		for i := range 8 {
			bad[branch+16+8+i] = byte(child >> (8 * i)) // little-endian, like bbolt on amd64 and arm64
		}
		path := filepath.Join(dir, fmt.Sprintf("bad-%d.db", child))
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		_, err = bolt.Open(path, nil)
		requireCorrupt(t, err, fmt.Sprintf("page %d", branch/pageSize))
	}
}
