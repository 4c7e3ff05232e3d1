package nangotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// statefulCRM is a stateful fake of the CRM's API that syncContacts reads: GET /v1/contacts lists
// the contacts changed after updated_since, oldest change first, in pages of limit with an
// offset in next_cursor. Tests change its contacts between runs.
type statefulCRM struct {
	mu       sync.Mutex
	contacts map[string]apiContact
	clock    time.Time
}

// newStatefulCRM returns a fake holding n contacts, c1 to cn.
func newStatefulCRM(n int) *statefulCRM {
	f := &statefulCRM{contacts: map[string]apiContact{}, clock: time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("c%d", i)
		f.put(apiContact{ID: id, Name: "Contact " + id, Email: id + "@example.com"})
	}
	return f
}

// put adds or changes a contact, stamping it with the fake's next minute.
func (f *statefulCRM) put(c apiContact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(time.Minute)
	c.UpdatedAt = f.clock.Format(time.RFC3339)
	f.contacts[c.ID] = c
}

func (f *statefulCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/v1/contacts" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	offset, err2 := strconv.Atoi(q.Get("cursor"))
	if err != nil || limit < 1 || (q.Get("cursor") != "" && err2 != nil) {
		http.Error(w, `{"error":"bad limit or cursor"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	var changed []apiContact
	for _, c := range f.contacts {
		if c.UpdatedAt > q.Get("updated_since") {
			changed = append(changed, c)
		}
	}
	f.mu.Unlock()
	slices.SortFunc(changed, func(a, b apiContact) int {
		if a.UpdatedAt != b.UpdatedAt {
			return compareStrings(a.UpdatedAt, b.UpdatedAt)
		}
		return compareStrings(a.ID, b.ID)
	})
	page := struct {
		Contacts   []apiContact `json:"contacts"`
		NextCursor string       `json:"next_cursor,omitempty"`
	}{Contacts: []apiContact{}}
	if offset < len(changed) {
		page.Contacts = changed[offset:min(offset+limit, len(changed))]
	}
	if offset+limit < len(changed) {
		page.NextCursor = strconv.Itoa(offset + limit)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
