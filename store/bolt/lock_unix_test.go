//go:build unix

package bolt_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

// TestOpenLockedByAnotherProcess holds the file's lock as another process would (a lock on a
// descriptor of its own): Open waits for its timeout and fails with ErrLocked.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	writeStore(t, path, 10)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	_, err = bolt.Open(path, &bolt.Options{Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, bolt.ErrLocked)
	require.Contains(t, err.Error(), path)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
	s, err := bolt.Open(path, &bolt.Options{Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
