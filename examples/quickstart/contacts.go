package main

import (
	"context"
	"net/url"
	"time"

	"github.com/gonango/nango"
)

// Contact is the model the sync saves: the fields the app needs, not the API's whole object.
// Leaving updated_at out means a contact the CRM merely touched is saved unchanged and does not
// show up in the change feed.
type Contact struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Company   string `json:"company"`
}

// contactsCheckpoint is how far the sync got: the newest updated_at and deleted_at it has
// saved. The CRM's filters are inclusive, so the next run fetches the contacts at the watermark
// again; they are saved unchanged, which costs nothing and never misses a contact changed in
// the same instant.
type contactsCheckpoint struct {
	UpdatedAfter time.Time `json:"updated_after,omitzero"`
	DeletedSince time.Time `json:"deleted_since,omitzero"`
}

// fetchStats is what one run fetched from the API, for the quickstart's output.
type fetchStats struct {
	From     contactsCheckpoint
	Pages    int
	Contacts int
	Deleted  int
}

// apiKey is the key the fake CRM accepts. A real one comes from the connection's owner and is
// stored with the connection, never in code.
const apiKey = "crm_demo_key"

// integration is the fake CRM's integration as the service registers it: where its API is, how
// requests authenticate (the connection's API key, as a bearer token), how fast a connection
// may go, and the contacts sync.
func integration(baseURL string, contacts *contactsSync) nango.Integration {
	return nango.Integration{
		Key:     integrationKey,
		BaseURL: baseURL,
		Auth:    nango.APIKey{}, // Authorization: Bearer <the connection's APIKey>
		HTTP: &nango.HTTPConfig{
			// At most 20 requests a second per connection, 5 at once; 429s and 5xx are
			// retried with backoff, and Retry-After is honoured, by default.
			RateLimit: &nango.RateLimit{Limit: 20, Burst: 5},
		},
		Syncs: []nango.SyncConfig{{
			Name:        syncName,
			Description: "Contacts of the fake CRM, incrementally",
			Frequency:   "every hour",
			Models:      []nango.Model{nango.ModelOf[Contact](modelName)},
			Sync:        contacts,
		}},
	}
}

// contactsSync is an incremental sync of the CRM's contacts. Its requests go through the
// handle (n.Paginate, n.Get): authenticated with the connection's key, rate limited, retried,
// and answered by fixtures in tests.
type contactsSync struct {
	last fetchStats // of the latest run; read after RunSync returns
}

func (s *contactsSync) Exec(ctx context.Context, n *nango.Nango) error {
	var cp contactsCheckpoint // zero on the initial run: fetch everything
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	stats := fetchStats{From: cp}

	// Contacts changed since the watermark, oldest change first, page by page. Each page is
	// saved together with the checkpoint that covers it, so a run that fails halfway resumes
	// after the last page it saved.
	req := &nango.Request{Path: "/contacts", Query: url.Values{}}
	if !cp.UpdatedAfter.IsZero() {
		req.Query.Set("updated_after", cp.UpdatedAfter.Format(time.RFC3339Nano))
	}
	pages := nango.CursorPagination{CursorPath: "next_cursor", ResultsPath: "contacts", Limit: 10}
	for page, err := range n.Paginate(ctx, req, pages) {
		if err != nil {
			return err
		}
		var contacts []crmContact
		if err := page.DecodeItems(&contacts); err != nil {
			return err
		}
		stats.Pages++
		stats.Contacts += len(contacts)
		records := make([]Contact, len(contacts))
		for i, c := range contacts {
			records[i] = Contact{ID: c.ID, FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Company: c.Company}
			cp.UpdatedAfter = c.UpdatedAt
		}
		if err := n.BatchSave(ctx, records, modelName, nango.WithCheckpoint(cp)); err != nil {
			return err
		}
	}

	// Deletions: the CRM keeps tombstones. Ids the store does not hold, or holds as deleted
	// already, are ignored by BatchDelete.
	dreq := &nango.Request{Path: "/contacts/deleted"}
	if !cp.DeletedSince.IsZero() {
		dreq.Query = url.Values{"since": {cp.DeletedSince.Format(time.RFC3339Nano)}}
	}
	resp, err := n.Get(ctx, dreq)
	if err != nil {
		return err
	}
	var tombstones struct {
		Deleted []crmDeletion `json:"deleted"`
	}
	if err := resp.Decode(&tombstones); err != nil {
		return err
	}
	stats.Deleted = len(tombstones.Deleted)
	if len(tombstones.Deleted) > 0 {
		ids := make([]string, len(tombstones.Deleted))
		for i, d := range tombstones.Deleted {
			ids[i] = d.ID
			if d.DeletedAt.After(cp.DeletedSince) {
				cp.DeletedSince = d.DeletedAt
			}
		}
		if err := n.BatchDelete(ctx, ids, modelName, nango.WithCheckpoint(cp)); err != nil {
			return err
		}
	}
	s.last = stats
	return nil
}
