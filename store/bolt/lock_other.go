//go:build !unix

package bolt

import (
	"os"
	"time"
)

// lockFile leaves locking to bbolt where flock is not available: the file is verified without
// the lock.
func lockFile(*os.File, bool, time.Duration) error { return nil }
