package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// simClock is the fake org's clock: the program moves it forward between runs. A real clock
// follows time.Now instead (the service).
type simClock struct {
	mu   sync.Mutex
	t    time.Time
	real bool
}

func (c *simClock) now() time.Time {
	if c.real {
		return time.Now().UTC()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSalesforce serves the parts of Salesforce's REST API the sync uses, as documented:
//
//   - POST /services/oauth2/token with grant_type=refresh_token: a new session (no expires_in:
//     Salesforce sessions end after a period of inactivity the org sets, and the API then
//     answers 401 INVALID_SESSION_ID). Here a session lasts sessionCalls API calls.
//   - GET /services/data/vNN.0/query?q=SOQL: the query the sync sends (Contact fields, an
//     optional LastModifiedDate filter with a SOQL datetime literal, ORDER BY), pageSize
//     records a page, more through nextRecordsUrl (/services/data/vNN.0/query/<locator>).
//   - GET /services/data/vNN.0/sobjects/Contact/deleted/?start=&end=: deletions in the
//     window, with its documented rules: ISO 8601 times with a UTC offset, seconds ignored,
//     start more than one minute before end and no earlier than 30 days ago; the answer gives
//     earliestDateAvailable (15 days of recycle bin) and latestDateCovered.
type fakeSalesforce struct {
	clock                *simClock
	version              string
	clientID, secret     string
	refreshToken         string
	sessionCalls         int
	pageSize             int
	mu                   sync.Mutex
	contacts             map[string]*fakeContact
	deleted              []fakeDeletion
	sessions             map[string]int // access token -> calls left
	locators             map[string]locator
	nextID, nextLoc      int
	nextSession          int
	refreshes, apiCalls  int
	queryPages, unauthed int
	requests             []string // request URIs, for tests
}

type fakeContact struct {
	ID, FirstName, LastName string
	Email, AccountID        *string
	LastModified            time.Time
}

// locator is what a query locator points at: the rows not read yet, of a result of total.
type locator struct {
	rows  []fakeContact
	total int
}

type fakeDeletion struct {
	ID string
	At time.Time
}

func newFakeSalesforce(clock *simClock) *fakeSalesforce {
	f := &fakeSalesforce{
		clock: clock, version: "v62.0", clientID: "3MVG9fake.client", secret: "fake-client-secret",
		refreshToken: "5Aep861fakeRefreshToken", sessionCalls: 2, pageSize: 4,
		contacts: map[string]*fakeContact{}, sessions: map[string]int{}, locators: map[string]locator{},
	}
	people := [][3]string{
		{"Ada", "Lovelace", "ada@example.com"}, {"Grace", "Hopper", "grace@example.com"}, {"Alan", "Turing", "alan@example.com"},
		{"Barbara", "Liskov", "barbara@example.com"}, {"Edsger", "Dijkstra", ""}, {"Frances", "Allen", "frances@example.com"},
		{"Donald", "Knuth", "don@example.com"}, {"Radia", "Perlman", "radia@example.com"}, {"Ken", "Thompson", "ken@example.com"},
		{"Katherine", "Johnson", "katherine@example.com"},
	}
	for i, p := range people {
		f.add(p[0], p[1], p[2], i%3 != 2, clock.now().Add(-time.Duration(len(people)-i)*24*time.Hour))
	}
	return f
}

// session starts a session, as a login would, and returns its access token.
func (f *fakeSalesforce) session() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newSessionLocked()
}

func (f *fakeSalesforce) newSessionLocked() string {
	for tok, left := range f.sessions { // a long-running service keeps only live sessions
		if left <= 0 {
			delete(f.sessions, tok)
		}
	}
	f.nextSession++
	tok := fmt.Sprintf("00DFAKE!session%d", f.nextSession)
	f.sessions[tok] = f.sessionCalls
	return tok
}

func (f *fakeSalesforce) add(first, last, email string, withAccount bool, at time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(first, last, email, withAccount, at)
}

func (f *fakeSalesforce) addLocked(first, last, email string, withAccount bool, at time.Time) string {
	f.nextID++
	c := &fakeContact{ID: fmt.Sprintf("003FAKE%011d", f.nextID), FirstName: first, LastName: last, LastModified: at.UTC().Truncate(time.Second)}
	if email != "" {
		c.Email = &email
	}
	if withAccount {
		acct := fmt.Sprintf("001FAKE%011d", 1+f.nextID%2)
		c.AccountID = &acct
	}
	f.contacts[c.ID] = c
	return c.ID
}

func (f *fakeSalesforce) byName(last string) *fakeContact {
	for _, c := range f.contacts {
		if c.LastName == last {
			return c
		}
	}
	panic("no contact " + last)
}

// update changes a contact now.
func (f *fakeSalesforce) update(last string, change func(*fakeContact)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byName(last)
	change(c)
	c.LastModified = f.clock.now().UTC().Truncate(time.Second)
}

// remove deletes a contact now (it goes to the recycle bin and the delete log).
func (f *fakeSalesforce) remove(last string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byName(last)
	delete(f.contacts, c.ID)
	f.deleted = append(f.deleted, fakeDeletion{ID: c.ID, At: f.clock.now().UTC().Truncate(time.Second)})
}

// activity makes the n-th change of a running org, in turn: an email changes, a contact is
// added, a contact is deleted (while more than five remain). It says what it did.
func (f *fakeSalesforce) activity(n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.now().UTC().Truncate(time.Second)
	ids := make([]string, 0, len(f.contacts))
	for id := range f.contacts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	switch {
	case n%3 == 1 || len(ids) == 0:
		first := []string{"Hedy", "John", "Mary", "Dennis", "Sophie", "Tim"}[n%6]
		id := f.addLocked(first, fmt.Sprintf("Contact%d", n), fmt.Sprintf("%s.%d@example.com", strings.ToLower(first), n), n%2 == 0, now)
		return "added contact " + id
	case n%3 == 2 && len(ids) > 5:
		c := f.contacts[ids[0]]
		delete(f.contacts, c.ID)
		f.deleted = append(f.deleted, fakeDeletion{ID: c.ID, At: now})
		return "deleted contact " + c.ID
	default:
		c := f.contacts[ids[n%len(ids)]]
		email := fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(c.FirstName), strings.ToLower(c.LastName), n)
		c.Email = &email
		c.LastModified = now
		return "changed the email of contact " + c.ID
	}
}

