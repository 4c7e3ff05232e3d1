package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gonango/nango"
)

const (
	integrationKey = "salesforce"
	syncName       = "salesforce-contacts"
	modelName      = "SalesforceContact"
)

// SalesforceContact is the model of the Nango page this example follows.
type SalesforceContact struct {
	ID               string  `json:"id"`
	FirstName        string  `json:"first_name"`
	LastName         string  `json:"last_name"`
	Email            string  `json:"email"`
	AccountID        *string `json:"account_id"`
	LastModifiedDate string  `json:"last_modified_date"`
}

// checkpoint is how far the sync got. LastModifiedISO is the LastModifiedDate of the newest
// contact saved; DeletedSince is where the next read of deletions starts (Salesforce's
// latestDateCovered of the last read).
type checkpoint struct {
	LastModifiedISO string `json:"lastModifiedISO,omitempty"`
	DeletedSince    string `json:"deletedSince,omitempty"`
}

// sfContact is a Contact row of the REST query API.
type sfContact struct {
	ID               string  `json:"Id"`
	FirstName        string  `json:"FirstName"`
	LastName         string  `json:"LastName"`
	Email            *string `json:"Email"`
	AccountID        *string `json:"AccountId"`
	LastModifiedDate string  `json:"LastModifiedDate"`
}

// Salesforce's date formats: what responses carry, what SOQL takes as a datetime literal, and
// what the getDeleted resource takes for start and end (seconds are ignored there).
const (
	sfResponseTime = "2006-01-02T15:04:05.000-0700"
	soqlLiteral    = "2006-01-02T15:04:05Z"
	sfReplication  = "2006-01-02T15:04:05-07:00"
)

// Constraints of sObject Get Deleted: start no earlier than 30 days before now, and more than
// a minute before end.
const (
	deletedMaxAge    = 30 * 24 * time.Hour
	deletedMinWindow = time.Minute
)

// runStats is what one run did at the API, for the program's output.
type runStats struct {
	From      checkpoint
	Query     string
	Pages     int
	Contacts  int
	Deletions string // what happened with deletions
}

// contactsSync is an incremental sync of Salesforce contacts: changes since the checkpoint
// through the query API, and deletions through sObject Get Deleted.
type contactsSync struct {
	version string           // the REST API version, "v62.0"
	now     func() time.Time // Salesforce's clock, for the deletions window

	mu   sync.Mutex
	last runStats
}

func (s *contactsSync) Exec(ctx context.Context, n *nango.Nango) error {
	var cp checkpoint
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil { // zero on the initial run
		return err
	}
	st := runStats{From: cp}
	defer func() {
		s.mu.Lock()
		s.last = st
		s.mu.Unlock()
	}()
	// Salesforce ignores the seconds of start and end; the window is whole minutes.
	now := s.now().UTC().Truncate(time.Minute)

	// Deletions first: a contact deleted and then restored is saved again below.
	unsaved := false // cp holds a change not stored yet
	if cp.DeletedSince == "" {
		// Nothing is stored yet that could have been deleted; read deletions from now on.
		cp.DeletedSince = now.Format(time.RFC3339)
		st.Deletions = "deletions not read (initial run)"
		unsaved = true
	} else if err := s.deletions(ctx, n, &cp, now, &st); err != nil {
		return err
	}

	// Changes: contacts modified since the watermark, oldest first. The comparison is >= so
	// that a contact modified in the same second as the watermark, after the last run read it,
	// is not missed; contacts read again are saved unchanged, which costs nothing.
	q := "SELECT Id, FirstName, LastName, Email, AccountId, LastModifiedDate FROM Contact"
	if cp.LastModifiedISO != "" {
		since, err := time.Parse(time.RFC3339, cp.LastModifiedISO)
		if err != nil {
			return fmt.Errorf("checkpoint lastModifiedISO %q: %w", cp.LastModifiedISO, err)
		}
		q += " WHERE LastModifiedDate >= " + since.UTC().Format(soqlLiteral)
	}
	q += " ORDER BY LastModifiedDate ASC, Id ASC"
	st.Query = q
	req := &nango.Request{
		Path:   "/services/data/" + s.version + "/query",
		Query:  url.Values{"q": {q}},
		Header: http.Header{"Sforce-Query-Options": {"batchSize=2000"}},
	}
	for page, err := range n.Paginate(ctx, req, nango.LinkPagination{NextURLPath: "nextRecordsUrl", ResultsPath: "records"}) {
		if err != nil {
			return err
		}
		var rows []sfContact
		if err := page.DecodeItems(&rows); err != nil {
			return err
		}
		st.Pages++
		st.Contacts += len(rows)
		if len(rows) == 0 {
			continue
		}
		contacts := make([]SalesforceContact, len(rows))
		for i, r := range rows {
			contacts[i] = SalesforceContact{ID: r.ID, FirstName: r.FirstName, LastName: r.LastName, AccountID: r.AccountID, LastModifiedDate: r.LastModifiedDate}
			if r.Email != nil {
				contacts[i].Email = *r.Email
			}
		}
		last, err := time.Parse(sfResponseTime, rows[len(rows)-1].LastModifiedDate)
		if err != nil {
			return fmt.Errorf("contact %s: LastModifiedDate: %w", rows[len(rows)-1].ID, err)
		}
		cp.LastModifiedISO = last.UTC().Format(time.RFC3339)
		// The page and the checkpoint that covers it commit together: a run that fails later
		// resumes after this page.
		if err := n.BatchSave(ctx, contacts, modelName, nango.WithCheckpoint(cp)); err != nil {
			return err
		}
		unsaved = false
	}
	if unsaved {
		return n.SaveCheckpoint(ctx, cp)
	}
	return nil
}

