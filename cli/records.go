package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

func runRecords(e *env, args []string) error {
	f := e.flags("records", commandArgs("records")).withIntegration().withConnection(true).withModel().withJSON()
	cursor := f.String("cursor", "", "continue after this cursor (a record's cursor or a page's next cursor)")
	filter := f.String("filter", "", "keep records whose last action is one of: added, updated, deleted (comma-separated)")
	modifiedAfter := f.String("modified-after", "", "keep records modified at or after this time (RFC 3339 or a date)")
	idList := f.String("ids", "", "keep these ids (comma-separated, at most 100)")
	limit := f.Int("limit", store.DefaultListLimit, "page size, 1 to 10,000")
	all := f.Bool("all", false, "read every page to the end of the feed")
	if err := f.parse(args); err != nil {
		return err
	}
	p := nango.ListRecordsParams{Integration: f.integration, Connection: f.connection, Model: f.model, Cursor: *cursor, Limit: *limit}
	var err error
	if p.Filter, err = nango.ParseFilter(*filter); err != nil {
		return fmt.Errorf("%w: records: %w", ErrUsage, err)
	}
	if *modifiedAfter != "" {
		if p.ModifiedAfter, err = parseTime(*modifiedAfter); err != nil {
			return fmt.Errorf("%w: records: -modified-after: %w", ErrUsage, err)
		}
	}
	if *idList != "" {
		// Counted before the list is split, so that a huge list costs one pass.
		if n := strings.Count(*idList, ",") + 1; n > store.MaxListIDs {
			return fmt.Errorf("%w: records: -ids: %d ids, more than %d", ErrUsage, n, store.MaxListIDs)
		}
		seen := map[string]bool{}
		for id := range strings.SplitSeq(*idList, ",") {
			if id = strings.TrimSpace(id); id != "" && !seen[id] {
				seen[id] = true
				p.IDs = append(p.IDs, id)
			}
		}
	}

	if err := e.checkStream(p); err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	var tab *table
	if f.json {
		w.WriteString(`{"records":[`)
	} else {
		tab = newTable(w, "ID", "ACTION", "LAST MODIFIED", "DATA")
	}
	n := 0
	next := ""
	for {
		page, err := e.listRecords(p)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			if f.json {
				if n > 0 {
					w.WriteString(",")
				}
				w.WriteString("\n")
				b, err := nangoRecord(r)
				if err != nil {
					return err
				}
				w.Write(b)
			} else {
				tab.row(r.ID, string(r.Metadata.LastAction), timeText(r.Metadata.LastModifiedAt), clip(string(r.Data), 100))
			}
			n++
		}
		next = page.NextCursor
		if !*all || next == "" {
			break
		}
		p.Cursor = next
	}
	if f.json {
		nc := []byte("null")
		if next != "" {
			nc, _ = json.Marshal(next)
		}
		fmt.Fprintf(w, "\n],\"next_cursor\":%s}\n", nc)
		return w.Flush()
	}
	if err := tab.flush(); err != nil {
		return err
	}
	switch {
	case next != "":
		fmt.Fprintf(w, "\n%d records; more after -cursor %s\n", n, next)
	default:
		fmt.Fprintf(w, "\n%d records; end of the feed\n", n)
	}
	return w.Flush()
}

// checkStream makes a misspelt connection or model an error rather than an empty feed. With
// the engine, ListRecords checks the names; from the store, the connection must exist, and a
// model must have records or be written by one of the connection's syncs (as far as their
// schedules and runs tell).
func (e *env) checkStream(p nango.ListRecordsParams) error {
	if e.eng != nil {
		return nil
	}
	if _, err := e.st.ConnectionGet(e.ctx, p.Integration, p.Connection); errors.Is(err, store.ErrNotFound) {
		conns, lerr := e.st.ConnectionList(e.ctx, p.Integration)
		if lerr != nil {
			return wrapf(lerr, "listing connections")
		}
		ids := make([]string, 0, len(conns))
		for _, c := range conns {
			ids = append(ids, c.ID)
		}
		if len(ids) == 0 {
			keys, err := e.storeIntegrations()
			if err != nil {
				return err
			}
			return fmt.Errorf("no connection %q of integration %q: the store has no connections of %q (integrations with connections: %s)",
				p.Connection, p.Integration, p.Integration, orNone(keys))
		}
		return fmt.Errorf("no connection %q of integration %q (its connections: %s)", p.Connection, p.Integration, orNone(ids))
	} else if err != nil {
		return wrapf(err, "loading connection %q", p.Connection)
	}
	stats, err := e.st.StreamStats(e.ctx, store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model})
	if err != nil {
		return wrapf(err, "counting records of %s", p.Model)
	}
	if stats.Live+stats.Deleted > 0 {
		return nil
	}
	models, err := e.knownModels(p.Integration, p.Connection)
	if err != nil {
		return err
	}
	if len(models) > 0 && !slices.Contains(models, p.Model) {
		return fmt.Errorf("no records of model %q for connection %q of integration %q (its syncs write: %s)",
			p.Model, p.Connection, p.Integration, strings.Join(models, ", "))
	}
	return nil
}

