package nango_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// reqLog records request URIs.
type reqLog struct {
	mu   sync.Mutex
	uris []string
}

func (l *reqLog) add(uri string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uris = append(l.uris, uri)
}

// take returns the URIs recorded and forgets them.
func (l *reqLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.uris
	l.uris = nil
	return out
}

// listServer serves 7 items (ids i1..i7) with every paging scheme, 3 to a page.
func listServer(t *testing.T, requests *reqLog) *httptest.Server {
	const total, size = 7, 3
	items := func(from int) []item {
		var out []item
		for i := from; i < min(from+size, total); i++ {
			out = append(out, item{ID: fmt.Sprintf("i%d", i+1)})
		}
		return out
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.add(r.URL.RequestURI())
		q := r.URL.Query()
		switch r.URL.Path {
		case "/cursor":
			from, _ := strconv.Atoi(q.Get("after"))
			body := map[string]any{"data": map[string]any{"items": items(from)}}
			if from+size < total {
				body["meta"] = map[string]any{"next": strconv.Itoa(from + size)}
			} else {
				body["meta"] = map[string]any{"next": nil}
			}
			writeJSON(w, http.StatusOK, body)
		case "/numeric-cursor":
			from, _ := strconv.Atoi(q.Get("cursor"))
			next := any(from + size)
			if from+size >= total {
				next = ""
			}
			writeJSON(w, http.StatusOK, map[string]any{"results": items(from), "next": next})
		case "/link":
			page, _ := strconv.Atoi(q.Get("page"))
			if page == 0 {
				page = 1
			}
			if page*size < total {
				// A relative link on page 1, an absolute one later, with another rel around.
				next := fmt.Sprintf("/link?page=%d&per_page=%s", page+1, q.Get("per_page"))
				if page > 1 {
					next = srv.URL + next
				}
				w.Header().Add("Link", `<`+srv.URL+`/link?page=1>; rel="first"`)
				w.Header().Add("Link", `<`+next+`>; rel="Next", <`+srv.URL+`/link?page=3>; rel="last"`)
			}
			writeJSON(w, http.StatusOK, items((page-1)*size))
		case "/records":
			from, _ := strconv.Atoi(q.Get("from"))
			body := map[string]any{"records": items(from), "done": from+size >= total}
			if from+size < total {
				body["nextRecordsUrl"] = fmt.Sprintf("/records?from=%d", from+size)
			}
			writeJSON(w, http.StatusOK, body)
		case "/offset":
			from, _ := strconv.Atoi(q.Get("offset"))
			writeJSON(w, http.StatusOK, items(from))
		case "/page":
			page, _ := strconv.Atoi(q.Get("page"))
			writeJSON(w, http.StatusOK, map[string]any{"items": items((page - 1) * size)})
		case "/zero-page":
			page, _ := strconv.Atoi(q.Get("p"))
			writeJSON(w, http.StatusOK, items(page*size))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPaginationSchemes(t *testing.T) {
	t.Parallel()
	var requests reqLog
	srv := listServer(t, &requests)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	all := []string{"i1", "i2", "i3", "i4", "i5", "i6", "i7"}
	cases := []struct {
		name string
		req  *nango.Request
		p    nango.Pagination
		want []string // the requests made
	}{
		{"cursor in body", &nango.Request{Path: "/cursor", Query: map[string][]string{"sort": {"id"}}},
			nango.CursorPagination{CursorPath: "meta.next", CursorParam: "after", ResultsPath: "data.items", Limit: 3},
			[]string{"/cursor?limit=3&sort=id", "/cursor?after=3&limit=3&sort=id", "/cursor?after=6&limit=3&sort=id"}},
		{"numeric cursor, empty string ends", &nango.Request{Path: "/numeric-cursor"},
			nango.CursorPagination{CursorPath: "next", ResultsPath: "results"},
			[]string{"/numeric-cursor", "/numeric-cursor?cursor=3", "/numeric-cursor?cursor=6"}},
		{"link header", &nango.Request{Path: "/link"},
			nango.LinkPagination{Limit: 3, LimitParam: "per_page"},
			[]string{"/link?per_page=3", "/link?page=2&per_page=3", "/link?page=3&per_page=3"}},
		{"next url in body", &nango.Request{Path: "/records", Query: map[string][]string{"q": {"SELECT Id FROM Contact"}}},
			nango.LinkPagination{NextURLPath: "nextRecordsUrl", ResultsPath: "records"},
			[]string{"/records?q=SELECT+Id+FROM+Contact", "/records?from=3", "/records?from=6"}},
		{"offset", &nango.Request{Path: "/offset"},
			nango.OffsetPagination{Limit: 3},
			[]string{"/offset?limit=3&offset=0", "/offset?limit=3&offset=3", "/offset?limit=3&offset=6"}},
		{"offset without limit stops on an empty page", &nango.Request{Path: "/offset"},
			nango.OffsetPagination{},
			[]string{"/offset?offset=0", "/offset?offset=3", "/offset?offset=6", "/offset?offset=7"}},
		{"page number", &nango.Request{Path: "/page"},
			nango.PagePagination{ResultsPath: "items", Limit: 3, LimitParam: "per_page"},
			[]string{"/page?page=1&per_page=3", "/page?page=2&per_page=3", "/page?page=3&per_page=3"}},
		{"zero-based page number", &nango.Request{Path: "/zero-page"},
			nango.PagePagination{PageParam: "p", ZeroBased: true},
			[]string{"/zero-page?p=0", "/zero-page?p=1", "/zero-page?p=2", "/zero-page?p=3"}},
	}
	for _, tc := range cases {
		requests.take()
		var got []string
		var pages []int
		_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			for page, err := range n.Paginate(ctx, tc.req, tc.p) {
				if err != nil {
					return err
				}
				pages = append(pages, page.Number)
				var its []item
				if err := page.DecodeItems(&its); err != nil {
					return err
				}
				for _, it := range its {
					got = append(got, it.ID)
				}
			}
			return nil
		})
		require.NoError(t, err, tc.name)
		require.Equal(t, all, got, tc.name)
		require.Equal(t, tc.want, requests.take(), tc.name)
		require.Equal(t, len(tc.want), len(pages), tc.name)
	}
	require.Equal(t, map[string][]string{"sort": {"id"}}, map[string][]string(cases[0].req.Query), "the caller's request is not modified")
}

func TestPaginateItems(t *testing.T) {
	t.Parallel()
	var requests reqLog
	srv := listServer(t, &requests)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		var ids []string
		for it, err := range nango.PaginateItems[item](ctx, n, &nango.Request{Path: "/link"}, nango.LinkPagination{}) {
			require.NoError(t, err)
			ids = append(ids, it.ID)
			if len(ids) == 4 {
				break // stopping early fetches no more pages
			}
		}
		require.Equal(t, []string{"i1", "i2", "i3", "i4"}, ids)
		require.Len(t, requests.take(), 2)

		for _, err := range nango.PaginateItems[struct{ ID int }](ctx, n, &nango.Request{Path: "/link"}, nango.LinkPagination{}) {
			require.ErrorContains(t, err, "nango: decoding item 0 of page 1 into struct { ID int }: json: cannot unmarshal string")
		}
		return nil
	})
	require.NoError(t, err)
}

