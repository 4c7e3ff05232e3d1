package memory_test

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() }, storetest.Features{})
}
