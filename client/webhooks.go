package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook delivery states.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered"
	WebhookDead      = "dead"
)

// WebhookDelivery is one outgoing webhook to one URL, as GET /webhooks/deliveries reports it.
// Times are zero when the event has not happened (a pending delivery has no DeliveredAt).
type WebhookDelivery struct {
	ID                string          `json:"id"`
	URL               string          `json:"url"`
	State             string          `json:"state"`
	Attempts          int             `json:"attempts"`
	RunID             string          `json:"run_id"`
	ProviderConfigKey string          `json:"provider_config_key"`
	Sync              string          `json:"sync"`
	ConnectionID      string          `json:"connection_id"`
	Model             string          `json:"model"`
	CreatedAt         time.Time       `json:"created_at"`
	QueuedAt          time.Time       `json:"queued_at"`
	NextAttemptAt     time.Time       `json:"next_attempt_at"`
	LastAttemptAt     time.Time       `json:"last_attempt_at"`
	DeliveredAt       time.Time       `json:"delivered_at"`
	LastStatus        int             `json:"last_status"`
	LastError         string          `json:"last_error"`
	Body              json.RawMessage `json:"body"`
}

// WebhookDeliveriesParams select deliveries, oldest first.
type WebhookDeliveriesParams struct {
	// State keeps the deliveries in this state (WebhookPending, WebhookDelivered, WebhookDead);
	// empty keeps all.
	State string
	// RunID keeps the deliveries of one run.
	RunID string
	// After continues after the delivery with this id (a page's NextAfter).
	After string
	// Limit is the page size, 1 to 10,000; 0 lets the server choose (100).
	Limit int
}

// WebhookDeliveriesPage is one page of deliveries.
type WebhookDeliveriesPage struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
	// NextAfter continues the listing (WebhookDeliveriesParams.After); empty on the last page.
	NextAfter string `json:"next_after"`
}

// WebhookDeliveries lists the webhooks the service sends to its backend, from its outbox
// (GET /webhooks/deliveries).
func (c *Client) WebhookDeliveries(ctx context.Context, p WebhookDeliveriesParams) (*WebhookDeliveriesPage, error) {
	q := url.Values{}
	if p.State != "" {
		q.Set("state", p.State)
	}
	if p.RunID != "" {
		q.Set("run_id", p.RunID)
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var out struct {
		Deliveries []WebhookDelivery `json:"deliveries"`
		NextAfter  *string           `json:"next_after"`
	}
	if err := c.do(ctx, http.MethodGet, "/webhooks/deliveries", q, nil, nil, &out); err != nil {
		return nil, err
	}
	page := &WebhookDeliveriesPage{Deliveries: out.Deliveries}
	if out.NextAfter != nil {
		page.NextAfter = *out.NextAfter
	}
	return page, nil
}

// RedeliverWebhook queues a dead or delivered webhook again with a fresh round of attempts
// (POST /webhooks/redeliver) and returns it. An unknown id gives an *Error with code
// "unknown_webhook_delivery".
func (c *Client) RedeliverWebhook(ctx context.Context, id string) (*WebhookDelivery, error) {
	var out struct {
		Delivery WebhookDelivery `json:"delivery"`
	}
	if err := c.do(ctx, http.MethodPost, "/webhooks/redeliver", nil, nil, map[string]any{"id": id}, &out); err != nil {
		return nil, err
	}
	return &out.Delivery, nil
}

// RedeliverDeadWebhooks queues every dead webhook again and returns how many.
func (c *Client) RedeliverDeadWebhooks(ctx context.Context) (int, error) {
	var out struct {
		Redelivered int `json:"redelivered"`
	}
	if err := c.do(ctx, http.MethodPost, "/webhooks/redeliver", nil, nil, map[string]any{"all_dead": true}, &out); err != nil {
		return 0, err
	}
	return out.Redelivered, nil
}
