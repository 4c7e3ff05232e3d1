package nangotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gonango/nango"
)

// sentRequest is a request as a transport of the harness sees it.
type sentRequest struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
}

func readRequest(r *http.Request) (*sentRequest, error) {
	sr := &sentRequest{method: r.Method, url: r.URL, header: r.Header}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("nangotest: reading the request body: %w", err)
		}
		sr.body = body
	}
	return sr, nil
}

// describe formats the request for messages: method, path, query and body.
func (r *sentRequest) describe() string {
	var b strings.Builder
	b.WriteString(r.method + " " + r.url.Path)
	if r.url.RawQuery != "" {
		b.WriteString("?" + r.url.RawQuery)
	}
	if len(r.body) > 0 {
		fmt.Fprintf(&b, " body %s", excerpt(string(r.body), 200))
	}
	return b.String()
}

func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// differences lists how a request differs from a fixture's request; none means it matches.
// Each comes with a weight, for ranking the closest fixtures.
func differences(r *sentRequest, f *FixtureRequest) (diffs []string, weight int) {
	add := func(w int, format string, args ...any) {
		diffs = append(diffs, fmt.Sprintf(format, args...))
		weight += w
	}
	if !strings.EqualFold(r.method, f.Method) {
		add(4, "method is %s, the fixture's is %s", r.method, f.Method)
	}
	want := f.Path
	got := r.url.Path
	if strings.HasPrefix(want, "http://") || strings.HasPrefix(want, "https://") {
		got = r.url.Scheme + "://" + r.url.Host + r.url.Path
	}
	if got != want {
		add(3, "path is %s, the fixture's is %s", got, want)
	}
	q := r.url.Query()
	for _, k := range sortedKeys(mergeKeys(q, f.Query)) {
		gv, wv := q[k], f.Query[k]
		switch {
		case wv == nil:
			add(1, "query has %s=%s, the fixture's has no %s", k, strings.Join(gv, ","), k)
		case gv == nil:
			add(1, "query has no %s, the fixture's has %s=%s", k, k, strings.Join(wv, ","))
		case !valuesMatch(gv, wv):
			add(1, "query has %s=%s, the fixture's has %s=%s", k, strings.Join(gv, ","), k, strings.Join(wv, ","))
		}
	}
	switch {
	case f.Body != nil:
		if d := jsonDifference(r.body, f.Body); d != "" {
			add(1, "body %s", d)
		}
	case f.BodyText != nil:
		if !textBodyMatches(r, *f.BodyText) {
			add(1, "body is %q, the fixture's is %q", excerpt(string(r.body), 80), excerpt(*f.BodyText, 80))
		}
	}
	return diffs, weight
}

func mergeKeys(a url.Values, b Values) map[string][]string {
	m := map[string][]string{}
	for k := range a {
		m[k] = nil
	}
	for k := range b {
		m[k] = nil
	}
	return m
}

func valuesMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if want[i] != Redacted && got[i] != want[i] {
			return false
		}
	}
	return true
}

func textBodyMatches(r *sentRequest, want string) bool {
	ct, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		gv, err1 := url.ParseQuery(string(r.body))
		wv, err2 := url.ParseQuery(want)
		if err1 == nil && err2 == nil {
			if len(gv) != len(wv) {
				return false
			}
			for k, vs := range wv {
				if !valuesMatch(gv[k], vs) {
					return false
				}
			}
			return true
		}
	}
	return string(r.body) == want
}

// jsonDifference compares a request body with a fixture's JSON body; "" means they match.
func jsonDifference(got []byte, want json.RawMessage) string {
	var g, w any
	if err := decodeJSON(want, &w); err != nil {
		return "cannot be compared: the fixture's body is not JSON"
	}
	if len(bytes.TrimSpace(got)) == 0 {
		return "is empty, the fixture's is JSON"
	}
	if err := decodeJSON(got, &g); err != nil {
		return fmt.Sprintf("is not JSON (%q), the fixture's is", excerpt(string(got), 80))
	}
	return jsonDiff("$", g, w)
}

