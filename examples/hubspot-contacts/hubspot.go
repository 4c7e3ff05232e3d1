package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gonango/nango"
)

const (
	integrationKey = "hubspot"
	syncName       = "contacts"
	modelName      = "HubSpotContact"
)

// Contact is the record the sync keeps.
type Contact struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	UpdatedAt string `json:"updated_at"`
}

// checkpoint is where polling resumes: HubSpot's lastmodifieddate of the newest contact seen.
type checkpoint struct {
	ModifiedSince string `json:"modifiedSince"`
}

// hsContact is a contact as HubSpot's CRM API returns it.
type hsContact struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
	UpdatedAt  string            `json:"updatedAt"`
	Archived   bool              `json:"archived"`
}

func (c hsContact) record() Contact {
	return Contact{ID: c.ID, FirstName: c.Properties["firstname"], LastName: c.Properties["lastname"],
		Email: c.Properties["email"], UpdatedAt: c.UpdatedAt}
}

var properties = []string{"firstname", "lastname", "email", "lastmodifieddate"}

// integration is the HubSpot integration: a contacts sync that polls the search API for
// contacts modified since its checkpoint every few minutes, and handles HubSpot's webhooks
// (contact created, changed, deleted) as they come, so that changes show up in seconds; the
// polling run catches whatever the webhooks missed. Polling cannot see deletions (the search
// API leaves archived contacts out): those come from the webhooks.
func integration(baseURL string, clientSecret []byte, now func() time.Time) nango.Integration {
	return nango.Integration{
		Key:     integrationKey,
		BaseURL: baseURL,
		Auth:    nango.APIKey{}, // a private app's token: Authorization: Bearer <token>
		Webhooks: &nango.ProviderWebhooks{
			Verify:   verifySignatureV3(clientSecret, now),
			Events:   webhookEvents,
			Debounce: 2 * time.Second,
		},
		Syncs: []nango.SyncConfig{{
			Name:                 syncName,
			Description:          "Contacts, polled every 5 minutes and updated by webhooks in between",
			Frequency:            "every 5 minutes",
			Models:               []nango.Model{nango.ModelOf[Contact](modelName)},
			WebhookSubscriptions: []string{"contact.creation", "contact.propertyChange", "contact.deletion", "contact.restore"},
			Sync:                 nango.SyncFunc(pollContacts),
			OnWebhook:            onContactEvent,
		}},
	}
}

// pollContacts is the polling sync: HubSpot's search API, contacts modified since the
// checkpoint, oldest first.
func pollContacts(ctx context.Context, n *nango.Nango) error {
	// A webhook run may save a contact while this run goes: what this run fetched earlier is
	// older, so it must not overwrite it.
	if err := n.SetMergingStrategy(ctx, nango.MergeIgnoreIfModifiedAfter, modelName); err != nil {
		return err
	}
	var cp checkpoint
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	after := ""
	for {
		filters := []map[string]any{}
		if cp.ModifiedSince != "" {
			filters = append(filters, map[string]any{"propertyName": "lastmodifieddate", "operator": "GTE", "value": cp.ModifiedSince})
		}
		body := map[string]any{
			"filterGroups": []map[string]any{{"filters": filters}},
			"sorts":        []map[string]any{{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}},
			"properties":   properties,
			"limit":        100,
		}
		if after != "" {
			body["after"] = after
		}
		resp, err := n.Post(ctx, &nango.Request{Path: "/crm/v3/objects/contacts/search", JSON: body, Retry: true})
		if err != nil {
			return err
		}
		var page struct {
			Results []hsContact `json:"results"`
			Paging  *struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := resp.Decode(&page); err != nil {
			return err
		}
		recs := make([]Contact, len(page.Results))
		for i, c := range page.Results {
			recs[i] = c.record()
			if m := c.Properties["lastmodifieddate"]; m > cp.ModifiedSince {
				cp.ModifiedSince = m
			}
		}
		if err := n.BatchSave(ctx, recs, modelName, nango.WithCheckpoint(cp)); err != nil {
			return err
		}
		if page.Paging == nil || page.Paging.Next.After == "" {
			return nil
		}
		after = page.Paging.Next.After
	}
}

// event is one event of a HubSpot webhook request (a request carries a batch of them).
type event struct {
	EventID          int64  `json:"eventId"`
	PortalID         int64  `json:"portalId"`
	SubscriptionType string `json:"subscriptionType"`
	ObjectID         int64  `json:"objectId"`
	OccurredAt       int64  `json:"occurredAt"`
	PropertyName     string `json:"propertyName,omitempty"`
	PropertyValue    string `json:"propertyValue,omitempty"`
}

// webhookEvents maps a HubSpot webhook to events: the connection is the HubSpot account
// (portal), its id in decimal.
func webhookEvents(_ *http.Request, body []byte) ([]nango.ProviderEvent, error) {
	var evs []event
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, fmt.Errorf("not a HubSpot webhook: %w", err)
	}
	out := make([]nango.ProviderEvent, len(evs))
	for i, ev := range evs {
		p, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out[i] = nango.ProviderEvent{Connection: strconv.FormatInt(ev.PortalID, 10), Type: ev.SubscriptionType, Payload: p}
	}
	return out, nil
}

