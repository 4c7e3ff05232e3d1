// Package overlay is the sandbox store of dry runs: a store.Store that reads a base store and
// keeps every write in memory, so that a run can go as usual over the real data and change
// nothing. It owns the rules of what reaches the base (a connection's refreshed credentials,
// nothing else) and the comparison of the sandbox's final state with the base (Store.Diff),
// which it decides with store's record classifier. It imports the store packages (store,
// store/memory) and the standard library, never the root package.
package overlay

import (
	"errors"
	"sync"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// ErrUnsupported is returned by the writes a sandbox refuses: emptying a stream or deleting a
// connection.
var ErrUnsupported = errors.New("nango: not supported in a dry run")

// Store is the sandbox over a base store. Records the run writes are first copied from the base
// into the sandbox (with their state: live, deleted or absent), so the sandbox classifies every
// write against what the base holds; checkpoints written by the run are kept beside it with the
// base's version numbers. Leases, runs, schedules, outbox entries and consumer cursors live in
// the sandbox. The one write that reaches the base is a connection's refreshed credentials: a
// provider that rotates refresh tokens has already invalidated the old one. Close releases the
// sandbox and leaves the base open.
type Store struct {
	base store.Store
	mem  *memory.Store

	mu          sync.Mutex
	streams     map[store.Stream]*stream
	checkpoints map[store.CheckpointKey]*checkpoint
	conns       map[connKey]*store.Connection
	onWrite     func(model string, r *store.RecordsWriteResult)
}

var _ store.Store = (*Store)(nil)

type connKey struct{ integration, id string }

// stream is what the sandbox knows of one stream.
type stream struct {
	base map[string]store.Held          // every id the run wrote: its state in the base, without data
	live map[string]bool                // every id the run wrote: live in the sandbox
	seen map[string]map[string]struct{} // deletion-tracking windows by sync
	// sweep is the last sweep's outcome, when there was one.
	sweep *sweep
}

type sweep struct {
	live, unseen int
	refused      bool
	samples      []store.Record // of the records the sweep deletes
}

type checkpoint struct {
	cp      store.Checkpoint
	deleted bool
}

// New returns a sandbox over base.
func New(base store.Store) *Store {
	return &Store{
		base:        base,
		mem:         memory.New(),
		streams:     map[store.Stream]*stream{},
		checkpoints: map[store.CheckpointKey]*checkpoint{},
		conns:       map[connKey]*store.Connection{},
	}
}

// OnWrite sets a function called after each successful RecordsWrite with the write's result,
// outside the sandbox's lock.
func (s *Store) OnWrite(fn func(model string, r *store.RecordsWriteResult)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = fn
}

// Close releases the sandbox; the base stays open.
func (s *Store) Close() error { return s.mem.Close() }
