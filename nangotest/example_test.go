package nangotest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
)

// A sync's first run and its next, incremental one, each replaying its own fixture file. In a
// test, t is the test's *testing.T.
func Example() {
	t := newT() // your test's t
	defer t.done()

	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
	first := h.Run()
	fmt.Println("initial:", first.Initial, first.AddedIDs("Contact"))
	cp, _ := nangotest.CheckpointAs[contactsCheckpoint](first)
	fmt.Println("checkpoint since:", cp.Since)

	next := h.Run(nangotest.WithFixtures("testdata/contacts/incremental.json"))
	fmt.Println("added:", next.AddedIDs("Contact"), "updated:", next.UpdatedIDs("Contact"))
	for _, c := range nangotest.Updated[Contact](next, "Contact") {
		fmt.Println(c.ID, c.Email)
	}
	fmt.Println("webhooks:", len(next.Webhooks), next.Webhooks[0].SyncType)
	// Output:
	// initial: true [c1 c2 c3 c4 c5]
	// checkpoint since: 2025-01-01T10:30:00Z
	// added: [c6] updated: [c2]
	// c2 bob@moog.example
	// webhooks: 1 INCREMENTAL
}

// Fixtures can be written in Go for small tests. The provider answers the second request with
// 429 and Retry-After: the engine waits on the fake clock, which costs no time, and retries.
func ExampleRateLimitRequest() {
	t := newT()
	defer t.done()

	h := nangotest.New(t, crm(syncContacts), nil)
	res := h.Run(
		nangotest.WithInteractions(
			nangotest.JSONFixture("GET", "/v1/contacts?limit=2", 200, map[string]any{
				"contacts": []map[string]string{{"id": "c1", "name": "Ada"}}, "next_cursor": "p2",
			}),
			nangotest.JSONFixture("GET", "/v1/contacts?limit=2&cursor=p2", 200, map[string]any{
				"contacts": []map[string]string{{"id": "c2", "name": "Bob"}},
			}),
		),
		nangotest.WithFailpoints(nangotest.RateLimitRequest(2, 30*time.Second)),
	)
	for _, r := range res.Requests {
		fmt.Println(r)
	}
	fmt.Println("slept:", h.Clock().Slept())
	fmt.Println("added:", res.AddedIDs("Contact"))
	// Output:
	// GET /v1/contacts?limit=2 -> 200
	// GET /v1/contacts?cursor=p2&limit=2 -> 429 (failpoint)
	// GET /v1/contacts?cursor=p2&limit=2 -> 200
	// slept: [30s]
	// added: [c1 c2]
}

// The process dies right after the second page is committed; the next run, in a restarted
// process, resumes from the checkpoint committed with that page: nothing is lost, and nothing
// shows up twice in the change feed.
func ExampleCrashAfterBatchSave() {
	t := newT()
	defer t.done()

	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
	crashed := h.RunFailing(nangotest.WithFailpoints(nangotest.CrashAfterBatchSave(2)), nangotest.AllowUnusedFixtures())
	fmt.Println("crashed:", crashed.Crashed, errors.Is(crashed.Err, nangotest.ErrCrashed), crashed.AddedIDs("Contact"))

	resumed := h.Run(nangotest.AllowUnusedFixtures())
	fmt.Println("resumed:", resumed.AddedIDs("Contact"), "updated:", resumed.UpdatedIDs("Contact"))
	for _, r := range resumed.Requests {
		fmt.Println(r)
	}
	fmt.Println("stored:", len(nangotest.Records[Contact](h, "Contact")))
	// Output:
	// crashed: true true [c1 c2 c3 c4]
	// resumed: [c5] updated: []
	// GET /v1/contacts?cursor=p3&limit=2 -> 200
	// stored: 5
}

// CheckCrashRecovery crashes the sync after each of its commits in turn (its start, each
// BatchSave, its end), and makes each commit fail in turn, and checks that the next run always
// ends where a clean run does, without showing anything twice.
func ExampleCheckCrashRecovery() {
	t := newT()
	defer t.done()

	// After a crash that follows the last commit, the next run is an incremental one: the
	// fixtures must answer it too (here: nothing changed).
	nothingNew := nangotest.JSONFixture("GET", "/v1/contacts?limit=2&updated_since=2025-01-01T10:30:00Z", 200,
		map[string]any{"contacts": []any{}})
	nangotest.CheckCrashRecovery(t, func(tb testing.TB) *nangotest.Harness {
		return nangotest.New(tb, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
	}, nangotest.WithInteractions(nothingNew))
	fmt.Println("no failure reported")
	// Output: no failure reported
}

// Validate checks what a run saved against the model's Go type and a function of the test's,
// and reports every violation with the record's id and the field.
func ExampleViolations() {
	t := newT()
	defer t.done()

	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
	res := h.Run()
	violations := nangotest.Violations(res, "Contact", func(c Contact) error {
		var errs []error
		if !strings.HasSuffix(c.Email, "@example.com") || strings.HasPrefix(c.Email, "eve") {
			errs = append(errs, &nangotest.FieldError{Field: "email", Reason: "not a customer address"})
		}
		return errors.Join(errs...)
	})
	for _, v := range violations {
		fmt.Println(v)
	}
	// Output: Contact "c5" email: not a customer address
}

// Any other engine call works on the harness's engine.
func ExampleHarness_Engine() {
	t := newT()
	defer t.done()

	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
	h.Run()
	st, err := h.Engine().Status(t.Context(), nango.SyncSelector{Integration: h.Integration(), Connection: h.Connection()})
	if err != nil {
		panic(err)
	}
	fmt.Println(st[0].Status, st[0].RecordCounts["Contact"], st[0].LatestRun.StartedAt)
	// Output: SUCCESS 5 2025-01-01 00:00:00 +0000 UTC
}

// A stateful fake of the provider's API (an http.Handler: here a fake CRM whose contacts the
// test changes) answers every request of the runs, also those of a run that resumes from its
// checkpoint after a crash, which no recorded fixture would answer. CheckCrashRecovery then
// checks an incremental run: newHarness makes the initial run and changes the fake's data
// before it hands the harness over, so every run it crashes is incremental.
func ExampleOptions_provider() {
	t := newT()
	defer t.done()

	newHarness := func(tb testing.TB) *nangotest.Harness {
		api := newStatefulCRM(5)
		h := nangotest.New(tb, crm(syncContacts), &nangotest.Options{Provider: api})
		h.Run() // the initial run
		api.put(apiContact{ID: "c2", Name: "Bob Moog", Email: "bob@moog.example"})
		api.put(apiContact{ID: "c6", Name: "Eve Arden", Email: "eve@example.com"})
		api.put(apiContact{ID: "c7", Name: "Fay Wray", Email: "fay@example.com"})
		return h
	}
	h := newHarness(t)
	res := h.Run()
	fmt.Println("added:", res.AddedIDs("Contact"), "updated:", res.UpdatedIDs("Contact"))
	for _, r := range res.Requests {
		fmt.Println(r)
	}
	fmt.Println("commits:", len(res.Commits))

	nangotest.CheckCrashRecovery(t, newHarness)
	fmt.Println("no failure reported")
	// Output:
	// added: [c6 c7] updated: [c2]
	// GET /v1/contacts?limit=2&updated_since=2025-01-01T10%3A05%3A00Z -> 200
	// GET /v1/contacts?cursor=2&limit=2&updated_since=2025-01-01T10%3A05%3A00Z -> 200
	// commits: 4
	// no failure reported
}
