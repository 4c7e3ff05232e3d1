package nango_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gonango/nango"
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
