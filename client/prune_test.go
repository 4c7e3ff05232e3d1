package client_test

import (
	"testing"

	"github.com/gonango/nango/client"
	"github.com/stretchr/testify/require"
)

func TestPruneRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	s.seed(t)
	c := newClient(t, s, "")
	page, err := c.ListRecords(t.Context(), params())
	require.NoError(t, err)
	require.Len(t, page.Records, 5)
	p := client.PruneRecordsParams{ProviderConfigKey: integration, ConnectionID: "conn-1", Model: "Contact",
		UntilCursor: page.Records[1].Metadata.Cursor, Limit: 1}
	res, err := c.PruneRecords(t.Context(), p)
	require.NoError(t, err)
	require.Equal(t, client.PruneRecordsResult{Count: 1, HasMore: true}, *res)
	res, err = c.PruneRecords(t.Context(), p)
	require.NoError(t, err)
	require.Equal(t, client.PruneRecordsResult{Count: 1}, *res)

	after, err := c.ListRecords(t.Context(), params())
	require.NoError(t, err)
	for i, r := range after.Records {
		require.Equal(t, page.Records[i].Metadata.Cursor, r.Metadata.Cursor)
		require.Equal(t, i <= 1, !r.Metadata.PrunedAt.IsZero(), "record %d", i)
	}
	require.JSONEq(t, `{"id":"`+after.Records[0].ID+`"}`, string(after.Records[0].Data), "a pruned record keeps its id only")

	p.UntilCursor = "not-a-cursor"
	_, err = c.PruneRecords(t.Context(), p)
	require.True(t, client.IsCode(err, "invalid_cursor"), err)
	p.UntilCursor = ""
	_, err = c.PruneRecords(t.Context(), p)
	require.ErrorContains(t, err, "needs ProviderConfigKey, ConnectionID, Model and UntilCursor")
}