func TestRepeatedCursorIsAnError(t *testing.T) {
	t.Parallel()
	var calls counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc(r.URL.Path)
		switch r.URL.Path {
		case "/stuck": // always the same cursor
			writeJSON(w, http.StatusOK, map[string]any{"items": []item{{ID: "x"}}, "next": "abc"})
		case "/cycle": // a -> b -> a
			next := map[string]string{"": "a", "a": "b", "b": "a"}[r.URL.Query().Get("cursor")]
			writeJSON(w, http.StatusOK, map[string]any{"items": []item{{ID: next}}, "next": next})
		case "/self-link":
			w.Header().Set("Link", `<`+r.URL.RequestURI()+`>; rel="next"`)
			writeJSON(w, http.StatusOK, []item{{ID: "x"}})
		}
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	cases := []struct {
		path  string
		p     nango.Pagination
		pages int
		want  string
	}{
		{"/stuck", nango.CursorPagination{CursorPath: "next", ResultsPath: "items"}, 2, "GET " + srv.URL + "/stuck?cursor=abc: page 3 would fetch what page 2 fetched"},
		{"/cycle", nango.CursorPagination{CursorPath: "next", ResultsPath: "items"}, 3, "GET " + srv.URL + "/cycle?cursor=a: page 4 would fetch what page 2 fetched"},
		{"/self-link", nango.LinkPagination{}, 1, "GET " + srv.URL + "/self-link: page 2 would fetch what page 1 fetched"},
	}
	for _, tc := range cases {
		res, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			pages := 0
			for page, err := range n.Paginate(ctx, &nango.Request{Path: tc.path}, tc.p) {
				if err != nil {
					require.Nil(t, page)
					require.Equal(t, tc.pages, pages, tc.path)
					return err
				}
				pages++
			}
			return nil
		})
		require.ErrorIs(t, err, nango.ErrRepeatedCursor, tc.path)
		require.EqualError(t, err, "nango: the provider repeated a pagination cursor: "+tc.want)
		require.Equal(t, tc.pages, calls.get(tc.path), "the repeated page is not fetched")
		require.Contains(t, f.runLog(t, res.RunID), "repeated a pagination cursor")
	}
}

