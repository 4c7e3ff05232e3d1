package nango

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
)

// Pagination is a provider's way of splitting a list into pages: it makes the request of each
// page and finds the items in the responses. The built-in ones are CursorPagination,
// LinkPagination, OffsetPagination and PagePagination; implement it for any other scheme.
// Nango.Paginate guards every Pagination against repeated pages and endless listings.
type Pagination interface {
	// First returns the request of the first page, made from the caller's request (adding a
	// page size, say). It must not modify req.
	First(req *Request) (*Request, error)
	// Next returns the request of the page after the one that req fetched, given its response
	// and its items, or nil when that page was the last. It must not modify req.
	Next(req *Request, resp *Response, items []json.RawMessage) (*Request, error)
	// Items returns the items of a page.
	Items(resp *Response) ([]json.RawMessage, error)
}

// Page is one page of a listing.
type Page struct {
	// Number counts the pages of the listing from 1.
	Number   int
	Response *Response
	// Items are the page's items as raw JSON.
	Items []json.RawMessage
}

// DecodeItems unmarshals the page's items into v, a pointer to a slice.
func (p *Page) DecodeItems(v any) error {
	data, err := json.Marshal(p.Items)
	if err != nil {
		return fmt.Errorf("nango: decoding the items of page %d: %w", p.Number, err)
	}
	if p.Items == nil {
		data = []byte("[]")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("nango: decoding the items of page %d into %T: %w", p.Number, v, err)
	}
	return nil
}

// Paginate returns an iterator over the pages of a listing: it sends req as p's first page,
// then the request p makes for each next page, through Nango.Request (authenticated, rate
// limited, retried). It stops after the last page, when the loop breaks, or at the first
// error, which it yields with a nil page: an *APIError, an error wrapping ErrRepeatedCursor
// when the provider sends it back to a page it fetched already, or one wrapping
// ErrTooManyPages past HTTPConfig.MaxPages.
func (n *Nango) Paginate(ctx context.Context, req *Request, p Pagination) iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		if err := n.usable(); err != nil {
			yield(nil, err)
			return
		}
		if req == nil || p == nil {
			yield(nil, errors.New("nango: Paginate needs a request and a Pagination"))
			return
		}
		c, err := n.engine.connHTTP(n.integration, n.conn)
		if err != nil {
			yield(nil, err)
			return
		}
		cur, err := p.First(req)
		if err != nil {
			yield(nil, err)
			return
		}
		seen := map[string]int{}
		for num := 1; cur != nil; num++ {
			u, err := c.in.resolve(cur)
			if err != nil {
				yield(nil, err)
				return
			}
			method := strings.ToUpper(cur.Method)
			if method == "" {
				method = "GET"
			}
			if num > c.in.maxPages {
				yield(nil, fmt.Errorf("%w: %s %s: more than %d pages (HTTPConfig.MaxPages)", ErrTooManyPages, method, c.displayURL(u), c.in.maxPages))
				return
			}
			key := pageKey(method, u, cur)
			if prev, ok := seen[key]; ok {
				yield(nil, fmt.Errorf("%w: %s %s: page %d would fetch what page %d fetched", ErrRepeatedCursor, method, c.displayURL(u), num, prev))
				return
			}
			seen[key] = num
			resp, err := n.Request(ctx, cur)
			if err != nil {
				yield(nil, err)
				return
			}
			items, err := p.Items(resp)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(&Page{Number: num, Response: resp, Items: items}, nil) {
				return
			}
			if cur, err = p.Next(cur, resp, items); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// pageKey identifies what a page request fetches.
func pageKey(method string, u *url.URL, r *Request) string {
	var body []byte
	switch {
	case r.JSON != nil:
		body, _ = json.Marshal(r.JSON)
	case r.Body != nil:
		body = r.Body
	}
	return method + " " + u.String() + "\n" + string(body)
}

// PaginateItems returns an iterator over the items of every page of a listing (see
// Nango.Paginate), each decoded into a T.
func PaginateItems[T any](ctx context.Context, n *Nango, req *Request, p Pagination) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for page, err := range n.Paginate(ctx, req, p) {
			if err != nil {
				yield(zero, err)
				return
			}
			for i, raw := range page.Items {
				var v T
				if err := json.Unmarshal(raw, &v); err != nil {
					yield(zero, fmt.Errorf("nango: decoding item %d of page %d into %T: %w", i, page.Number, v, err))
					return
				}
				if !yield(v, nil) {
					return
				}
			}
		}
	}
}

