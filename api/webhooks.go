package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gonango/nango"
)

// CodeUnknownWebhookDelivery (404): no webhook delivery has this id.
const CodeUnknownWebhookDelivery = "unknown_webhook_delivery"

// Limits of GET /webhooks/deliveries.
const (
	defaultDeliveriesLimit = 100
	maxDeliveriesLimit     = 10000
)

// webhookDelivery is one delivery in the answers of the webhook endpoints.
type webhookDelivery struct {
	ID                string          `json:"id"`
	URL               string          `json:"url"`
	State             string          `json:"state"`
	Attempts          int             `json:"attempts"`
	RunID             string          `json:"run_id"`
	ProviderConfigKey string          `json:"provider_config_key"`
	Sync              string          `json:"sync"`
	ConnectionID      string          `json:"connection_id"`
	Model             string          `json:"model"`
	CreatedAt         *string         `json:"created_at"`
	QueuedAt          *string         `json:"queued_at"`
	NextAttemptAt     *string         `json:"next_attempt_at"`
	LastAttemptAt     *string         `json:"last_attempt_at"`
	DeliveredAt       *string         `json:"delivered_at"`
	LastStatus        int             `json:"last_status"`
	LastError         string          `json:"last_error"`
	Body              json.RawMessage `json:"body"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return jsTime(t)
}

func encodeDelivery(d *nango.WebhookDelivery) webhookDelivery {
	body := d.Body
	if !json.Valid(body) {
		body = json.RawMessage("null")
	}
	return webhookDelivery{
		ID: d.ID, URL: d.URL, State: string(d.State), Attempts: d.Attempts, RunID: d.RunID,
		ProviderConfigKey: d.Integration, Sync: d.Sync, ConnectionID: d.Connection, Model: d.Model,
		CreatedAt: optTime(d.CreatedAt), QueuedAt: optTime(d.QueuedAt), NextAttemptAt: optTime(d.NextAttemptAt),
		LastAttemptAt: optTime(d.LastAttemptAt), DeliveredAt: optTime(d.DeliveredAt),
		LastStatus: d.LastStatus, LastError: d.LastError, Body: body,
	}
}

// listDeliveries serves GET /webhooks/deliveries?state=&run_id=&after=&limit=: the outgoing
// webhook deliveries, oldest first, with next_after to continue (null on the last page).
func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request) {
	v := validation{what: "query parameters"}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		v.add(issueInvalidString, fmt.Sprintf("the query string is malformed: %v", err))
		writeError(w, v.err(CodeInvalidQueryParams))
		return
	}
	unknownParams(&v, values, []string{"state", "run_id", "after", "limit"})
	p := nango.WebhookDeliveriesParams{Limit: defaultDeliveriesLimit}
	if s, ok := single(&v, values, "state"); ok {
		switch st := nango.WebhookState(s); st {
		case nango.WebhookPending, nango.WebhookDelivered, nango.WebhookDead:
			p.State = st
		default:
			v.add(issueInvalidEnum, "Expected 'pending' | 'delivered' | 'dead', received '"+s+"'", "state")
		}
	}
	if s, ok := single(&v, values, "run_id"); ok && checkName(&v, s, "run_id") {
		p.RunID = s
	}
	if s, ok := single(&v, values, "after"); ok && checkName(&v, s, "after") {
		p.After = s
	}
	if s, ok := single(&v, values, "limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeliveriesLimit {
			v.add(issueInvalidType, fmt.Sprintf("%q is not a number from 1 to %d", s, maxDeliveriesLimit), "limit")
		}
		p.Limit = n
	}
	if v.failed() {
		writeError(w, v.err(CodeInvalidQueryParams))
		return
	}
	ds, err := h.eng.WebhookDeliveries(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Deliveries []webhookDelivery `json:"deliveries"`
		NextAfter  *string           `json:"next_after"`
	}{Deliveries: make([]webhookDelivery, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = encodeDelivery(d)
	}
	if len(ds) == p.Limit {
		out.NextAfter = &ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// redeliver serves POST /webhooks/redeliver: {"id": "..."} queues one delivery again (dead
// or delivered) and answers {"redelivered": 1, "delivery": {...}}; {"all_dead": true} queues
// every dead delivery again and answers {"redelivered": n}.
func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request) {
	if e := noQuery(r); e != nil {
		writeError(w, e)
		return
	}
	b, e := h.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	b.unknown("id", "all_dead")
	id := b.name("id", false)
	all, _ := b.boolean("all_dead")
	switch {
	case b.v.failed():
	case id == "" && !all:
		b.v.add(issueInvalidUnion, `give "id" (one delivery) or "all_dead": true (every dead delivery)`)
	case id != "" && all:
		b.v.add(issueInvalidUnion, `give "id" or "all_dead", not both`)
	}
	if b.v.failed() {
		writeError(w, b.v.err(CodeInvalidBody))
		return
	}
	if all {
		n, err := h.eng.RedeliverDeadWebhooks(r.Context())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"redelivered": n})
		return
	}
	d, err := h.eng.RedeliverWebhook(r.Context(), id)
	if errors.Is(err, nango.ErrUnknownWebhookDelivery) {
		writeError(w, newError(http.StatusNotFound, CodeUnknownWebhookDelivery, "there is no webhook delivery %q", id))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Redelivered int             `json:"redelivered"`
		Delivery    webhookDelivery `json:"delivery"`
	}{1, encodeDelivery(d)})
}
