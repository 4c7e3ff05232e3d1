package nangotest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
)

// Request is a provider request a run made, as the harness saw it.
type Request struct {
	Method string
	// Path is the URL's path; Query its query, with secret values redacted.
	Path  string
	Query url.Values
	// Body is the request body, if any.
	Body string
	// Status is the response status, or 0 when there was no response.
	Status int
	// Err is why there was no response.
	Err string
	// Failpoint describes the failpoint that answered the request, if one did.
	Failpoint string
	// Fixture names the fixture that answered the request, in replay.
	Fixture string
}

// String formats the request as "GET /v1/contacts?page=2 -> 200".
func (r Request) String() string {
	s := r.Method + " " + r.Path
	if len(r.Query) > 0 {
		s += "?" + r.Query.Encode()
	}
	if r.Status != 0 {
		s += fmt.Sprintf(" -> %d", r.Status)
	}
	if r.Err != "" {
		s += " -> " + r.Err
	}
	if r.Failpoint != "" {
		s += " (failpoint)"
	}
	return s
}

// tracker is the harness's transport: it counts and records requests, applies the request
// failpoints, and sends the others to the fixtures, the recorder or the live transport.
type tracker struct {
	red *redactor

	mu        sync.Mutex
	next      http.RoundTripper // the recorder or the live transport; nil in replay
	player    *player
	fps       []Failpoint
	n         int
	requests  []Request
	unmatched []*UnmatchedRequestError
}

// arm prepares the tracker for a run.
func (t *tracker) arm(next http.RoundTripper, p *player, fps []Failpoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next, t.player, t.n, t.requests, t.unmatched = next, p, 0, nil, nil
	t.fps = t.fps[:0]
	for _, f := range fps {
		if f.onRequest() {
			t.fps = append(t.fps, f)
		}
	}
}

func (t *tracker) results() ([]Request, []*UnmatchedRequestError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests, t.unmatched
}

func (t *tracker) RoundTrip(req *http.Request) (*http.Response, error) {
	sr, err := readRequest(req)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.n++
	n := t.n
	var fp *Failpoint
	for i := range t.fps {
		if t.fps[i].n == n {
			fp = &t.fps[i]
		}
	}
	next, p := t.next, t.player
	t.mu.Unlock()

	rec := Request{Method: sr.method, Path: t.red.text(sr.url.Path), Body: t.red.text(string(sr.body))}
	if q := t.red.query(sr.url.Query()); q != nil {
		rec.Query = url.Values(q)
	}
	resp, err := t.send(req, sr, n, fp, next, p, &rec)
	if resp != nil {
		rec.Status = resp.StatusCode
	}
	if err != nil {
		rec.Err = t.red.text(err.Error())
		if i := strings.IndexByte(rec.Err, '\n'); i >= 0 {
			rec.Err = rec.Err[:i]
		}
	}
	t.mu.Lock()
	t.requests = append(t.requests, rec)
	t.mu.Unlock()
	return resp, err
}

func (t *tracker) send(req *http.Request, sr *sentRequest, n int, fp *Failpoint, next http.RoundTripper, p *player, rec *Request) (*http.Response, error) {
	if fp != nil {
		rec.Failpoint = fp.String()
		switch fp.kind {
		case failNetwork:
			return nil, fmt.Errorf("%w: %s: %w", ErrFailpoint, fp, syscall.ECONNRESET)
		default:
			body := fmt.Sprintf(`{"error":"nangotest failpoint: %s"}`, fp)
			h := http.Header{"Content-Type": {"application/json"}}
			if fp.kind == failRateLimit {
				h.Set("Retry-After", fp.retryAfterHeader())
			}
			return &http.Response{
				Status: fmt.Sprintf("%d %s", fp.status, http.StatusText(fp.status)), StatusCode: fp.status,
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
				Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
			}, nil
		}
	}
	if p != nil {
		f, err := p.answer(sr, n)
		if err != nil {
			ue := err.(*UnmatchedRequestError)
			t.mu.Lock()
			t.unmatched = append(t.unmatched, ue)
			t.mu.Unlock()
			return nil, err
		}
		rec.Fixture = f.source
		return f.response(req), nil
	}
	if next == nil {
		return nil, fmt.Errorf("nangotest: no fixtures for %s: pass Options.Fixtures or WithFixtures", sr.describe())
	}
	out := req.Clone(req.Context())
	if sr.body != nil {
		body := sr.body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return next.RoundTrip(out)
}

// handlerTransport sends requests to an http.Handler in the same process: Options.Provider.
type handlerTransport struct {
	h http.Handler
}

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:1234"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, in)
	resp := w.Result()
	resp.Request = req
	return resp, nil
}
