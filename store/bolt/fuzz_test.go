package bolt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// FuzzOpen opens mutated store files and reads them: Open and every read either work or return
// an error; nothing panics or faults.
func FuzzOpen(f *testing.F) {
	seed := filepath.Join(f.TempDir(), "seed.db")
	writeFull(f, seed, 40)
	data, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[:8192])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "store.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := bolt.Open(path, &bolt.Options{NoSync: true, Timeout: 10 * time.Millisecond, Logger: discard})
		if err != nil {
			if !errors.Is(err, bolt.ErrNotStore) {
				t.Fatalf("Open: %v, want an error matching ErrNotStore", err)
			}
			return
		}
		defer s.Close()
		readAll(context.Background(), s)
	})
}

// readAll goes through the store's read paths, ignoring their errors.
func readAll(ctx context.Context, s *bolt.Store) {
	res, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: testStream, Limit: 100})
	if err == nil && res.NextCursor != "" {
		_, _ = s.RecordsList(ctx, &store.RecordsListParams{Stream: testStream, Cursor: res.NextCursor, Limit: 100})
	}
	_, _ = s.RecordsList(ctx, &store.RecordsListParams{Stream: testStream, IDs: []string{"r000001", "r000007"}})
	_, _ = s.StreamStats(ctx, testStream)
	_, _ = s.StreamCursor(ctx, testStream)
	_, _ = s.ConnectionList(ctx, "")
	_, _ = s.ScheduleList(ctx, "")
	key := store.SyncKey{Integration: "i", Sync: "s", Connection: "c"}
	_, _ = s.RunList(ctx, &store.RunListParams{Key: key})
	_, _ = s.RunLastSuccess(ctx, key)
	_, _ = s.CheckpointGet(ctx, store.CheckpointKey{Integration: "i", Sync: "s", Connection: "c"})
	_, _ = s.OutboxList(ctx, &store.OutboxListParams{})
	_, _ = s.OutboxStats(ctx)
	_, _ = s.OutboxClaim(ctx, &store.OutboxClaimParams{Owner: "w", TTL: time.Minute, Now: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)})
	_, _ = s.LeaseAcquire(ctx, &store.LeaseAcquireParams{Key: key, Owner: "o", TTL: time.Minute})
	_, _ = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: testStream, Records: []store.RecordInput{{Data: []byte(`{"id":"new"}`)}}})
}
