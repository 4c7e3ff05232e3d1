package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// signalTests check store.Signaler, for the stores that implement it.
func signalTests() []test {
	return []test{
		{"EveryReceiverGetsIt", testSignalsFanOut},
		{"ClosedWhenDone", testSignalsClosed},
	}
}

func signaler(t *testing.T, su *suite) store.Signaler {
	s := su.open(t)
	sg, ok := s.(store.Signaler)
	if !ok {
		t.Skip("the store does not implement store.Signaler: engines share it by polling alone")
	}
	return sg
}

// receive waits for one signal; the bound only keeps a broken store from hanging the suite.
func receive(t *testing.T, ch <-chan store.Signal) store.Signal {
	t.Helper()
	select {
	case sig, ok := <-ch:
		require.True(t, ok, "signal channel closed early")
		return sig
	case <-time.After(30 * time.Second):
		t.Fatal("no signal received")
		return store.Signal{}
	}
}

func testSignalsFanOut(t *testing.T, su *suite) {
	sg := signaler(t, su)
	a, err := sg.Signals(t.Context())
	require.NoError(t, err)
	b, err := sg.Signals(t.Context())
	require.NoError(t, err)
	sent := []store.Signal{
		{Kind: store.SignalSchedule, Integration: "github", Connection: "c1", Sync: "issues", Origin: "replica-a"},
		{Kind: store.SignalConnection, Integration: "github", Connection: "c-2"},
		{Kind: store.SignalTrigger, Integration: "github", Connection: "c1", Sync: "issues"},
	}
	for _, sig := range sent {
		require.NoError(t, sg.Signal(t.Context(), sig))
	}
	for _, ch := range []<-chan store.Signal{a, b} {
		for _, want := range sent {
			require.Equal(t, want, receive(t, ch), "in send order, every field kept")
		}
	}
}

func testSignalsClosed(t *testing.T, su *suite) {
	sg := signaler(t, su)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := sg.Signals(ctx)
	require.NoError(t, err)
	cancel()
	select {
	case _, ok := <-ch:
		for ok { // drain what came before the cancellation
			_, ok = <-ch
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the channel was not closed after its context was done")
	}
	// Sending to a store whose receiver left still works.
	require.NoError(t, sg.Signal(t.Context(), store.Signal{Kind: store.SignalConnection, Integration: "github", Connection: "c1"}))
}
