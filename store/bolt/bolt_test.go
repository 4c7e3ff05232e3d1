package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/storetest"
	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, &bolt.Options{Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "store.db"))
	}, storetest.Features{
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*bolt.Store).DB().Path()
			require.NoError(t, s.Close())
			return open(t, path)
		},
		// MultiProcess stays nil: bbolt's file lock admits one process (see TestOpenLockedFile).
	})
}

func TestOpenLockedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	s := open(t, path)
	defer s.Close()
	// A second open in the same process fails at once, without waiting for the lock's timeout
	// (bbolt's flock excludes it too, so it could never succeed).
	for _, ro := range []bool{false, true} {
		_, err := bolt.Open(path, &bolt.Options{Timeout: time.Minute, ReadOnly: ro})
		require.ErrorIs(t, err, bolt.ErrOpenInProcess)
		require.Contains(t, err.Error(), path+" is open for writing by another Store")
	}
	// Through another name for the same file, too.
	link := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(path, link))
	_, err := bolt.Open(link, &bolt.Options{Timeout: time.Minute})
	require.ErrorIs(t, err, bolt.ErrOpenInProcess)
	// Once closed, it opens again.
	require.NoError(t, s.Close())
	s2 := open(t, link)
	require.NoError(t, s2.Close())
}

func TestOpenCorruptFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	require.NoError(t, os.WriteFile(path, make([]byte, 64*1024), 0o600))
	_, err := bolt.Open(path, nil)
	require.ErrorIs(t, err, bolt.ErrNotStore)

	garbage := []byte("this is not a database file at all, just some text that is long enough")
	path2 := filepath.Join(t.TempDir(), "text.db")
	require.NoError(t, os.WriteFile(path2, append(garbage, make([]byte, 8192)...), 0o600))
	_, err = bolt.Open(path2, nil)
	require.Error(t, err)
	require.ErrorIs(t, err, bolt.ErrNotStore)
}

func TestOpenForeignBoltFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("somebody-else"))
		return err
	}))
	require.NoError(t, db.Close())
	_, err = bolt.Open(path, nil)
	require.ErrorIs(t, err, bolt.ErrNotStore)
	require.Contains(t, err.Error(), "another program")
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, s.Close())
	_, err := s.RecordsList(context.Background(), &store.RecordsListParams{Stream: store.Stream{Integration: "i", Connection: "c", Model: "m"}})
	require.True(t, errors.Is(err, store.ErrClosed), "got %v", err)
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	_, err := bolt.Open(path, &bolt.Options{ReadOnly: true})
	require.Error(t, err, "a reader does not create a missing file")

	s := open(t, path)
	ctx := context.Background()
	stream := store.Stream{Integration: "i", Connection: "c", Model: "m"}
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{{Data: []byte(`{"id":"1"}`)}}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	r1, err := bolt.Open(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	defer r1.Close()
	r2, err := bolt.Open(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err, "several readers at once")
	defer r2.Close()
	res, err := r2.RecordsList(ctx, &store.RecordsListParams{Stream: stream})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	_, err = r1.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{{Data: []byte(`{"id":"2"}`)}}})
	require.ErrorIs(t, err, bolt.ErrReadOnly)
	_, err = bolt.Open(path, &bolt.Options{Timeout: time.Minute})
	require.ErrorIs(t, err, bolt.ErrOpenInProcess, "no writer while readers hold the file")

	empty := filepath.Join(t.TempDir(), "empty.db")
	e, err := bolt.Open(empty, nil)
	require.NoError(t, err)
	require.NoError(t, e.Close())
	ro, err := bolt.Open(empty, &bolt.Options{ReadOnly: true})
	require.NoError(t, err, "an initialised store opens read-only")
	require.NoError(t, ro.Close())
}

// TestWindowCompaction saves a stream in many small, overlapping writes (as runs that keep
// failing do) and checks that the window's chunks stay few and the sweep still deletes exactly
// the records no write saw.
func TestWindowCompaction(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "store.db"))
	defer s.Close()
	ctx := context.Background()
	stream := store.Stream{Integration: "i", Connection: "c", Model: "m"}
	rec := func(i int) store.RecordInput {
		return store.RecordInput{Data: []byte(fmt.Sprintf(`{"id":"r%05d"}`, i))}
	}
	var all []store.RecordInput
	for i := 0; i < 3000; i++ {
		all = append(all, rec(i))
	}
	_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: all})
	require.NoError(t, err)
	// 80 writes of 600 records from ids 0..2499 (a window spanning runs that keep failing):
	// each write makes a chunk of its own, so compaction must keep the count down.
	for w := 0; w < 80; w++ {
		batch := make([]store.RecordInput, 0, 600)
		for j := 0; j < 600; j++ {
			batch = append(batch, rec((w*600+j)%2500))
		}
		_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: batch, TrackSeen: "sync"})
		require.NoError(t, err)
	}
	chunks := 0
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		w := tx.Bucket([]byte("windows")).Bucket([]byte("i\x00c\x00m\x00sync"))
		require.NotNil(t, w)
		return w.ForEach(func(_, _ []byte) error { chunks++; return nil })
	}))
	require.LessOrEqual(t, chunks, 65)
	res, err := s.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: stream, Sync: "sync"})
	require.NoError(t, err)
	require.Equal(t, 500, res.Deleted)
	list, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: stream, Filter: store.FilterDeleted, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, list.Records, 500)
	require.Equal(t, "r02500", list.Records[0].ID)
}