func TestMaxPages(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		writeJSON(w, http.StatusOK, map[string]any{"items": []item{{ID: "x"}}, "next": n + 1})
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, HTTP: &nango.HTTPConfig{MaxPages: 3}})
	f.addConn(t, "c1", nil)
	pages := 0
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		for _, err := range n.Paginate(ctx, &nango.Request{Path: "/endless"}, nango.CursorPagination{CursorPath: "next", ResultsPath: "items"}) {
			if err != nil {
				return err
			}
			pages++
		}
		return nil
	})
	require.ErrorIs(t, err, nango.ErrTooManyPages)
	require.EqualError(t, err, "nango: too many pages: GET "+srv.URL+"/endless?cursor=3: more than 3 pages (HTTPConfig.MaxPages)")
	require.Equal(t, 3, pages)
}

func TestPaginationBadResponses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/object":
			writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": 1}, "next": map[string]any{}})
		case "/objcursor":
			writeJSON(w, http.StatusOK, map[string]any{"items": []item{}, "next": map[string]any{}})
		case "/null":
			writeJSON(w, http.StatusOK, map[string]any{"data": nil})
		case "/html":
			_, _ = w.Write([]byte("<html>"))
		case "/link":
			w.Header().Set("Link", `<ftp://example.com/x>; rel="next"`)
			writeJSON(w, http.StatusOK, []item{})
		}
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	cases := []struct {
		path string
		p    nango.Pagination
		want string
	}{
		{"/object", nango.CursorPagination{CursorPath: "next", ResultsPath: "missing"}, `nango: reading the items of GET ` + srv.URL + `/object: the body has no "missing"`},
		{"/object", nango.CursorPagination{CursorPath: "next", ResultsPath: "data"}, `nango: reading the items of GET ` + srv.URL + `/object: "data" is a JSON object, not an array`},
		{"/object", nango.CursorPagination{CursorPath: "next", ResultsPath: "data..id"}, `nango: reading the items of GET ` + srv.URL + `/object: the path "data..id" has an empty step`},
		{"/object", nango.CursorPagination{CursorPath: "next"}, `nango: reading the items of GET ` + srv.URL + `/object: the body is a JSON object, not an array`},
		{"/html", nango.OffsetPagination{}, `nango: reading the items of GET ` + srv.URL + `/html?offset=0: the body is not valid JSON`},
		{"/link", nango.LinkPagination{}, `nango: the next link of GET ` + srv.URL + `/link: "ftp://example.com/x" is not an http or https URL`},
		{"/objcursor", nango.CursorPagination{CursorPath: "next", ResultsPath: "items"}, `nango: reading the next cursor of GET ` + srv.URL + `/objcursor at "next": it is a JSON object, not a string or a number`},
		{"/object", nango.CursorPagination{}, "nango: CursorPagination needs a CursorPath"},
		{"/object", nango.OffsetPagination{Start: -1}, "nango: OffsetPagination.Start -1 is negative"},
		{"/object", nango.PagePagination{Limit: -1}, "nango: pagination Limit -1 is negative"},
	}
	for _, tc := range cases {
		var got error
		_, _ = f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
			for _, err := range n.Paginate(ctx, &nango.Request{Path: tc.path}, tc.p) {
				got = err
			}
			return nil
		})
		require.EqualError(t, got, tc.want)
	}
	// A cursor that is an object, and a null page.
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		var errs []error
		for _, err := range n.Paginate(ctx, &nango.Request{Path: "/object"}, nango.CursorPagination{CursorPath: "next", ResultsPath: "data.id"}) {
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		require.ErrorContains(t, errs[0], `"data.id" is a JSON number, not an array`)
		var count int
		for page, err := range n.Paginate(ctx, &nango.Request{Path: "/null"}, nango.CursorPagination{CursorPath: "next", ResultsPath: "data"}) {
			require.NoError(t, err)
			require.Empty(t, page.Items)
			count++
		}
		require.Equal(t, 1, count)
		for _, err := range n.Paginate(ctx, &nango.Request{Path: "/object"}, nango.CursorPagination{CursorPath: "next", ResultsPath: "data.missing"}) {
			require.ErrorContains(t, err, `the body has no "data.missing"`)
		}
		for _, err := range n.Paginate(ctx, nil, nango.CursorPagination{}) {
			require.EqualError(t, err, "nango: Paginate needs a request and a Pagination")
		}
		return nil
	})
	require.NoError(t, err)
	_, err = f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		for _, err := range n.Paginate(ctx, &nango.Request{Path: "/object"}, nango.CursorPagination{CursorPath: "next", ResultsPath: "data.id.x"}) {
			if err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorContains(t, err, `the body has no "data.id.x"`)
}

