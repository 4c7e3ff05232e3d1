package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// recordsData is the data of the records page.
type recordsData struct {
	Integration, Connection, Model string
	Path                           string // the page's path under Base
	Records                        []recordView
	Cursor                         string       // this page's cursor
	Next                           template.URL // the next page's query (encoded), "" on the last page
	Filters                        []string
	Filter                         map[string]bool
	ModifiedAfter                  string
	Live, Deleted                  int
	Record                         *recordView // the record page's record
}

// recordView is a record as the page shows it.
type recordView struct {
	nango.Record
	JSON string // the record as Nango's REST API answers it, with _nango_metadata, indented
}

// nangoTime writes a time as Nango's API does; the zero time is null.
func nangoTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

func newRecordView(r nango.Record) recordView {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &fields); err != nil || fields == nil {
		fields = map[string]json.RawMessage{}
	}
	m := r.Metadata
	meta, _ := json.Marshal(map[string]any{
		"first_seen_at": nangoTime(m.FirstSeenAt), "last_modified_at": nangoTime(m.LastModifiedAt),
		"last_action": m.LastAction, "deleted_at": nangoTime(m.DeletedAt), "pruned_at": nangoTime(m.PrunedAt), "cursor": m.Cursor,
	})
	fields["_nango_metadata"] = meta
	out, _ := json.Marshal(fields)
	return recordView{Record: r, JSON: prettyJSON(out)}
}

// stream reads the stream of the path and checks the connection.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) (*recordsData, bool) {
	d := &recordsData{Integration: r.PathValue("integration"), Connection: r.PathValue("connection"), Model: r.PathValue("model"),
		Filters: []string{"added", "updated", "deleted"}, Filter: map[string]bool{}}
	d.Path = "/r/" + url.PathEscape(d.Integration) + "/" + url.PathEscape(d.Connection) + "/" + url.PathEscape(d.Model)
	if _, err := h.eng.Store().ConnectionGet(r.Context(), d.Integration, d.Connection); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no connection %q in integration %q.", d.Connection, d.Integration))
		} else {
			h.internal(w, r, err)
		}
		return nil, false
	}
	st, err := h.eng.Store().StreamStats(r.Context(), store.Stream{Integration: d.Integration, Connection: d.Connection, Model: d.Model})
	if err != nil {
		h.internal(w, r, err)
		return nil, false
	}
	d.Live, d.Deleted = st.Live, st.Deleted
	return d, true
}

// parseTime reads the modified-after field: a datetime-local value (taken as UTC) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write it as 2026-01-31T14:30 (UTC) or in RFC 3339", s)
}

// recordsPage serves the change feed of a model for a connection, a page at a time by cursor.
func (h *Handler) recordsPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.stream(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var filters []string
	for _, v := range q["filter"] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.ToLower(strings.TrimSpace(part)); part != "" && !slices.Contains(filters, part) {
				filters = append(filters, part)
			}
		}
	}
	filter, err := nango.ParseFilter(strings.Join(filters, ","))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, sentence(err))
		return
	}
	for _, f := range filters {
		d.Filter[f] = true
	}
	p := nango.ListRecordsParams{Integration: d.Integration, Connection: d.Connection, Model: d.Model,
		Cursor: q.Get("cursor"), Filter: filter, Limit: h.pageSize}
	if s := q.Get("modified_after"); s != "" {
		if p.ModifiedAfter, err = parseTime(s); err != nil {
			h.fail(w, r, http.StatusBadRequest, sentence(err))
			return
		}
		d.ModifiedAfter = s
	}
	d.Cursor = p.Cursor
	page, err := h.eng.ListRecords(r.Context(), p)
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	for _, rec := range page.Records {
		d.Records = append(d.Records, newRecordView(rec))
	}
	if page.NextCursor != "" {
		next := url.Values{"cursor": {page.NextCursor}}
		if len(filters) > 0 {
			next["filter"] = filters
		}
		if d.ModifiedAfter != "" {
			next.Set("modified_after", d.ModifiedAfter)
		}
		d.Next = template.URL(next.Encode()) // encoded by url.Values: safe in an href
	}
	h.render(w, r, http.StatusOK, "records", h.newPage(w, r, d.Model+" · "+d.Connection, "overview", d))
}

// recordPage serves one record by id, deleted or not.
func (h *Handler) recordPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.stream(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("id")
	if err := store.ValidateName("record id", id); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Give the record's id in the address (?id=...).")
		return
	}
	recs, err := h.eng.GetRecords(r.Context(), d.Integration, d.Connection, d.Model, []string{id})
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	rec, found := recs[id]
	if !found {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no record %q of model %s for connection %q.", id, d.Model, d.Connection))
		return
	}
	v := newRecordView(rec)
	d.Record = &v
	h.render(w, r, http.StatusOK, "record", h.newPage(w, r, id+" · "+d.Model, "overview", d))
}