// deletions reads the contacts deleted since cp.DeletedSince and marks them DELETED.
func (s *contactsSync) deletions(ctx context.Context, n *nango.Nango, cp *checkpoint, now time.Time, st *runStats) error {
	start, err := time.Parse(time.RFC3339, cp.DeletedSince)
	if err != nil {
		return fmt.Errorf("checkpoint deletedSince %q: %w", cp.DeletedSince, err)
	}
	if oldest := now.Add(-deletedMaxAge).Add(time.Minute); start.Before(oldest) {
		n.Logger().Warn("Salesforce keeps deletions for a limited time only: deletions before the window may have been missed; run with a reset to resync in full",
			"deleted_since", cp.DeletedSince, "window_start", oldest.Format(time.RFC3339))
		start = oldest
	}
	if now.Sub(start) <= deletedMinWindow {
		st.Deletions = "deletions not read (less than a minute since the last read)"
		return nil
	}
	resp, err := n.Get(ctx, &nango.Request{
		Path:  "/services/data/" + s.version + "/sobjects/Contact/deleted/",
		Query: url.Values{"start": {start.Format(sfReplication)}, "end": {now.Format(sfReplication)}},
	})
	if err != nil {
		return err
	}
	var d struct {
		DeletedRecords []struct {
			ID          string `json:"id"`
			DeletedDate string `json:"deletedDate"`
		} `json:"deletedRecords"`
		EarliestDateAvailable string `json:"earliestDateAvailable"`
		LatestDateCovered     string `json:"latestDateCovered"`
	}
	if err := resp.Decode(&d); err != nil {
		return err
	}
	if earliest, err := time.Parse(sfResponseTime, d.EarliestDateAvailable); err == nil && earliest.After(start) {
		n.Logger().Warn("Salesforce no longer has all deletions since the last read: some may have been missed; run with a reset to resync in full",
			"earliest_date_available", d.EarliestDateAvailable, "deleted_since", cp.DeletedSince)
	}
	// Salesforce says where the next read must start: latestDateCovered.
	next := now
	if covered, err := time.Parse(sfResponseTime, d.LatestDateCovered); err == nil {
		next = covered
	}
	cp.DeletedSince = next.UTC().Format(time.RFC3339)
	st.Deletions = fmt.Sprintf("deletions from %s to %s: %s", start.Format(time.RFC3339), now.Format(time.RFC3339), plural(len(d.DeletedRecords), "id"))
	ids := make([]string, len(d.DeletedRecords))
	for i, r := range d.DeletedRecords {
		ids[i] = r.ID
	}
	if len(ids) == 0 {
		return n.SaveCheckpoint(ctx, *cp)
	}
	return n.BatchDelete(ctx, ids, modelName, nango.WithCheckpoint(*cp))
}

func (s *contactsSync) stats() runStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
