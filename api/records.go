package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// Limits of GET /records, as Nango validates its query.
const (
	maxCursorLen = 1000 // characters
	maxIDLen     = 256  // characters of one id
	maxNameLen   = 255  // bytes of a model, variant, connection id or integration key
)

// TimeLayout is how the API writes record times: microseconds and a numeric offset, like
// Nango's (PostgreSQL's to_json), for example "2023-09-18T15:20:35.941305+00:00".
const TimeLayout = "2006-01-02T15:04:05.000000-07:00"

var recordsParams = []string{"model", "variant", "delta", "modified_after", "limit", "filter", "cursor", "ids"}

// listRecordsQuery is a validated GET /records request.
type listRecordsQuery struct {
	params  nango.ListRecordsParams
	variant string
}

// listRecords serves GET /records.
func (h *Handler) listRecords(w http.ResponseWriter, r *http.Request) {
	q, e := parseRecordsQuery(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	hv := validation{what: "headers"}
	conn := headerName(&hv, r, "Connection-Id")
	integration := headerName(&hv, r, "Provider-Config-Key")
	if hv.failed() {
		writeError(w, hv.err(CodeInvalidHeaders))
		return
	}
	if _, err := h.eng.Store().ConnectionGet(r.Context(), integration, conn); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, newError(http.StatusBadRequest, CodeUnknownConnection,
				"provided Connection-Id %q and Provider-Config-Key %q do not match a valid connection", conn, integration))
			return
		}
		h.fail(w, r, err)
		return
	}
	if q.variant != "" && q.variant != "base" {
		writeError(w, newError(http.StatusBadRequest, CodeUnknownVariant,
			"model %q has no variant %q: only the base variant exists in this service", q.params.Model, q.variant))
		return
	}
	p := q.params
	p.Integration, p.Connection = integration, conn
	if len(p.IDs) > 0 {
		// Ids Nango accepts (up to 256 characters) that no record can have (longer than the
		// store's 255 bytes, or holding a NUL) match nothing.
		ids := p.IDs[:0:0]
		for _, id := range p.IDs {
			if store.ValidateID(id) == "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			writeRaw(w, http.StatusOK, []byte(`{"records":[],"next_cursor":null}`))
			return
		}
		p.IDs = ids
	}
	page, err := h.eng.ListRecords(r.Context(), p)
	if err != nil {
		switch {
		case errors.Is(err, nango.ErrUnknownIntegration):
			writeError(w, newError(http.StatusBadRequest, CodeUnknownConnection,
				"provided Connection-Id %q and Provider-Config-Key %q do not match a valid connection: no integration has this key", conn, integration))
		case errors.Is(err, nango.ErrInvalidCursor), errors.Is(err, store.ErrCursorStale):
			writeError(w, newError(http.StatusBadRequest, CodeInvalidCursor, "%v", err))
		case errors.Is(err, store.ErrInvalidParams):
			writeError(w, newError(http.StatusBadRequest, CodeInvalidQueryParams, "%v", err))
		default:
			h.fail(w, r, err)
		}
		return
	}
	body, err := encodePage(page)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// parseRecordsQuery validates the query of GET /records as Nango does (a strict schema: unknown
// and repeated parameters are errors).
func parseRecordsQuery(raw string) (*listRecordsQuery, *apiError) {
	v := validation{what: "query parameters"}
	values, err := url.ParseQuery(raw)
	if err != nil {
		v.add(issueInvalidString, fmt.Sprintf("the query string is malformed: %v", err))
		return nil, v.err(CodeInvalidQueryParams)
	}
	unknownParams(&v, values, recordsParams)
	q := &listRecordsQuery{}
	one := func(name string) (string, bool) { return single(&v, values, name) }

	if !values.Has("model") {
		v.add(issueInvalidType, "Required", "model")
	} else if m, ok := one("model"); ok && checkName(&v, m, "model") {
		q.params.Model = m
	}
	if s, ok := one("variant"); ok && checkName(&v, s, "variant") {
		q.variant = s
	}
	for _, name := range []string{"modified_after", "delta"} { // delta, deprecated, wins as in Nango
		s, ok := one(name)
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			v.add(issueInvalidString, fmt.Sprintf("%s is not an ISO 8601 date-time such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00.123+02:00", quote(s)), name)
			continue
		}
		q.params.ModifiedAfter = t
	}
	if s, ok := one("limit"); ok {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			v.add(issueInvalidType, quote(s)+" is not an integer", "limit")
		case n < 1:
			v.add(issueTooSmall, "must be at least 1", "limit")
		case n > store.MaxListLimit:
			v.add(issueTooBig, fmt.Sprintf("must be at most %d", store.MaxListLimit), "limit")
		default:
			q.params.Limit = n
		}
	}
	if s, ok := one("filter"); ok {
		f, err := nango.ParseFilter(s)
		if err != nil || strings.TrimSpace(s) == "" {
			v.add(issueInvalidEnum, quote(s)+" is not added, updated, deleted or a comma-separated combination of them", "filter")
		} else {
			q.params.Filter = f
		}
	}
	if s, ok := one("cursor"); ok {
		switch n := jsLen(s); {
		case n == 0:
			v.add(issueTooSmall, "must not be empty", "cursor")
		case n > maxCursorLen:
			v.add(issueTooBig, fmt.Sprintf("is %d characters long, more than %d", n, maxCursorLen), "cursor")
		default:
			q.params.Cursor = s
		}
	}
	if ids, ok := values["ids"]; ok {
		if len(ids) > store.MaxListIDs {
			v.add(issueTooBig, fmt.Sprintf("%d ids, more than %d", len(ids), store.MaxListIDs), "ids")
			ids = nil
		}
		for i, id := range ids {
			switch n := jsLen(id); {
			case n == 0:
				v.add(issueTooSmall, "must not be empty", "ids", i)
			case n > maxIDLen:
				v.add(issueTooBig, fmt.Sprintf("is %d characters long, more than %d", n, maxIDLen), "ids", i)
			}
		}
		q.params.IDs = ids
	}
	if v.failed() {
		return nil, v.err(CodeInvalidQueryParams)
	}
	return q, nil
}

