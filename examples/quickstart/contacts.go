package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// contactsSync is an incremental sync of the CRM's contacts.
type contactsSync struct {
	client *http.Client
	last   fetchStats // of the latest run; read after RunSync returns
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
	q := url.Values{"limit": {"10"}}
	if !cp.UpdatedAfter.IsZero() {
		q.Set("updated_after", cp.UpdatedAfter.Format(time.RFC3339Nano))
	}
	for {
		var page struct {
			Contacts   []crmContact `json:"contacts"`
			NextCursor string       `json:"next_cursor"`
		}
		if err := s.get(ctx, n.BaseURL()+"/contacts?"+q.Encode(), &page); err != nil {
			return err
		}
		stats.Pages++
		stats.Contacts += len(page.Contacts)
		records := make([]Contact, len(page.Contacts))
		for i, c := range page.Contacts {
			records[i] = Contact{ID: c.ID, FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Company: c.Company}
			cp.UpdatedAfter = c.UpdatedAt
		}
		if err := n.BatchSave(ctx, records, "Contact", nango.WithCheckpoint(cp)); err != nil {
			return err
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}

	// Deletions: the CRM keeps tombstones. Ids the store does not hold, or holds as deleted
	// already, are ignored by BatchDelete.
	dq := url.Values{}
	if !cp.DeletedSince.IsZero() {
		dq.Set("since", cp.DeletedSince.Format(time.RFC3339Nano))
	}
	var tombstones struct {
		Deleted []crmDeletion `json:"deleted"`
	}
	if err := s.get(ctx, n.BaseURL()+"/contacts/deleted?"+dq.Encode(), &tombstones); err != nil {
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
		if err := n.BatchDelete(ctx, ids, "Contact", nango.WithCheckpoint(cp)); err != nil {
			return err
		}
	}
	s.last = stats
	return nil
}

// get fetches a JSON document from the provider's API.
func (s *contactsSync) get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decoding response: %w", req.URL.Path, err)
	}
	return nil
}