func (f *fakeSalesforce) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeSalesforce) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.contacts)
}

var (
	soqlQuery = regexp.MustCompile(`^SELECT Id, FirstName, LastName, Email, AccountId, LastModifiedDate FROM Contact` +
		`(?: WHERE LastModifiedDate (>=|>) (\S+))? ORDER BY LastModifiedDate ASC, Id ASC$`)
	// SOQL datetime literals: YYYY-MM-DDThh:mm:ss with Z or a +hh:mm / -hh:mm offset.
	soqlDatetime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})$`)
)

func (f *fakeSalesforce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) >= 1000 { // bounded for a long-running service
		f.requests = append(f.requests[:0], f.requests[500:]...)
	}
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.URL.Path == "/services/oauth2/token" {
		f.token(w, r)
		return
	}
	prefix := "/services/data/" + f.version + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodGet {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if f.sessions[tok] <= 0 {
		f.unauthed++
		sfError(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	f.sessions[tok]--
	f.apiCalls++
	switch {
	case rest == "query":
		f.query(w, r.URL.Query().Get("q"))
	case strings.HasPrefix(rest, "query/"):
		f.more(w, strings.TrimPrefix(rest, "query/"))
	case rest == "sobjects/Contact/deleted/" || rest == "sobjects/Contact/deleted":
		f.getDeleted(w, r)
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (f *fakeSalesforce) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "must use HTTP POST"})
		return
	}
	if r.PostForm.Get("client_id") != f.clientID || r.PostForm.Get("client_secret") != f.secret {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client", "error_description": "invalid client credentials"})
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != f.refreshToken {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "expired access/refresh token"})
		return
	}
	f.refreshes++
	instance := "http://" + r.Host
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": f.newSessionLocked(), "signature": "fakeSignature=", "scope": "api refresh_token",
		"instance_url": instance, "id": instance + "/id/00DFAKE000000000001/005FAKE000000000001",
		"token_type": "Bearer", "issued_at": strconv.FormatInt(f.clock.now().UnixMilli(), 10),
	})
}

func (f *fakeSalesforce) query(w http.ResponseWriter, q string) {
	m := soqlQuery.FindStringSubmatch(q)
	if m == nil {
		sfError(w, http.StatusBadRequest, "MALFORMED_QUERY", "the fake org only understands the example's query, not: "+q)
		return
	}
	var since time.Time
	if m[2] != "" {
		if !soqlDatetime.MatchString(m[2]) {
			sfError(w, http.StatusBadRequest, "MALFORMED_QUERY", "value of filter criterion for field 'LastModifiedDate' must be of type dateTime and should not be enclosed in quotes: "+m[2])
			return
		}
		since, _ = time.Parse(time.RFC3339, m[2])
	}
	var rows []fakeContact
	for _, c := range f.contacts {
		if m[2] == "" || c.LastModified.After(since) || (m[1] == ">=" && c.LastModified.Equal(since)) {
			rows = append(rows, *c)
		}
	}
	slices.SortFunc(rows, func(a, b fakeContact) int {
		if c := a.LastModified.Compare(b.LastModified); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	f.page(w, rows, len(rows))
}

func (f *fakeSalesforce) more(w http.ResponseWriter, id string) {
	loc, ok := f.locators[id]
	if !ok {
		sfError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	delete(f.locators, id)
	f.page(w, loc.rows, loc.total)
}

// page answers one page of rows, keeping the rest behind a query locator.
func (f *fakeSalesforce) page(w http.ResponseWriter, rows []fakeContact, total int) {
	f.queryPages++
	body := map[string]any{"totalSize": total, "done": len(rows) <= f.pageSize}
	if len(rows) > f.pageSize {
		f.nextLoc++
		// Real locators look like 01gD0000002HU6KIAW-2000: an id and the rows read so far.
		id := fmt.Sprintf("01gFAKE%011d-%d", f.nextLoc, total-len(rows)+f.pageSize)
		f.locators[id] = locator{rows: rows[f.pageSize:], total: total}
		body["nextRecordsUrl"] = "/services/data/" + f.version + "/query/" + id
		rows = rows[:f.pageSize]
	}
	records := make([]map[string]any, len(rows))
	for i, c := range rows {
		records[i] = map[string]any{
			"attributes": map[string]string{"type": "Contact", "url": "/services/data/" + f.version + "/sobjects/Contact/" + c.ID},
			"Id":         c.ID, "FirstName": c.FirstName, "LastName": c.LastName, "Email": c.Email, "AccountId": c.AccountID,
			"LastModifiedDate": c.LastModified.Format(sfResponseTime),
		}
	}
	body["records"] = records
	writeJSON(w, http.StatusOK, body)
}

func (f *fakeSalesforce) getDeleted(w http.ResponseWriter, r *http.Request) {
	now := f.clock.now().UTC()
	parse := func(name string) (time.Time, bool) {
		v := r.URL.Query().Get(name)
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			sfError(w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", fmt.Sprintf("%s must be an ISO 8601 date and time with a UTC offset, such as 2025-03-01T00:00:00+00:00, not %q", name, v))
			return time.Time{}, false
		}
		return t.UTC().Truncate(time.Minute), true // seconds are ignored
	}
	start, ok := parse("start")
	if !ok {
		return
	}
	end, ok := parse("end")
	if !ok {
		return
	}
	switch {
	case end.Sub(start) <= time.Minute:
		sfError(w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "start must be more than one minute before end")
		return
	case start.Before(now.Add(-30 * 24 * time.Hour)):
		sfError(w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "start must be within the last 30 days")
		return
	}
	if end.After(now) {
		end = now.Truncate(time.Minute)
	}
	records := []map[string]string{}
	for _, d := range f.deleted {
		if !d.At.Before(start) && d.At.Before(end) {
			records = append(records, map[string]string{"id": d.ID, "deletedDate": d.At.Format(sfResponseTime)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"deletedRecords":        records,
		"earliestDateAvailable": now.Add(-15 * 24 * time.Hour).Truncate(time.Minute).Format(sfResponseTime),
		"latestDateCovered":     end.Format(sfResponseTime),
	})
}

func sfError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, []map[string]string{{"message": msg, "errorCode": code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