// unknownParams reports the query parameters not in allowed.
func unknownParams(v *validation, values url.Values, allowed []string) {
	// The first maxIssues names in order, and a count: a query can hold many.
	var unknown []string
	n := 0
	for k := range values {
		if slices.Contains(allowed, k) {
			continue
		}
		n++
		i, _ := slices.BinarySearch(unknown, k)
		if i < maxIssues {
			unknown = slices.Insert(unknown, i, k)[:min(len(unknown)+1, maxIssues)]
		}
	}
	if n > 0 {
		list := quoteList(unknown)
		if n > len(unknown) {
			list += fmt.Sprintf(" and %d more", n-len(unknown))
		}
		v.add(issueUnrecognizedKey, fmt.Sprintf("unknown parameter(s) %s (this endpoint takes %s)", list, strings.Join(allowed, ", ")))
	}
}

// single returns the value of a parameter that may appear once.
func single(v *validation, values url.Values, name string) (string, bool) {
	vals, ok := values[name]
	switch {
	case !ok:
		return "", false
	case len(vals) > 1:
		v.add(issueInvalidType, fmt.Sprintf("given %d times, expected once", len(vals)), name)
		return "", false
	}
	return vals[0], true
}

// checkName checks a model, variant, connection id or integration key.
func checkName(v *validation, s string, path ...any) bool {
	switch {
	case s == "":
		v.add(issueTooSmall, "must not be empty", path...)
	case len(s) > maxNameLen:
		v.add(issueTooBig, fmt.Sprintf("is %d bytes long, more than %d", len(s), maxNameLen), path...)
	case strings.IndexByte(s, 0) >= 0:
		v.add(issueInvalidString, "contains a NUL byte", path...)
	default:
		return true
	}
	return false
}

// headerName returns a required header holding a name.
func headerName(v *validation, r *http.Request, name string) string {
	vals := r.Header.Values(name)
	path := strings.ToLower(name)
	switch {
	case len(vals) == 0:
		v.add(issueInvalidType, "Required", path)
		return ""
	case len(vals) > 1:
		v.add(issueInvalidType, fmt.Sprintf("given %d times, expected once", len(vals)), path)
		return ""
	}
	if !checkName(v, vals[0], path) {
		return ""
	}
	return vals[0]
}

// jsLen is the length of s as JavaScript counts it (UTF-16 code units), which Nango's limits use.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// encodePage writes a page as Nango does: {"records": [...], "next_cursor": "..." | null}.
func encodePage(page *nango.RecordsPage) ([]byte, error) {
	size := 40
	for _, r := range page.Records {
		size += len(r.Data) + len(r.Metadata.Cursor) + 220
	}
	b := make([]byte, 0, size)
	b = append(b, `{"records":[`...)
	for i, rec := range page.Records {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendRecord(b, rec); err != nil {
			return nil, err
		}
	}
	b = append(b, `],"next_cursor":`...)
	if page.NextCursor == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, page.NextCursor)
	}
	return append(b, '}'), nil
}

// appendRecord writes a record as Nango returns it: the payload's fields, the id as a string,
// and _nango_metadata.
func appendRecord(b []byte, rec nango.Record) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, rec.ID)
	data := rec.Data
	if len(data) == 0 && !rec.Metadata.PrunedAt.IsZero() {
		data = json.RawMessage("{}") // a pruned record: its id and metadata only
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("api: record %q: payload is not a JSON object", rec.ID)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("api: record %q: %w", rec.ID, err)
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("api: record %q: field %q: %w", rec.ID, key, err)
		}
		if key == "id" || key == "_nango_metadata" {
			continue
		}
		b = append(b, ',')
		b = appendString(b, key)
		b = append(b, ':')
		b = append(b, value...)
	}
	m := rec.Metadata
	b = append(b, `,"_nango_metadata":{"first_seen_at":`...)
	b = appendTime(b, m.FirstSeenAt)
	b = append(b, `,"last_modified_at":`...)
	b = appendTime(b, m.LastModifiedAt)
	b = append(b, `,"last_action":`...)
	b = appendString(b, string(m.LastAction))
	b = append(b, `,"deleted_at":`...)
	b = appendTime(b, m.DeletedAt)
	b = append(b, `,"pruned_at":`...)
	b = appendTime(b, m.PrunedAt)
	b = append(b, `,"cursor":`...)
	b = appendString(b, m.Cursor)
	return append(b, "}}"...), nil
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"')
}

func appendString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s) // a string always encodes
	return append(b, enc...)
}

// quoteList writes names as "a", "b".
func quoteList(names []string) string {
	q := make([]string, 0, min(len(names), maxIssues)+1)
	for _, n := range names[:min(len(names), maxIssues)] {
		q = append(q, quote(n))
	}
	if len(names) > maxIssues {
		q = append(q, fmt.Sprintf("and %d more", len(names)-maxIssues))
	}
	return strings.Join(q, ", ")
}
