package nangotest_test

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gonango/nango"
)

// Contact is the model of the contacts sync the tests and examples run.
type Contact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// contactsCheckpoint is where the contacts sync stands: Cursor is the next page of a run in
// progress, Since where the next run starts, Newest the newest change saved so far.
type contactsCheckpoint struct {
	Since  string `json:"since,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Newest string `json:"newest,omitempty"`
}

// apiContact is a contact as the CRM's API sends it.
type apiContact struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	UpdatedAt string `json:"updated_at"`
}

// syncContacts is an incremental sync of a CRM's contacts: pages of GET /v1/contacts (a cursor
// in next_cursor), changes since the newest one the previous run saw. Each page is saved with
// the checkpoint that covers it, so a run that dies resumes at the page after the last one it
// saved.
func syncContacts(ctx context.Context, n *nango.Nango) error {
	var cp contactsCheckpoint
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	for {
		q := url.Values{"limit": {"2"}}
		if cp.Since != "" {
			q.Set("updated_since", cp.Since)
		}
		if cp.Cursor != "" {
			q.Set("cursor", cp.Cursor)
		}
		resp, err := n.Get(ctx, &nango.Request{Path: "/v1/contacts", Query: q})
		if err != nil {
			return err
		}
		var page struct {
			Contacts   []apiContact `json:"contacts"`
			NextCursor string       `json:"next_cursor"`
		}
		if err := resp.Decode(&page); err != nil {
			return err
		}
		records := make([]Contact, len(page.Contacts))
		for i, c := range page.Contacts {
			records[i] = Contact{ID: c.ID, Name: c.Name, Email: c.Email}
			cp.Newest = max(cp.Newest, c.UpdatedAt)
		}
		cp.Cursor = page.NextCursor
		if cp.Cursor == "" {
			cp.Since = cp.Newest // the run is complete: the next one starts from here
		}
		if err := n.BatchSave(ctx, records, "Contact", nango.WithCheckpoint(cp)); err != nil {
			return err
		}
		if cp.Cursor == "" {
			return nil
		}
	}
}

// crm is the integration of the contacts sync.
func crm(sync nango.SyncFunc) nango.Integration {
	return nango.Integration{
		Key:     "crm",
		BaseURL: "https://api.crm.example",
		Auth:    nango.APIKey{Header: "X-Api-Key"},
		Syncs: []nango.SyncConfig{{
			Name:      "contacts",
			Frequency: "every hour",
			Models:    []nango.Model{nango.ModelOf[Contact]("Contact")},
			Sync:      sync,
		}},
	}
}

// fakeTB is a testing.TB that keeps the failures it is told about, for tests of what the
// harness reports. Fatalf ends the goroutine, as testing.T's does: call the code under test
// through run.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	fatal    string
	cleanups []func()
}

func newFakeTB(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	t.Cleanup(func() {
		for i := len(f.cleanups) - 1; i >= 0; i-- {
			f.cleanups[i]()
		}
	})
	return f
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Cleanup(fn func())        { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Logf(string, ...any)      {}
func (f *fakeTB) Log(...any)               {}
func (f *fakeTB) Context() context.Context { return context.Background() }

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn on a goroutine of its own, so that Fatalf can end it.
func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func (f *fakeTB) all() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(append(append([]string(nil), f.errors...), f.fatal), "\n")
}

// exampleT stands in for a test's *testing.T in the examples.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func newT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(fn func())                 { t.cleanups = append(t.cleanups, fn) }
func (t *exampleT) Logf(string, ...any)               {}
func (t *exampleT) Context() context.Context          { return context.Background() }
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("FAIL: "+format+"\n", args...) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
