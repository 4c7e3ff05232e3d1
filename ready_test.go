package nango_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

// Engine.Ready is closed once Run has started the scheduler: before it, control calls answer
// ErrEngineNotRunning; after it, they take effect. A service waits for it before serving.
func TestReadyOpensWhenTheSchedulerRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{Frequency: "every day"}, nil)
	sel := nango.SyncSelector{Integration: "crm", Syncs: []string{"contacts"}, Connection: "conn-1"}
	select {
	case <-f.eng.Ready():
		t.Fatal("ready before Run")
	default:
	}
	require.ErrorIs(t, f.eng.Trigger(t.Context(), nango.TriggerParams{SyncSelector: sel}), nango.ErrEngineNotRunning)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.eng.Run(ctx) }()
	select {
	case <-f.eng.Ready():
	case err := <-done:
		t.Fatalf("Run returned before it was ready: %v", err)
	case <-time.After(time.Minute): // a bound on a hang, not a speed
		t.Fatal("Run never became ready")
	}
	// The new connection's first run may already be going; either way the engine answers.
	if err := f.eng.Trigger(t.Context(), nango.TriggerParams{SyncSelector: sel}); err != nil {
		require.ErrorIs(t, err, nango.ErrRunActive)
	}
	cancel()
	require.NoError(t, <-done)
}