func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func jsonDiff(path string, got, want any) string {
	if s, ok := want.(string); ok && s == Redacted {
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("at %s is %s, the fixture's is an object", path, short(got))
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				return fmt.Sprintf("has no %s.%s, the fixture's has %s", path, k, short(wv))
			case !wok:
				return fmt.Sprintf("has %s.%s = %s, the fixture's has none", path, k, short(gv))
			}
			if d := jsonDiff(path+"."+k, gv, wv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("at %s is %s, the fixture's is an array", path, short(got))
		}
		if len(g) != len(w) {
			return fmt.Sprintf("at %s has %d elements, the fixture's has %d", path, len(g), len(w))
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		if g, ok := got.(json.Number); ok && numbersEqual(g, w) {
			return ""
		}
	default:
		if got == want {
			return ""
		}
	}
	return fmt.Sprintf("at %s is %s, the fixture's is %s", path, short(got), short(want))
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	fa, err1 := a.Float64()
	fb, err2 := b.Float64()
	return err1 == nil && err2 == nil && fa == fb
}

func short(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return excerpt(string(data), 60)
}

// player answers requests from fixtures, each fixture once, in order among those that match.
type player struct {
	mu       sync.Mutex
	fixtures []Fixture
	used     []int // the request number that used each fixture, 0 when unused
}

func newPlayer(fixtures []Fixture) *player {
	return &player{fixtures: fixtures, used: make([]int, len(fixtures))}
}

// UnmatchedRequestError is the error a sync gets for a request that no fixture answers, at
// once: it matches nango.ErrPermanent, so the request is not retried. The harness also fails
// the test with it, showing the closest fixtures.
type UnmatchedRequestError struct {
	// Request describes the request: method, path, query and body.
	Request string
	// Closest describes the fixtures that came closest and how they differ.
	Closest []string
	// AlreadyUsed is set when fixtures matched but each had answered an earlier request.
	AlreadyUsed []string
	// Fixtures is the number of fixtures loaded.
	Fixtures int
}

// Error implements error.
func (e *UnmatchedRequestError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nangotest: no fixture matches the request %s", e.Request)
	switch {
	case len(e.AlreadyUsed) > 0:
		fmt.Fprintf(&b, "\n  fixtures that match were used by earlier requests (each answers once; add another for a repeated request):")
		for _, u := range e.AlreadyUsed {
			b.WriteString("\n    " + u)
		}
	case e.Fixtures == 0:
		b.WriteString("\n  no fixtures are loaded: pass Options.Fixtures or WithFixtures, or record them with NANGO_RECORD=1")
	default:
		b.WriteString("\n  closest fixtures:")
		for _, c := range e.Closest {
			b.WriteString("\n    " + c)
		}
	}
	return b.String()
}

// Is reports that the error matches nango.ErrPermanent: the engine does not retry a request
// no fixture answers, and the run fails at once.
func (e *UnmatchedRequestError) Is(target error) bool { return target == nango.ErrPermanent }

// answer finds the fixture for request number n.
func (p *player) answer(r *sentRequest, n int) (*Fixture, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	type candidate struct {
		i      int
		diffs  []string
		weight int
	}
	var cands []candidate
	var used []string
	for i := range p.fixtures {
		f := &p.fixtures[i]
		diffs, w := differences(r, &f.Request)
		if len(diffs) == 0 {
			if p.used[i] == 0 {
				p.used[i] = n
				return f, nil
			}
			used = append(used, fmt.Sprintf("%s (by request %d)", f.source, p.used[i]))
			continue
		}
		cands = append(cands, candidate{i, diffs, w})
	}
	err := &UnmatchedRequestError{Request: r.describe(), AlreadyUsed: used, Fixtures: len(p.fixtures)}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.weight - b.weight })
	for _, c := range cands[:min(3, len(cands))] {
		f := &p.fixtures[c.i]
		err.Closest = append(err.Closest, fmt.Sprintf("%s (%s %s): %s", f.source, f.Request.Method, f.Request.Path, strings.Join(c.diffs, "; ")))
	}
	return nil, err
}

// unused lists the fixtures no request used.
func (p *player) unused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for i, n := range p.used {
		if n == 0 {
			f := &p.fixtures[i]
			out = append(out, fmt.Sprintf("%s (%s %s)", f.source, f.Request.Method, f.Request.Path))
		}
	}
	return out
}

// response builds the fixture's response to req.
func (f *Fixture) response(req *http.Request) *http.Response {
	h := http.Header{}
	for k, vs := range f.Response.Headers {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	var body []byte
	switch {
	case f.Response.Body != nil:
		body = f.Response.Body
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
	case f.Response.BodyText != nil:
		body = []byte(*f.Response.BodyText)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", f.Response.Status, http.StatusText(f.Response.Status)),
		StatusCode:    f.Response.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
