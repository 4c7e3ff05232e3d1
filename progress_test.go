package nango_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

func TestRunProgress(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	saved := make(chan string)
	release := make(chan struct{})
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}, {Name: "Note"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			if err := n.BatchSave(ctx, []map[string]any{{"id": "1"}, {"id": "2"}, {"id": "3"}}, "Contact"); err != nil {
				return err
			}
			n.Logger().Info("first page saved")
			saved <- n.RunID()
			<-release
			return n.BatchSave(ctx, []map[string]any{{"id": "4"}}, "Contact")
		}),
	}}}))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "acme"}))

	done := make(chan *nango.RunResult, 1)
	go func() {
		res, _ := eng.RunSync(context.Background(), "crm", "contacts", "acme", nil)
		done <- res
	}()
	id := <-saved
	p, ok := eng.RunProgress(id)
	require.True(t, ok)
	require.Equal(t, id, p.RunID)
	require.Equal(t, "contacts", p.Sync)
	require.Equal(t, "acme", p.Connection)
	require.Equal(t, nango.TriggerManual, p.Trigger)
	require.Equal(t, map[string]nango.ModelResult{"Contact": {Added: 3}, "Note": {}}, p.Models)
	require.False(t, p.StartedAt.IsZero())
	require.Len(t, p.Log, 2)
	require.Contains(t, p.Log[1], "first page saved")
	_, ok = eng.RunProgress("run_unknown")
	require.False(t, ok)

	close(release)
	res := <-done
	require.Equal(t, nango.RunSucceeded, res.State)
	_, ok = eng.RunProgress(id)
	require.False(t, ok, "a finished run has no progress; its record is in the history")
}
