// Package memory is a store.Store held in memory, for tests and examples. It passes the same
// conformance suite (package storetest) as the durable stores, so a sync tested on it behaves
// the same on bolt or PostgreSQL. Everything is lost when the process ends.
package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/gonango/nango/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu          sync.RWMutex
	closed      bool
	streams     map[store.Stream]*stream
	windows     map[windowKey]map[string]struct{}
	checkpoints map[store.CheckpointKey]*store.Checkpoint
	runs        map[string]*store.Run
	runsByKey   map[store.SyncKey][]string // oldest first
	conns       map[connKey]*store.Connection
	leases      map[store.SyncKey]*leaseState
	schedules   map[store.SyncKey]*store.Schedule
	outbox      map[string]*store.OutboxEntry
	consumers   map[store.ConsumerKey]*store.ConsumerCursor
	signals     store.SignalHub // signal.go
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.Identifier = (*Store)(nil)
)

// StoreID implements store.Identifier: each Store holds data of its own.
func (s *Store) StoreID() string { return fmt.Sprintf("memory:%p", s) }

// New returns an empty store.
func New() *Store {
	return &Store{
		streams:     map[store.Stream]*stream{},
		windows:     map[windowKey]map[string]struct{}{},
		checkpoints: map[store.CheckpointKey]*store.Checkpoint{},
		runs:        map[string]*store.Run{},
		runsByKey:   map[store.SyncKey][]string{},
		conns:       map[connKey]*store.Connection{},
		leases:      map[store.SyncKey]*leaseState{},
		schedules:   map[store.SyncKey]*store.Schedule{},
		outbox:      map[string]*store.OutboxEntry{},
		consumers:   map[store.ConsumerKey]*store.ConsumerCursor{},
	}
}

func (s *Store) check(ctx context.Context) error {
	if s.closed {
		return store.ErrClosed
	}
	return ctx.Err()
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
