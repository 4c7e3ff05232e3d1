package main

import (
	"time"

	"github.com/gonango/nango"
)

// webhookConfig is the engine's webhook configuration when the service sends webhooks: after
// each run that changed records, Nango's payload, signed with the signing key, to -webhook-url.
// The engine writes them to its outbox in the transaction that records the run's end and
// delivers them in the background, retrying (with backoff, honouring Retry-After) while the
// receiver is down or answers 408, 429 or 5xx, for up to three days: a restart of the service
// loses none. Undeliverable ones stay in the store as dead (Engine.WebhookDeliveries,
// Engine.RedeliverWebhook), and the change feed by cursor remains the way to catch up.
func webhookConfig(o options) *nango.WebhookConfig {
	if o.webhookURL == "" {
		return nil
	}
	return &nango.WebhookConfig{
		URLs:        []string{o.webhookURL},
		SigningKeys: [][]byte{[]byte(o.webhookSigningKey)},
		MaxAge:      72 * time.Hour,
	}
}
