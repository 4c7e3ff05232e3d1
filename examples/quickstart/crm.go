package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// crmContact is a contact as the fake CRM's API returns it.
type crmContact struct {
	ID        string    `json:"id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	Company   string    `json:"company"`
	UpdatedAt time.Time `json:"updated_at"`
}

// crmDeletion is a tombstone: the CRM forgets deleted contacts but lists their ids for a while.
type crmDeletion struct {
	ID        string    `json:"id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// crm is a small fake CRM. Its clock is fake too: every change moves it one minute forward, so
// the quickstart's output does not depend on when it runs.
//
// It serves, to requests with the API key as a bearer token:
//
//	GET /contacts?updated_after=RFC3339&cursor=X&limit=N
//	    contacts updated at or after updated_after, oldest change first (ties by id), N a page
//	    (default 10, at most 100): {"contacts": [...], "next_cursor": "..."}; next_cursor is
//	    empty on the last page.
//	GET /contacts/deleted?since=RFC3339
//	    ids of contacts deleted at or after since: {"deleted": [{"id", "deleted_at"}]}
type crm struct {
	mu       sync.Mutex
	now      time.Time
	nextID   int
	contacts map[string]*crmContact
	deleted  []crmDeletion
}

var (
	firstNames = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Dennis"}
	lastNames  = []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton", "Ritchie"}
	companies  = []string{"Analytical Engines", "Bletchley Park", "Navy Labs", "Mathematisch Centrum", "MIT"}
)

func newCRM() *crm {
	return &crm{now: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC), contacts: map[string]*crmContact{}}
}

func (c *crm) tick() time.Time {
	c.now = c.now.Add(time.Minute)
	return c.now
}

// add creates n contacts and returns their ids.
func (c *crm) add(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		k := c.nextID
		c.nextID++
		first, last := firstNames[k%len(firstNames)], lastNames[(k+k/len(lastNames))%len(lastNames)]
		ct := &crmContact{
			ID:        fmt.Sprintf("ct_%03d", k+1),
			FirstName: first,
			LastName:  last,
			Email:     strings.ToLower(first+"."+last) + "@example.com",
			Company:   companies[k%len(companies)],
			UpdatedAt: c.tick(),
		}
		c.contacts[ct.ID] = ct
		ids[i] = ct.ID
	}
	return ids
}

// update changes a contact and bumps its updated_at.
func (c *crm) update(id string, change func(*crmContact)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[id]
	change(ct)
	ct.UpdatedAt = c.tick()
}

// touch bumps a contact's updated_at without changing it, as CRMs do when, say, an activity is
// logged against it.
func (c *crm) touch(id string) { c.update(id, func(*crmContact) {}) }

func (c *crm) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.contacts, id)
	c.deleted = append(c.deleted, crmDeletion{ID: id, DeletedAt: c.tick()})
}

// handler serves the API to requests with the key apiKey as a bearer token.
func (c *crm) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", c.listContacts)
	mux.HandleFunc("GET /contacts/deleted", c.listDeleted)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid API key"}`))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (c *crm) listContacts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := parseTime(q.Get("updated_after"))
	if err != nil {
		http.Error(w, "bad updated_after: "+err.Error(), http.StatusBadRequest)
		return
	}
	limit := 10
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 100 {
			http.Error(w, "limit must be 1 to 100", http.StatusBadRequest)
			return
		}
	}
	// The cursor is the sort key of the last contact of the previous page, so pages stay
	// consistent while contacts change.
	var curTime time.Time
	var curID string
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		ts, id, ok := strings.Cut(string(b), "|")
		if err == nil && ok {
			curTime, err = time.Parse(time.RFC3339Nano, ts)
			curID = id
		}
		if err != nil || !ok {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
	}

	c.mu.Lock()
	var page []crmContact
	for _, ct := range c.contacts {
		if ct.UpdatedAt.Before(after) {
			continue
		}
		if curID != "" && compareKey(ct.UpdatedAt, ct.ID, curTime, curID) <= 0 {
			continue
		}
		page = append(page, *ct)
	}
	c.mu.Unlock()
	slices.SortFunc(page, func(a, b crmContact) int { return compareKey(a.UpdatedAt, a.ID, b.UpdatedAt, b.ID) })

	resp := struct {
		Contacts   []crmContact `json:"contacts"`
		NextCursor string       `json:"next_cursor"`
	}{Contacts: page}
	if len(page) > limit {
		resp.Contacts = page[:limit]
		last := page[limit-1]
		resp.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.UpdatedAt.Format(time.RFC3339Nano) + "|" + last.ID))
	}
	writeJSON(w, resp)
}

func (c *crm) listDeleted(w http.ResponseWriter, r *http.Request) {
	since, err := parseTime(r.URL.Query().Get("since"))
	if err != nil {
		http.Error(w, "bad since: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	resp := struct {
		Deleted []crmDeletion `json:"deleted"`
	}{Deleted: []crmDeletion{}}
	for _, d := range c.deleted {
		if !d.DeletedAt.Before(since) {
			resp.Deleted = append(resp.Deleted, d)
		}
	}
	c.mu.Unlock()
	writeJSON(w, resp)
}

func compareKey(at time.Time, id string, bt time.Time, bid string) int {
	if c := at.Compare(bt); c != 0 {
		return c
	}
	return cmp.Compare(id, bid)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
