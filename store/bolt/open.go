package bolt

import (
	"errors"
	"fmt"
	"os"
)

var errLockTimeout = errors.New("lock timeout")

// openChecked opens the file at path as bbolt would, checks that this process does not hold it
// already, takes bbolt's lock, and verifies the file under it. The returned file, locked, is
// handed to bbolt (Options.OpenFile); release forgets the claim on it (see claimFile).
func openChecked(path string, o Options) (f *os.File, release func(), err error) {
	flag := os.O_RDWR | os.O_CREATE
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err = os.OpenFile(path, flag, o.FileMode)
	if err != nil {
		return nil, nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	if release, err = claimFile(f, path, o.ReadOnly); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	err = lockFile(f, !o.ReadOnly, o.Timeout)
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			err = verifyFile(f, fi.Size(), path)
		}
	}
	if err != nil {
		_ = f.Close()
		release()
		if errors.Is(err, errLockTimeout) {
			return nil, nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, o.Timeout)
		}
		return nil, nil, err
	}
	return f, release, nil
}

// handOver returns an Options.OpenFile for bbolt that gives it f, once.
func handOver(f **os.File) func(string, int, os.FileMode) (*os.File, error) {
	return func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if *f != nil {
			g := *f
			*f = nil
			return g, nil
		}
		return os.OpenFile(name, flag, perm)
	}
}