// CursorPagination pages with a cursor that each response gives for the next page, sent back
// as a query parameter. The listing ends when the cursor is absent, null or empty.
type CursorPagination struct {
	// CursorPath is the dot-separated path of the next cursor in the response body
	// ("meta.next_cursor"); a number indexes an array. Required.
	CursorPath string
	// CursorParam is the query parameter that sends the cursor. Defaults to "cursor".
	CursorParam string
	// ResultsPath is the path of the array of items in the body ("data"); empty means the body
	// is the array.
	ResultsPath string
	// Limit, when above 0, is sent as LimitParam on every page.
	Limit int
	// LimitParam defaults to "limit".
	LimitParam string
}

// First implements Pagination.
func (p CursorPagination) First(req *Request) (*Request, error) {
	if strings.TrimSpace(p.CursorPath) == "" {
		return nil, errors.New("nango: CursorPagination needs a CursorPath")
	}
	return withLimit(req, p.Limit, p.LimitParam)
}

// Next implements Pagination.
func (p CursorPagination) Next(req *Request, resp *Response, _ []json.RawMessage) (*Request, error) {
	raw, found, err := jsonPath(resp.Body, p.CursorPath)
	if err != nil {
		return nil, fmt.Errorf("nango: reading the next cursor of %s %s: %w", resp.method, resp.display, err)
	}
	cursor, err := scalarString(raw, found)
	if err != nil {
		return nil, fmt.Errorf("nango: reading the next cursor of %s %s at %q: %w", resp.method, resp.display, p.CursorPath, err)
	}
	if cursor == "" {
		return nil, nil
	}
	next := req.clone()
	if next.Query == nil {
		next.Query = url.Values{}
	}
	next.Query.Set(orDefault(p.CursorParam, "cursor"), cursor)
	return next, nil
}

// Items implements Pagination.
func (p CursorPagination) Items(resp *Response) ([]json.RawMessage, error) {
	return itemsAt(resp, p.ResultsPath)
}

// LinkPagination follows the link to the next page: by default the Link header's rel="next"
// target (RFC 8288, as GitHub sends it), or a URL in the body at NextURLPath (Salesforce's
// nextRecordsUrl). Relative links are resolved against the page's URL. The listing ends when
// there is no such link.
type LinkPagination struct {
	// Rel is the link relation to follow. Defaults to "next".
	Rel string
	// NextURLPath, when set, is the dot-separated path in the body of the next page's URL,
	// read instead of the Link header.
	NextURLPath string
	// ResultsPath is the path of the array of items in the body ("records"); empty means the
	// body is the array.
	ResultsPath string
	// Limit, when above 0, is sent as LimitParam with the first page (links carry it on).
	Limit int
	// LimitParam defaults to "limit".
	LimitParam string
}

// First implements Pagination.
func (p LinkPagination) First(req *Request) (*Request, error) {
	return withLimit(req, p.Limit, p.LimitParam)
}

// Next implements Pagination.
func (p LinkPagination) Next(req *Request, resp *Response, _ []json.RawMessage) (*Request, error) {
	var target string
	if p.NextURLPath != "" {
		raw, found, err := jsonPath(resp.Body, p.NextURLPath)
		if err != nil {
			return nil, fmt.Errorf("nango: reading the next link of %s %s: %w", resp.method, resp.display, err)
		}
		if target, err = scalarString(raw, found); err != nil {
			return nil, fmt.Errorf("nango: reading the next link of %s %s at %q: %w", resp.method, resp.display, p.NextURLPath, err)
		}
	} else {
		rel := strings.ToLower(orDefault(p.Rel, "next"))
	links:
		for _, l := range parseLinkHeader(resp.Header.Values("Link")) {
			for _, r := range l.rels {
				if r == rel {
					target = l.target
					break links
				}
			}
		}
	}
	if target == "" {
		return nil, nil
	}
	u, err := resolveLink(resp.url, target)
	if err != nil {
		return nil, fmt.Errorf("nango: the next link of %s %s: %w", resp.method, resp.display, err)
	}
	next := req.clone()
	next.Path = u.String()
	next.Query = nil // the link carries its own
	return next, nil
}

// Items implements Pagination.
func (p LinkPagination) Items(resp *Response) ([]json.RawMessage, error) {
	return itemsAt(resp, p.ResultsPath)
}

