package nango_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// Change detection compares numbers by value: a provider that writes 1 once and 1.0 the next
// time has not changed the record, as Nango (which keeps JSON.stringify of the parsed JSON)
// sees it; integers beyond 2^53 compare exactly.
func TestNumbersCompareByValue(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var batch []json.RawMessage
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "s", Models: []nango.Model{{Name: "M"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, batch, "M") }),
	}}}))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "c"}))
	run := func(records ...string) nango.ModelResult {
		batch = batch[:0]
		for _, r := range records {
			batch = append(batch, json.RawMessage(r))
		}
		res, err := eng.RunSync(t.Context(), "crm", "s", "c", nil)
		require.NoError(t, err)
		return res.Models["M"]
	}
	require.Equal(t, 2, run(`{"id":"a","n":1,"big":9007199254740993}`, `{"id":"b","x":0.5}`).Added)
	m := run(`{"id":"a","n":1.0,"big":9007199254740993.0}`, `{"id":"b","x":5e-1}`)
	require.Equal(t, 2, m.Unchanged)
	require.Zero(t, m.Updated)
	m = run(`{"id":"a","n":1,"big":9007199254740992}`)
	require.Equal(t, 1, m.Updated, "2^53 and 2^53+1 are different numbers")
	page, err := eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: "crm", Connection: "c", Model: "M", IDs: []string{"b"}})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"b","x":0.5}`, string(page.Records[0].Data))
}
