package client_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/client"
	"github.com/gonango/nango/store/bolt"
)

func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var accept atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			http.Error(w, "no such hook", http.StatusBadRequest) // refused: dead at once
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "hooks.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler),
		Webhooks: &nango.WebhookConfig{URLs: []string{receiver.URL + "/hooks"}, SigningKeys: [][]byte{[]byte("k")}}})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []Contact{{ID: "1", Name: "Ada"}}, "Contact")
		}),
	}}}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: integration, ID: "acme"}))
	h, err := api.New(eng, &api.Config{SecretKeys: []string{secret}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := client.New(srv.URL, secret, nil)
	require.NoError(t, err)

	res, err := eng.RunSync(ctx, integration, "contacts", "acme", nil)
	require.NoError(t, err)
	require.Len(t, res.Webhooks, 1)
	_, err = eng.DeliverWebhooks(ctx)
	require.NoError(t, err)

	page, err := c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{State: client.WebhookDead})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	d := page.Deliveries[0]
	require.Equal(t, res.Webhooks[0], d.ID)
	require.Equal(t, receiver.URL+"/hooks", d.URL)
	require.Equal(t, client.WebhookDead, d.State)
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, http.StatusBadRequest, d.LastStatus)
	require.NotEmpty(t, d.LastError)
	require.Equal(t, res.RunID, d.RunID)
	require.Equal(t, "acme", d.ConnectionID)
	require.Equal(t, "Contact", d.Model)
	require.True(t, d.DeliveredAt.IsZero())
	require.False(t, d.LastAttemptAt.IsZero())
	var payload map[string]any
	require.NoError(t, json.Unmarshal(d.Body, &payload))
	require.Equal(t, "Contact", payload["model"])
	require.Empty(t, page.NextAfter, "a page that is not full is the last")

	page, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{State: client.WebhookPending})
	require.NoError(t, err)
	require.Empty(t, page.Deliveries)

	_, err = c.RedeliverWebhook(ctx, "whd_nope")
	require.True(t, client.IsCode(err, api.CodeUnknownWebhookDelivery), "%v", err)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusNotFound, ce.StatusCode)
	_, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{State: "lost"})
	require.True(t, client.IsCode(err, api.CodeInvalidQueryParams), "%v", err)
	_, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{Limit: 10001})
	require.True(t, client.IsCode(err, api.CodeInvalidQueryParams), "%v", err)

	accept.Store(true)
	again, err := c.RedeliverWebhook(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, client.WebhookPending, again.State)
	require.Equal(t, 0, again.Attempts)
	_, err = eng.DeliverWebhooks(ctx)
	require.NoError(t, err)
	page, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, client.WebhookDelivered, page.Deliveries[0].State)
	require.False(t, page.Deliveries[0].DeliveredAt.IsZero())
	require.Equal(t, d.ID, page.NextAfter, "a full page continues after its last delivery")
	page, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{After: page.NextAfter})
	require.NoError(t, err)
	require.Empty(t, page.Deliveries)

	// Every dead one at once.
	accept.Store(false)
	for range 2 {
		_, err = eng.RunSync(ctx, integration, "contacts", "acme", &nango.RunOptions{Reset: true, EmptyCache: true})
		require.NoError(t, err)
	}
	_, err = eng.DeliverWebhooks(ctx)
	require.NoError(t, err)
	n, err := c.RedeliverDeadWebhooks(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	page, err = c.WebhookDeliveries(ctx, client.WebhookDeliveriesParams{State: client.WebhookPending})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 2)
}
