package memory_test

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/storetest"
)

// shared is a second handle on a memory store, as a second process would have on a shared
// store: closing it leaves the store open for the first.
type shared struct{ *memory.Store }

func (shared) Close() error { return nil }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() }, storetest.Features{
		MultiProcess: func(t *testing.T, s store.Store) store.Store { return shared{s.(*memory.Store)} },
	})
}
