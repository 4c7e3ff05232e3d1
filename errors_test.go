package nango_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// Error texts have one prefix and say each fact once, however deep the error was made.
func TestErrorTextsHaveOnePrefix(t *testing.T) {
	t.Parallel()
	noop := nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil })
	register := func(in nango.Integration) error {
		eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return eng.RegisterIntegration(in)
	}
	err := register(nango.Integration{Key: "x", Syncs: []nango.SyncConfig{{
		Name: "s", Frequency: "every 5 seconds", Models: []nango.Model{{Name: "M"}}, Sync: noop,
	}}})
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
	require.ErrorIs(t, err, nango.ErrInvalidFrequency)
	require.True(t, strings.HasPrefix(err.Error(), `nango: invalid configuration: integration "x": sync "s": invalid frequency "every 5 seconds": `), err.Error())
	require.Equal(t, 1, strings.Count(err.Error(), "nango: "), err.Error())

	err = register(nango.Integration{Key: "x", Syncs: []nango.SyncConfig{{
		Name: "s", Models: []nango.Model{{Name: "M"}}, Sync: noop, DeleteGuard: &nango.DeleteGuard{MaxShare: 2},
	}}})
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
	require.EqualError(t, err, `nango: invalid configuration: integration "x": sync "s": delete guard max share 2 is outside 0..1`)

	err = register(nango.Integration{Key: "x", Syncs: []nango.SyncConfig{{Name: "s", Sync: noop}}})
	require.EqualError(t, err, `nango: invalid configuration: integration "x": sync "s" declares no models`)

	err = register(nango.Integration{Key: "", Syncs: []nango.SyncConfig{{Name: "s", Sync: noop}}})
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
	require.True(t, strings.HasPrefix(err.Error(), "nango: invalid configuration: "), err.Error())
	require.NotContains(t, err.Error(), ": store: ", "no second prefix inside the text")
}

// An error of the store inside an error of a run keeps one prefix.
func TestRunErrorTextsHaveOnePrefix(t *testing.T) {
	t.Parallel()
	st := memory.New()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var got error
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "s", Models: []nango.Model{{Name: "M"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			// Another writer changes the checkpoint under the run.
			key := store.CheckpointKey{Integration: "crm", Sync: "s", Connection: "c"}
			if _, err := st.CheckpointPut(ctx, &store.CheckpointPutParams{Key: key, Data: []byte(`{"x":1}`)}); err != nil {
				return err
			}
			got = n.SaveCheckpoint(ctx, map[string]int{"x": 2})
			return nil
		}),
	}}}))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "c"}))
	_, err = eng.RunSync(t.Context(), "crm", "s", "c", nil)
	require.NoError(t, err)
	require.ErrorIs(t, got, nango.ErrCheckpointConflict)
	require.EqualError(t, got, "nango: saving checkpoint: checkpoint version conflict: it was changed by another writer (checkpoint crm/s/c is at version 1, expected 0)")
}
