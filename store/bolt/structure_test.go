package bolt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"
)

// craft writes a full store, changes it with raw bbolt, and opens it.
func craft(t *testing.T, n int, change func(tx *bbolt.Tx) error) *bolt.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	writeFull(t, path, n)
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(change))
	require.NoError(t, db.Close())
	s, err := bolt.Open(path, &bolt.Options{Timeout: 100 * time.Millisecond, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func streamBucket(tx *bbolt.Tx) *bbolt.Bucket {
	return tx.Bucket([]byte("streams")).Bucket([]byte("i\x00c\x00m"))
}

var syncKey = store.SyncKey{Integration: "i", Sync: "s", Connection: "c"}

func TestStreamWithoutLog(t *testing.T) {
	t.Parallel()
	s := craft(t, 50, func(tx *bbolt.Tx) error { return streamBucket(tx).DeleteBucket([]byte("l")) })
	ctx := context.Background()
	_, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: testStream})
	requireCorrupt(t, err, "stream i/c/m: its index or change log bucket is missing")
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: testStream, Records: []store.RecordInput{{Data: []byte(`{"id":"x"}`)}}})
	requireCorrupt(t, err, "change log bucket is missing")
	st, err := s.StreamStats(ctx, testStream)
	require.NoError(t, err, "stats read only the stream's state")
	require.Equal(t, 50, st.Live)
	require.Len(t, s.Damage(), 1, "reported once")
	require.ErrorIs(t, s.ConnectionDelete(ctx, "i", "c"), store.ErrCorrupt)
}

func TestRunsBucketMissing(t *testing.T) {
	t.Parallel()
	s := craft(t, 1, func(tx *bbolt.Tx) error { return tx.Bucket([]byte("runs")).DeleteBucket([]byte("i\x00s\x00c")) })
	ctx := context.Background()
	_, err := s.RunGet(ctx, "run1")
	requireCorrupt(t, err, "run run1: indexed, but the runs of i/s/c are missing")
	_, err = s.RunLastSuccess(ctx, syncKey)
	require.ErrorIs(t, err, store.ErrCorrupt)
	_, err = s.RunList(ctx, &store.RunListParams{Key: syncKey, Before: "run3"})
	require.ErrorIs(t, err, store.ErrCorrupt)
	err = s.RunUpdate(ctx, &store.Run{ID: "run1", Key: syncKey, State: store.RunFailed, StartedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrCorrupt)
}

// TestOrphanedDueKey puts a due key without its entry ahead of the others: claims deliver the
// rest, and the key goes.
func TestOrphanedDueKey(t *testing.T) {
	t.Parallel()
	s := craft(t, 1, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("outboxdue")).Put(append(make([]byte, 8), "ghost"...), nil)
	})
	ctx := context.Background()
	now := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	claimed, err := s.OutboxClaim(ctx, &store.OutboxClaimParams{Owner: "w", TTL: time.Minute, Now: now, Limit: 100})
	require.NoError(t, err)
	require.Len(t, claimed, 15)
	require.Equal(t, []bolt.Damage{{Where: "outbox due index key 000000000000000067686f7374", Problem: "names no outbox entry; removed"}}, s.Damage())
}

// TestListsSkipDamagedEntries damages one entry of each list: the others are listed and the
// damage reported.
func TestListsSkipDamagedEntries(t *testing.T) {
	t.Parallel()
	var logKey []byte
	s := craft(t, 50, func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte("outbox")).Put([]byte("w2-1"), []byte("{not json")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("connections")).Put([]byte("i\x00broken"), []byte("[")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("runs")).Bucket([]byte("i\x00s\x00c")).Put(binary.BigEndian.AppendUint64(nil, 2), []byte("?")); err != nil {
			return err
		}
		logKey, _ = streamBucket(tx).Bucket([]byte("l")).Cursor().First()
		logKey = append([]byte(nil), logKey...)
		return streamBucket(tx).Bucket([]byte("l")).Put(logKey, []byte{9, 9, 9})
	})
	ctx := context.Background()
	entries, err := s.OutboxList(ctx, &store.OutboxListParams{Limit: 100})
	require.NoError(t, err)
	require.Len(t, entries, 14)
	conns, err := s.ConnectionList(ctx, "i")
	require.NoError(t, err)
	require.Len(t, conns, 1)
	runs, err := s.RunList(ctx, &store.RunListParams{Key: syncKey})
	require.NoError(t, err)
	require.Len(t, runs, 4)
	res, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: testStream, Limit: 100})
	require.NoError(t, err)
	require.Len(t, res.Records, 49)
	claimed, err := s.OutboxClaim(ctx, &store.OutboxClaimParams{Owner: "w", TTL: time.Minute, Now: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), Limit: 100})
	require.NoError(t, err)
	require.Len(t, claimed, 14, "the damaged entry does not stop the others")
	require.Len(t, s.Damage(), 5, "each damaged entry, and the due key removed")
}

// TestBitFlips flips random bits in copies of a valid store and goes through the store's read
// paths on each: a copy is refused at open, fails a read, or reads without error (the flip hit a
// value, or a page in no use). No read panics: a panic recovered by a transaction's guard counts
// as a failure here, since it means a check is missing. NANGO_BITFLIP_COPIES sets the number of
// copies (default 200).
func TestBitFlips(t *testing.T) {
	t.Parallel()
	copies := 200
	if v, err := strconv.Atoi(os.Getenv("NANGO_BITFLIP_COPIES")); err == nil && v > 0 {
		copies = v
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeFull(t, good, 3000)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(14, 14))
	var refused, failed, silent int
	for i := range copies {
		bad := append([]byte(nil), data...)
		for range 1 + rng.IntN(8) {
			bit := rng.IntN(len(bad) * 8)
			bad[bit/8] ^= 1 << (bit % 8)
		}
		path := filepath.Join(dir, fmt.Sprintf("flip%d.db", i))
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		s, err := bolt.Open(path, &bolt.Options{Timeout: 100 * time.Millisecond, NoSync: true, Logger: discard})
		if err != nil {
			require.ErrorIs(t, err, bolt.ErrNotStore)
			refused++
			continue
		}
		readAll(context.Background(), s)
		require.NoError(t, s.Close())
		switch {
		case len(s.Damage()) == 0:
			silent++
		default:
			for _, d := range s.Damage() {
				require.NotEqual(t, "a transaction", d.Where, "copy %d: a read panicked: %s", i, d.Problem)
			}
			failed++
		}
		require.NoError(t, os.Remove(path))
	}
	t.Logf("%d copies with 1 to 8 flipped bits: %d refused at open, %d reported damage on a read, %d read without error",
		copies, refused, failed, silent)
	require.Equal(t, copies, refused+failed+silent)
}
