package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// isoMillis is HubSpot's lastmodifieddate format; it sorts as text.
const isoMillis = "2006-01-02T15:04:05.000Z"

// fakeHubSpot is a small HubSpot: the CRM contacts API (search and get by id) for one account,
// authenticated by a private app token, and a webhook sender signing with the app's client
// secret (signature v3).
type fakeHubSpot struct {
	token  string
	portal int64
	secret []byte

	mu       sync.Mutex
	contacts map[string]*fakeContact
	nextID   int
	last     time.Time
	eventID  int64
	hookURL  string // where webhooks go; "" sends none
	onSearch func() // called after a search was answered from the data, before the answer is sent
	searches int
	gets     int
}

type fakeContact struct {
	id, first, last, email string
	modified               time.Time
	archived               bool
}

func newFakeHubSpot() *fakeHubSpot {
	f := &fakeHubSpot{token: "pat-na1-fake-token", portal: 12345678, secret: []byte("fake-app-client-secret"),
		contacts: map[string]*fakeContact{}, nextID: 101}
	for _, c := range [][3]string{
		{"Ada", "Lovelace", "ada@example.com"}, {"Jane", "Doe", "jane@example.com"}, {"Alan", "Turing", "alan@example.com"},
		{"Grace", "Hopper", "grace@example.com"}, {"Edsger", "Dijkstra", "edsger@example.com"},
	} {
		f.add(c[0], c[1], c[2])
	}
	return f
}

// tick returns a modification time after every earlier one.
func (f *fakeHubSpot) tick() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(f.last) {
		t = f.last.Add(time.Millisecond)
	}
	f.last = t
	return t
}

func (f *fakeHubSpot) add(first, last, email string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := strconv.Itoa(f.nextID)
	f.nextID++
	f.contacts[id] = &fakeContact{id: id, first: first, last: last, email: email, modified: f.tick()}
	return id
}

func (f *fakeHubSpot) setEmail(id, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.contacts[id]
	c.email, c.modified = email, f.tick()
}

func (f *fakeHubSpot) archive(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.contacts[id]
	c.archived, c.modified = true, f.tick()
}

func (f *fakeHubSpot) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.contacts {
		if !c.archived {
			n++
		}
	}
	return n
}

func (c *fakeContact) json() hsContact {
	m := c.modified.Format(isoMillis)
	return hsContact{ID: c.id, UpdatedAt: m, Archived: c.archived, Properties: map[string]string{
		"firstname": c.first, "lastname": c.last, "email": c.email, "lastmodifieddate": m, "hs_object_id": c.id,
	}}
}

func (f *fakeHubSpot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "error", "category": "INVALID_AUTHENTICATION"})
		return
	}
	const prefix = "/crm/v3/objects/contacts/"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == prefix+"search":
		f.search(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, prefix):
		id := strings.TrimPrefix(r.URL.Path, prefix)
		f.mu.Lock()
		f.gets++
		c := f.contacts[id]
		var out hsContact
		if c != nil {
			out = c.json()
		}
		f.mu.Unlock()
		if c == nil || c.archived {
			writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "category": "OBJECT_NOT_FOUND"})
			return
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "message": "no such endpoint"})
	}
}

// search answers the search API: contacts whose lastmodifieddate is at or after the filter's
// value, oldest first, paged by an offset in "after".
func (f *fakeHubSpot) search(w http.ResponseWriter, r *http.Request) {
	var q struct {
		FilterGroups []struct {
			Filters []struct {
				PropertyName string `json:"propertyName"`
				Operator     string `json:"operator"`
				Value        string `json:"value"`
			} `json:"filters"`
		} `json:"filterGroups"`
		Limit int    `json:"limit"`
		After string `json:"after"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "message": err.Error()})
		return
	}
	since := ""
	for _, g := range q.FilterGroups {
		for _, fl := range g.Filters {
			if fl.PropertyName == "lastmodifieddate" && fl.Operator == "GTE" {
				since = fl.Value
			}
		}
	}
	f.mu.Lock()
	f.searches++
	var hits []*fakeContact
	for _, c := range f.contacts {
		if !c.archived && c.modified.Format(isoMillis) >= since {
			hits = append(hits, c)
		}
	}
	slices.SortFunc(hits, func(a, b *fakeContact) int {
		if c := a.modified.Compare(b.modified); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	offset, _ := strconv.Atoi(q.After)
	limit := min(max(q.Limit, 1), 100)
	page := map[string]any{"total": len(hits)}
	results := []hsContact{}
	for _, c := range hits[min(offset, len(hits)):min(offset+limit, len(hits))] {
		results = append(results, c.json())
	}
	page["results"] = results
	if offset+limit < len(hits) {
		page["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(offset + limit)}}
	}
	hook := f.onSearch
	f.onSearch = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	writeJSON(w, http.StatusOK, page)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// event returns the webhook event of a change to a contact.
func (f *fakeHubSpot) event(typ, id, property, value string) event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventID++
	oid, _ := strconv.ParseInt(id, 10, 64)
	return event{EventID: f.eventID, PortalID: f.portal, SubscriptionType: typ, ObjectID: oid,
		OccurredAt: time.Now().UnixMilli(), PropertyName: property, PropertyValue: value}
}

// send posts events to url as HubSpot does, signed with secret (signature v3), and returns the
// answer's status and body.
func sendWebhook(url string, secret []byte, events ...event) (int, string, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(signV3(secret, http.MethodPost, url, body, ts)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("sending the webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(answer)), nil
}

// notify sends the fake's webhook for events to its hook URL, if it has one.
func (f *fakeHubSpot) notify(events ...event) (int, string, error) {
	f.mu.Lock()
	url := f.hookURL
	f.mu.Unlock()
	if url == "" {
		return 0, "", nil
	}
	return sendWebhook(url, f.secret, events...)
}