// OffsetPagination pages with an offset that grows by the number of items received. The
// listing ends after an empty page, or after a page with fewer than Limit items.
type OffsetPagination struct {
	// OffsetParam is the query parameter of the offset. Defaults to "offset".
	OffsetParam string
	// Start is the first page's offset. Defaults to 0.
	Start int
	// Limit, when above 0, is sent as LimitParam; a shorter page is then the last one.
	Limit int
	// LimitParam defaults to "limit".
	LimitParam string
	// ResultsPath is the path of the array of items in the body; empty means the body is the
	// array.
	ResultsPath string
}

// First implements Pagination.
func (p OffsetPagination) First(req *Request) (*Request, error) {
	if p.Start < 0 {
		return nil, fmt.Errorf("nango: OffsetPagination.Start %d is negative", p.Start)
	}
	r, err := withLimit(req, p.Limit, p.LimitParam)
	if err != nil {
		return nil, err
	}
	r.Query.Set(orDefault(p.OffsetParam, "offset"), strconv.Itoa(p.Start))
	return r, nil
}

// Next implements Pagination.
func (p OffsetPagination) Next(req *Request, _ *Response, items []json.RawMessage) (*Request, error) {
	if len(items) == 0 || (p.Limit > 0 && len(items) < p.Limit) {
		return nil, nil
	}
	param := orDefault(p.OffsetParam, "offset")
	offset, err := strconv.Atoi(req.Query.Get(param))
	if err != nil {
		return nil, fmt.Errorf("nango: OffsetPagination: the request's %s %q is not a number", param, req.Query.Get(param))
	}
	next := req.clone()
	next.Query.Set(param, strconv.Itoa(offset+len(items)))
	return next, nil
}

// Items implements Pagination.
func (p OffsetPagination) Items(resp *Response) ([]json.RawMessage, error) {
	return itemsAt(resp, p.ResultsPath)
}

// PagePagination pages with a page number. The listing ends after an empty page, or after a
// page with fewer than Limit items.
type PagePagination struct {
	// PageParam is the query parameter of the page number. Defaults to "page".
	PageParam string
	// ZeroBased numbers the first page 0 instead of 1.
	ZeroBased bool
	// Limit, when above 0, is sent as LimitParam; a shorter page is then the last one.
	Limit int
	// LimitParam defaults to "limit".
	LimitParam string
	// ResultsPath is the path of the array of items in the body; empty means the body is the
	// array.
	ResultsPath string
}

// First implements Pagination.
func (p PagePagination) First(req *Request) (*Request, error) {
	start := 1
	if p.ZeroBased {
		start = 0
	}
	r, err := withLimit(req, p.Limit, p.LimitParam)
	if err != nil {
		return nil, err
	}
	r.Query.Set(orDefault(p.PageParam, "page"), strconv.Itoa(start))
	return r, nil
}

// Next implements Pagination.
func (p PagePagination) Next(req *Request, _ *Response, items []json.RawMessage) (*Request, error) {
	if len(items) == 0 || (p.Limit > 0 && len(items) < p.Limit) {
		return nil, nil
	}
	param := orDefault(p.PageParam, "page")
	page, err := strconv.Atoi(req.Query.Get(param))
	if err != nil {
		return nil, fmt.Errorf("nango: PagePagination: the request's %s %q is not a number", param, req.Query.Get(param))
	}
	next := req.clone()
	next.Query.Set(param, strconv.Itoa(page+1))
	return next, nil
}

// Items implements Pagination.
func (p PagePagination) Items(resp *Response) ([]json.RawMessage, error) {
	return itemsAt(resp, p.ResultsPath)
}

func withLimit(req *Request, limit int, param string) (*Request, error) {
	if limit < 0 {
		return nil, fmt.Errorf("nango: pagination Limit %d is negative", limit)
	}
	r := req.clone()
	if r.Query == nil {
		r.Query = url.Values{}
	}
	if limit > 0 {
		r.Query.Set(orDefault(param, "limit"), strconv.Itoa(limit))
	}
	return r, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// itemsAt returns the array at path in a response body. A null there is an empty page; a
// missing path is an error, so that a wrong ResultsPath never looks like an empty listing.
func itemsAt(resp *Response, path string) ([]json.RawMessage, error) {
	raw, found, err := jsonPath(resp.Body, path)
	if err != nil {
		return nil, fmt.Errorf("nango: reading the items of %s %s: %w", resp.method, resp.display, err)
	}
	if !found {
		return nil, fmt.Errorf("nango: reading the items of %s %s: the body has no %q", resp.method, resp.display, path)
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("nango: reading the items of %s %s: %w", resp.method, resp.display, err)
		}
		return items, nil
	}
	where := "the body"
	if path != "" {
		where = strconv.Quote(path)
	}
	return nil, fmt.Errorf("nango: reading the items of %s %s: %s is a JSON %s, not an array", resp.method, resp.display, where, jsonKind(raw))
}

