package bolt

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrOpenInProcess is returned by Open for a file that this process has open already, for
// writing or (for a writer) at all: bbolt's file lock would make the second Open wait for its
// timeout and then fail, since a process's own locks exclude each other too.
var ErrOpenInProcess = errors.New("bolt: the file is already open in this process")

// openFiles are the store files this process has open, with whether for reading only.
var openFiles struct {
	mu    sync.Mutex
	files map[*openFile]struct{}
}

type openFile struct {
	info     os.FileInfo
	readOnly bool
}

// claimFile records that f (at path) is being opened, unless this process holds the same file
// in a way that excludes it. release undoes it.
func claimFile(f *os.File, path string, readOnly bool) (release func(), err error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	openFiles.mu.Lock()
	defer openFiles.mu.Unlock()
	for of := range openFiles.files {
		if os.SameFile(of.info, info) && !(readOnly && of.readOnly) {
			mode := "for writing"
			if of.readOnly {
				mode = "read-only"
			}
			return nil, fmt.Errorf("%w: %s is open %s by another Store; share that Store or close it first", ErrOpenInProcess, path, mode)
		}
	}
	if openFiles.files == nil {
		openFiles.files = map[*openFile]struct{}{}
	}
	of := &openFile{info: info, readOnly: readOnly}
	openFiles.files[of] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			openFiles.mu.Lock()
			delete(openFiles.files, of)
			openFiles.mu.Unlock()
		})
	}, nil
}
