// Package storetest is the conformance suite of store.Store: the executable form of the contract
// written in prose in package store. Every implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() }, storetest.Features{})
//	}
//
// A capability an implementation lacks is declared in Features, and the tests that need it skip
// with a reason instead of passing silently.
package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// Features declares what an implementation can do; a missing capability makes the tests that
// need it t.Skip with a reason.
type Features struct {
	// Reopen, when set, closes s and opens the same durable store again (for persistence tests).
	// The suite closes the store it returns with t.Cleanup, and does not use or close s again.
	// Nil for memory.
	Reopen func(t *testing.T, s store.Store) store.Store
	// MultiProcess, when set, opens a second handle on the same store as s while s stays open,
	// as another process or replica of the engine would (for PostgreSQL, another connection
	// pool on the same schema). The suite closes the handle it returns with t.Cleanup, before
	// s. Nil when one process at a time owns the store (bolt's file lock).
	MultiProcess func(t *testing.T, s store.Store) store.Store
}

// Run runs the whole suite as subtests. newStore returns a fresh, empty store; the suite closes
// it with t.Cleanup. Every test gets its own store, so the tests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, f Features) {
	su := &suite{newStore: newStore, features: f}
	groups := []struct {
		name  string
		tests []test
	}{
		{"RecordsWrite", recordsWriteTests()},
		{"RecordsWriteInvalid", recordsInvalidTests()},
		{"Metadata", metadataTests()},
		{"Cursors", cursorTests()},
		{"RecordsList", recordsListTests()},
		{"Sweep", sweepTests()},
		{"Streams", streamTests()},
		{"Prune", pruneTests()},
		{"RunsPrune", runsPruneTests()},
		{"Checkpoints", checkpointTests()},
		{"Runs", runTests()},
		{"Connections", connectionTests()},
		{"Concurrency", concurrencyTests()},
		{"Lifecycle", lifecycleTests()},
		{"Persistence", persistenceTests()},
		{"Leases", leaseTests()},
		{"Schedules", scheduleTests()},
		{"Merging", mergingTests()},
		{"Outbox", outboxTests()},
		{"Consumers", consumerTests()},
		{"Codec", codecTests()},
		{"MultiProcess", multiProcessTests()},
		{"Signals", signalTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, su)
				})
			}
		})
	}
}

// test is one named test of the suite.
type test struct {
	name string
	run  func(t *testing.T, su *suite)
}

// suite holds what Run was given.
type suite struct {
	newStore func(t *testing.T) store.Store
	features Features
}

// handle is a store under test. It tracks the store across Reopen and Close so that the cleanup
// closes exactly the store that is open at the end.
type handle struct {
	su     *suite
	s      store.Store
	closed bool
}

// open returns a fresh store that is closed when the test ends.
func (su *suite) open(t *testing.T) store.Store {
	t.Helper()
	return su.openHandle(t).s
}

// openHandle returns a handle on a fresh store; the store open at the end of the test is closed.
func (su *suite) openHandle(t *testing.T) *handle {
	t.Helper()
	s := su.newStore(t)
	require.NotNil(t, s, "newStore returned nil")
	h := &handle{su: su, s: s}
	t.Cleanup(func() {
		if h.closed {
			return
		}
		if err := h.s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return h
}

// requireDurable skips the test unless the store can be reopened.
func (su *suite) requireDurable(t *testing.T) {
	t.Helper()
	if su.features.Reopen == nil {
		t.Skip("store is not durable (Features.Reopen is nil)")
	}
}

// openShared returns a fresh store and a second handle on it, or skips the test when the store
// cannot be shared.
func (su *suite) openShared(t *testing.T) (a, b store.Store) {
	t.Helper()
	if su.features.MultiProcess == nil {
		t.Skip("store serves one process at a time (Features.MultiProcess is nil)")
	}
	a = su.open(t)
	b = su.features.MultiProcess(t, a)
	require.NotNil(t, b, "Features.MultiProcess returned nil")
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the second handle: %v", err)
		}
	})
	return a, b
}

// reopen closes the store and opens it again through Features.Reopen.
func (h *handle) reopen(t *testing.T) store.Store {
	t.Helper()
	h.su.requireDurable(t)
	require.False(t, h.closed, "reopening a closed handle")
	h.closed = true
	s := h.su.features.Reopen(t, h.s)
	require.NotNil(t, s, "Features.Reopen returned nil")
	h.s, h.closed = s, false
	return s
}

// close closes the store; the cleanup will not close it again.
func (h *handle) close(t *testing.T) {
	t.Helper()
	h.closed = true
	require.NoError(t, h.s.Close())
}