// jsonPath returns the JSON value at a dot-separated path of doc ("data.items", "items.0.id";
// the empty path is doc itself). found is false when a step is missing; a null value is
// returned as found.
func jsonPath(doc []byte, path string) (raw json.RawMessage, found bool, err error) {
	cur := bytes.TrimSpace(doc)
	if !json.Valid(cur) {
		return nil, false, errors.New("the body is not valid JSON")
	}
	if path == "" {
		return cur, true, nil
	}
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return nil, false, fmt.Errorf("the path %q has an empty step", path)
		}
		switch cur[0] {
		case '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(cur, &m); err != nil {
				return nil, false, err
			}
			v, ok := m[seg]
			if !ok {
				return nil, false, nil
			}
			cur = bytes.TrimSpace(v)
		case '[':
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 {
				return nil, false, nil
			}
			var a []json.RawMessage
			if err := json.Unmarshal(cur, &a); err != nil {
				return nil, false, err
			}
			if i >= len(a) {
				return nil, false, nil
			}
			cur = bytes.TrimSpace(a[i])
		default:
			return nil, false, nil
		}
	}
	return cur, true, nil
}

// scalarString reads a cursor or link: a string or a number; missing, null and "" are "".
func scalarString(raw json.RawMessage, found bool) (string, error) {
	if !found {
		return "", nil
	}
	switch c := raw[0]; {
	case c == 'n':
		return "", nil
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return string(raw), nil
	}
	return "", fmt.Errorf("it is a JSON %s, not a string or a number", jsonKind(raw))
}

func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func resolveLink(base *url.URL, target string) (*url.URL, error) {
	var u *url.URL
	var err error
	if base != nil {
		u, err = base.Parse(target)
	} else {
		u, err = url.Parse(target)
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", target)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL", target)
	}
	return u, nil
}

// linkValue is one link of a Link header.
type linkValue struct {
	target string
	rels   []string // lower case
}

// parseLinkHeader parses Link header values (RFC 8288 section 3): comma-separated
// <target>; param=value; param="quoted value" links. Relation types are compared case
// insensitively, and a rel may list several ("next last"). Malformed links are skipped.
func parseLinkHeader(values []string) []linkValue {
	var out []linkValue
	for _, s := range values {
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			if s[0] != '<' {
				s = skipLink(s)
				continue
			}
			end := strings.IndexByte(s, '>')
			if end < 0 {
				break
			}
			lv := linkValue{target: strings.TrimSpace(s[1:end])}
			s = s[end+1:]
			relSeen := false
			for {
				s = strings.TrimLeft(s, " \t")
				if s == "" || s[0] != ';' {
					break
				}
				s = strings.TrimLeft(s[1:], " \t")
				i := strings.IndexAny(s, "=;,")
				if i < 0 {
					s = ""
					break
				}
				name := strings.ToLower(strings.TrimSpace(s[:i]))
				var val string
				if s[i] == '=' {
					s = strings.TrimLeft(s[i+1:], " \t")
					if s != "" && s[0] == '"' {
						val, s = unquote(s)
					} else {
						j := strings.IndexAny(s, ";,")
						if j < 0 {
							j = len(s)
						}
						val, s = strings.TrimSpace(s[:j]), s[j:]
					}
				} else {
					s = s[i:]
				}
				if name == "rel" && !relSeen { // later rel parameters are ignored (RFC 8288 3.3)
					relSeen = true
					lv.rels = strings.Fields(strings.ToLower(val))
				}
			}
			out = append(out, lv)
			if s != "" && s[0] != ',' {
				s = skipLink(s)
			}
		}
	}
	return out
}

// skipLink skips to the comma ending a malformed link, outside quotes.
func skipLink(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch {
		case inQuote && s[i] == '\\':
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == ',' && !inQuote:
			return s[i:]
		}
	}
	return ""
}

// unquote reads a quoted-string at the start of s and returns its value and the rest.
func unquote(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}