// knownModels lists the models the latest runs of a connection's scheduled syncs wrote.
func (e *env) knownModels(integration, connection string) ([]string, error) {
	scheds, err := e.st.ScheduleList(e.ctx, integration)
	if err != nil {
		return nil, wrapf(err, "listing schedules")
	}
	var models []string
	for _, s := range scheds {
		if s.Key.Connection != connection {
			continue
		}
		runs, err := e.st.RunList(e.ctx, &store.RunListParams{Key: s.Key, Limit: 5})
		if err != nil {
			return nil, wrapf(err, "listing runs of %s", s.Key.Sync)
		}
		for _, r := range runs {
			for m := range r.Results {
				if !slices.Contains(models, m) {
					models = append(models, m)
				}
			}
		}
	}
	slices.Sort(models)
	return models, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// listRecords reads a page through the engine (which checks the names) or the store.
func (e *env) listRecords(p nango.ListRecordsParams) (*nango.RecordsPage, error) {
	if e.eng != nil {
		return e.eng.ListRecords(e.ctx, p)
	}
	res, err := e.st.RecordsList(e.ctx, &store.RecordsListParams{
		Stream: store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model},
		Cursor: p.Cursor, ModifiedAfter: p.ModifiedAfter, Filter: p.Filter, IDs: p.IDs, Limit: p.Limit,
	})
	if err != nil {
		return nil, wrapf(err, "listing records of %s/%s/%s", p.Integration, p.Connection, p.Model)
	}
	if err := e.opener.OpenRecords(e.ctx, store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model}, res.Records); err != nil {
		return nil, wrapf(err, "reading records of %s/%s/%s", p.Integration, p.Connection, p.Model)
	}
	page := &nango.RecordsPage{NextCursor: res.NextCursor}
	for _, r := range res.Records {
		page.Records = append(page.Records, nango.Record{ID: r.ID, Data: r.Data, Metadata: nango.RecordMetadata(r.Metadata)})
	}
	return page, nil
}

// nangoRecord encodes a record as Nango's GET /records does: its payload with a
// _nango_metadata member.
func nangoRecord(r nango.Record) ([]byte, error) {
	meta := map[string]any{
		"first_seen_at":    jsonTime(r.Metadata.FirstSeenAt),
		"last_modified_at": jsonTime(r.Metadata.LastModifiedAt),
		"last_action":      r.Metadata.LastAction,
		"deleted_at":       jsonTime(r.Metadata.DeletedAt),
		"pruned_at":        jsonTime(r.Metadata.PrunedAt),
		"cursor":           r.Metadata.Cursor,
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	data := bytes.TrimSpace(r.Data)
	if len(data) < 2 || data[len(data)-1] != '}' {
		return nil, fmt.Errorf("record %q is not a JSON object", r.ID)
	}
	out := append([]byte(nil), data[:len(data)-1]...)
	if len(bytes.TrimSpace(out)) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"_nango_metadata":`...)
	out = append(out, mb...)
	return append(out, '}'), nil
}

// recordTimeLayout is how Nango's API writes record times (package api's TimeLayout).
const recordTimeLayout = "2006-01-02T15:04:05.000000-07:00"

func jsonTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(recordTimeLayout)
}

func commandArgs(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.args
		}
	}
	return ""
}