func TestParseLinkHeader(t *testing.T) {
	t.Parallel()
	type L = nango.LinkValue
	cases := []struct {
		in   []string
		want []L
	}{
		{[]string{`<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last"`},
			[]L{{"https://api.github.com/repositories/1/issues?page=2", []string{"next"}}, {"https://api.github.com/repositories/1/issues?page=5", []string{"last"}}}},
		{[]string{`</a>; rel=next`, `</b>;rel="prev start"`}, []L{{"/a", []string{"next"}}, {"/b", []string{"prev", "start"}}}},
		{[]string{`</a>; title="x, y; z"; rel="NEXT"; rel="last"`}, []L{{"/a", []string{"next"}}}},
		{[]string{`</a>; title="esc \" quote"; rel="next"`}, []L{{"/a", []string{"next"}}}},
		{[]string{`garbage, </a>; rel="next"`}, []L{{"/a", []string{"next"}}}},
		{[]string{`</a>; rel`}, []L{{"/a", nil}}},
		{[]string{`</a`}, nil},
		{[]string{``, `  ,  `}, nil},
		{[]string{`</a>; rel="next" junk, </b>; rel="last"`}, []L{{"/a", []string{"next"}}, {"/b", []string{"last"}}}},
		{[]string{`</a>; title="unterminated, </b>; rel="next"`}, []L{{"/a", nil}}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, nango.ParseLinkHeader(tc.in...), tc.in)
	}
}

func FuzzParseLinkHeader(f *testing.F) {
	f.Add(`<https://x/a?page=2>; rel="next", <https://x/a?page=9>; rel="last"`)
	f.Add(`</a>; title="x, \"y\"; z"; rel=next`)
	f.Add(`<`)
	f.Add(`;;,,"<>`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range nango.ParseLinkHeader(s) {
			for _, r := range l.Rels {
				if r == "" || strings.ContainsAny(r, " \t") {
					t.Fatalf("rel %q of %q", r, s)
				}
			}
		}
	})
}

func TestCustomPagination(t *testing.T) {
	t.Parallel()
	var requests reqLog
	srv := listServer(t, &requests)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL})
	f.addConn(t, "c1", nil)
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		var ids []string
		for it, err := range nango.PaginateItems[item](ctx, n, &nango.Request{Path: "/offset"}, lastIDPagination{}) {
			if err != nil {
				return err
			}
			ids = append(ids, it.ID)
		}
		require.Equal(t, []string{"i1", "i2", "i3", "i4", "i5", "i6", "i7"}, ids)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"/offset", "/offset?offset=3", "/offset?offset=6"}, requests.take())
}

// lastIDPagination is a custom scheme: the next offset is the number in the last item's id.
type lastIDPagination struct{}

func (lastIDPagination) First(req *nango.Request) (*nango.Request, error) { return req, nil }

func (lastIDPagination) Next(req *nango.Request, _ *nango.Response, items []json.RawMessage) (*nango.Request, error) {
	if len(items) < 3 {
		return nil, nil
	}
	var last item
	if err := json.Unmarshal(items[len(items)-1], &last); err != nil {
		return nil, err
	}
	next := *req
	next.Query = map[string][]string{"offset": {last.ID[1:]}}
	return &next, nil
}

func (lastIDPagination) Items(resp *nango.Response) ([]json.RawMessage, error) {
	var items []json.RawMessage
	return items, resp.Decode(&items)
}
