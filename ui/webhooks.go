package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gonango/nango"
)

// webhooksData is the data of the webhooks page.
type webhooksData struct {
	Stats      *nango.WebhookStats
	State      string
	Deliveries []*nango.WebhookDelivery
	After      string // this page's start
	Next       string // the id to continue after, "" on the last page
}

// displayURL shows a webhook URL without what may be secret in it: user info and query.
func displayURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

// webhooksPage lists the webhook deliveries of the outbox by state, a page at a time.
func (h *Handler) webhooksPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &webhooksData{State: q.Get("state"), After: q.Get("after")}
	switch nango.WebhookState(d.State) {
	case "", nango.WebhookPending, nango.WebhookDelivered, nango.WebhookDead:
	default:
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a delivery state: choose pending, delivered or dead.", d.State))
		return
	}
	var err error
	if d.Stats, err = h.eng.WebhookStats(r.Context()); err != nil {
		h.internal(w, r, err)
		return
	}
	d.Deliveries, err = h.eng.WebhookDeliveries(r.Context(), nango.WebhookDeliveriesParams{
		State: nango.WebhookState(d.State), After: d.After, Limit: h.pageSize + 1})
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	if len(d.Deliveries) > h.pageSize {
		d.Deliveries = d.Deliveries[:h.pageSize]
		d.Next = d.Deliveries[len(d.Deliveries)-1].ID
	}
	p := h.newPage(w, r, "Webhooks", "webhooks", d)
	switch q.Get("done") {
	case "redelivered":
		p.Flash = "Queued again: the delivery gets a fresh round of attempts, starting now."
	case "redelivered_dead":
		n, _ := strconv.Atoi(q.Get("n"))
		p.Flash = fmt.Sprintf("Queued %d dead deliveries again, each with a fresh round of attempts.", n)
	}
	h.render(w, r, http.StatusOK, "webhooks", p)
}

// webhookConfirm is the data of the confirmation of a redelivery.
type webhookConfirm struct {
	Action   string
	ID       string
	Delivery *nango.WebhookDelivery
	Dead     int
}

// webhooksAction redelivers one delivery (action=redeliver, id=...) or every dead one
// (action=redeliver_dead), after a confirmation.
func (h *Handler) webhooksAction(w http.ResponseWriter, r *http.Request) {
	action, id := r.PostFormValue("action"), r.PostFormValue("id")
	c := &webhookConfirm{Action: action, ID: id}
	switch action {
	case "redeliver":
		dl, err := h.eng.WebhookDelivery(r.Context(), id)
		if err != nil {
			h.engineError(w, r, err)
			return
		}
		c.Delivery = dl
	case "redeliver_dead":
		st, err := h.eng.WebhookStats(r.Context())
		if err != nil {
			h.internal(w, r, err)
			return
		}
		c.Dead = st.Dead
	default:
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not something this page can do.", action))
		return
	}
	if r.PostFormValue("confirmed") != "yes" {
		h.render(w, r, http.StatusOK, "webhook_confirm", h.newPage(w, r, "Redeliver", "webhooks", c))
		return
	}
	target := h.base(r) + "/webhooks?state=pending&done="
	if action == "redeliver" {
		if _, err := h.eng.RedeliverWebhook(r.Context(), id); err != nil {
			h.engineError(w, r, err)
			return
		}
		http.Redirect(w, r, target+"redelivered", http.StatusSeeOther)
		return
	}
	n, err := h.eng.RedeliverDeadWebhooks(r.Context())
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	http.Redirect(w, r, target+"redelivered_dead&n="+strconv.Itoa(n), http.StatusSeeOther)
}