// onContactEvent handles one contact event: it fetches the contact (an event carries one
// property at most) and saves it, or deletes it.
func onContactEvent(ctx context.Context, n *nango.Nango, payload json.RawMessage) error {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return err
	}
	id := strconv.FormatInt(ev.ObjectID, 10)
	if ev.SubscriptionType == "contact.deletion" {
		return n.BatchDelete(ctx, []string{id}, modelName)
	}
	resp, err := n.Get(ctx, &nango.Request{Path: "/crm/v3/objects/contacts/" + id, Query: map[string][]string{"properties": properties}})
	var apiErr *nango.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return n.BatchDelete(ctx, []string{id}, modelName) // gone since the event
	}
	if err != nil {
		return err
	}
	var c hsContact
	if err := resp.Decode(&c); err != nil {
		return err
	}
	return n.BatchSave(ctx, []Contact{c.record()}, modelName)
}

// maxSkew is how old a webhook's timestamp may be (HubSpot's advice: five minutes).
const maxSkew = 5 * time.Minute

// verifySignatureV3 checks HubSpot's X-HubSpot-Signature-v3: base64 of the HMAC-SHA256, with
// the app's client secret, of the method, the URI, the body and the X-HubSpot-Request-Timestamp
// (milliseconds), rejecting timestamps older than five minutes (replays).
func verifySignatureV3(clientSecret []byte, now func() time.Time) func(r *http.Request, body []byte) error {
	return func(r *http.Request, body []byte) error {
		ts := r.Header.Get("X-HubSpot-Request-Timestamp")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return errors.New("no valid X-HubSpot-Request-Timestamp")
		}
		if d := now().Sub(time.UnixMilli(ms)); d > maxSkew || d < -maxSkew {
			return fmt.Errorf("timestamp is %s off", d.Round(time.Second))
		}
		got, err := base64.StdEncoding.DecodeString(r.Header.Get("X-HubSpot-Signature-v3"))
		if err != nil || len(got) == 0 {
			return errors.New("no valid X-HubSpot-Signature-v3")
		}
		if !hmac.Equal(got, signV3(clientSecret, r.Method, requestURI(r), body, ts)) {
			return errors.New("signature mismatch")
		}
		return nil
	}
}

// signV3 is HubSpot's v3 signature.
func signV3(secret []byte, method, uri string, body []byte, ts string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(method + uri))
	m.Write(body)
	m.Write([]byte(ts))
	return m.Sum(nil)
}

// requestURI is the URL HubSpot called: behind a proxy that terminates TLS, trust its
// X-Forwarded-Proto.
func requestURI(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
