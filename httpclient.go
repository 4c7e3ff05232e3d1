package nango

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango/internal/provider"
	"github.com/gonango/nango/store"
)

// HTTPConfig configures how the syncs of an integration call its provider's API through
// Nango.Request, Nango.Paginate and Nango.HTTPClient. A nil *HTTPConfig, like every zero field,
// means the defaults. The configuration is read when the integration makes its first request.
type HTTPConfig struct {
	// Timeout bounds one attempt of a request, from sending it to reading the whole response;
	// an attempt that takes longer fails with ErrTimeout and is retried like a network error.
	// Defaults to 60 seconds.
	Timeout time.Duration
	// Transport sends the requests, after authentication. Defaults to http.DefaultTransport.
	Transport http.RoundTripper
	// Header is sent with every request (an API version, a User-Agent); a request's own
	// headers replace the same keys. Requests accept application/json unless they say
	// otherwise.
	Header http.Header
	// AuthOrigins are origins ("https://uploads.example.com") besides the BaseURL's to which
	// the connection's credentials may be sent. They are never sent anywhere else, even when
	// the provider redirects there or a pagination link points there.
	AuthOrigins []string
	// RateLimit throttles each connection. Nil means no client-side limit; the provider's
	// Retry-After is honoured regardless.
	RateLimit *RateLimit
	// Retry says which failed requests are tried again, how often and how long to wait. Nil
	// means the defaults described on HTTPRetry.
	Retry *HTTPRetry
	// MaxResponseBytes bounds a response body read by Nango.Request; a larger one is an error.
	// Defaults to 64 MiB.
	MaxResponseBytes int64
	// MaxPages bounds the pages one Nango.Paginate fetches; more is an error wrapping
	// ErrTooManyPages. Defaults to 10,000.
	MaxPages int
}

// Request is a request to the provider's API, for Nango.Request, Nango.Get and the like.
type Request struct {
	// Method is the HTTP method. Defaults to GET.
	Method string
	// Path is the endpoint: a path relative to the integration's BaseURL, appended to the
	// BaseURL's own path ("/repos/octo/hello/issues"), or an absolute http or https URL such
	// as a next-page link. It may carry a query string.
	Path string
	// Query parameters are added to Path's; a key in Query replaces the same key in Path.
	Query url.Values
	// Header is added to HTTPConfig.Header; a key here replaces the same key there.
	Header http.Header
	// JSON, when not nil, is encoded as the body with Content-Type application/json.
	JSON any
	// Body is a raw body for requests that are not JSON (set Content-Type in Header). Body and
	// JSON cannot both be set.
	Body []byte
	// Retry lets a POST or PATCH be retried like the idempotent methods (GET, HEAD, OPTIONS,
	// TRACE, PUT, DELETE). Set it when a repeat does no harm: a search, or a provider that
	// deduplicates by an idempotency key.
	Retry bool
	// MaxAttempts, when above 0, replaces HTTPRetry.MaxAttempts for this request.
	MaxAttempts int
}

func (r *Request) clone() *Request {
	c := *r
	c.Query = cloneValues(r.Query)
	c.Header = r.Header.Clone()
	return &c
}

// Response is a provider's successful (status below 400) answer, read whole.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Attempts is how many attempts the request took.
	Attempts int

	method  string
	url     *url.URL // after redirects; resolves relative links
	display string   // url without secrets, for messages
}

// Decode unmarshals the JSON body into v.
func (r *Response) Decode(v any) error {
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return fmt.Errorf("nango: decoding the response of %s %s: the body is empty", r.method, r.display)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("nango: decoding the response of %s %s into %T: %w", r.method, r.display, v, err)
	}
	return nil
}

// Request sends a request to the provider's API for the run's connection: authenticated with
// the connection's credentials, throttled by the connection's rate limit, retried according to
// the integration's HTTPRetry, and logged at debug level (method, path, query without secrets,
// status, duration, attempt). A status of 400 or more, after the retries allowed, is returned as
// an *APIError; so is a network failure.
func (n *Nango) Request(ctx context.Context, req *Request) (*Response, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, errors.New("nango: nil *Request")
	}
	c, err := n.engine.connHTTP(n.integration, n.conn)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, n.logger, req)
}

// Get sends req as a GET; see Request. req.Method must be empty or GET.
func (n *Nango) Get(ctx context.Context, req *Request) (*Response, error) {
	return n.requestAs(ctx, http.MethodGet, req)
}

// Post sends req as a POST; see Request. A POST is retried only with req.Retry.
func (n *Nango) Post(ctx context.Context, req *Request) (*Response, error) {
	return n.requestAs(ctx, http.MethodPost, req)
}

// Put sends req as a PUT; see Request.
func (n *Nango) Put(ctx context.Context, req *Request) (*Response, error) {
	return n.requestAs(ctx, http.MethodPut, req)
}

// Patch sends req as a PATCH; see Request. A PATCH is retried only with req.Retry.
func (n *Nango) Patch(ctx context.Context, req *Request) (*Response, error) {
	return n.requestAs(ctx, http.MethodPatch, req)
}

// Delete sends req as a DELETE; see Request.
func (n *Nango) Delete(ctx context.Context, req *Request) (*Response, error) {
	return n.requestAs(ctx, http.MethodDelete, req)
}

func (n *Nango) requestAs(ctx context.Context, method string, req *Request) (*Response, error) {
	if req == nil {
		return nil, errors.New("nango: nil *Request")
	}
	if req.Method != "" && !strings.EqualFold(req.Method, method) {
		return nil, fmt.Errorf("nango: %s called with a request whose Method is %q", method, req.Method)
	}
	r := *req
	r.Method = method
	return n.Request(ctx, &r)
}

// HTTPClient returns an *http.Client for the run's connection, for code that wants the plain
// net/http API (streaming a download, a provider SDK). Its requests are authenticated (only
// towards the integration's origins), wait for the connection's rate limit and for any
// Retry-After the provider gave, are logged at debug level, and each is bounded by
// HTTPConfig.Timeout. They are not retried, and relative URLs are not resolved against the
// BaseURL. Like the run's handle, it must not be used after the run ends.
func (n *Nango) HTTPClient() *http.Client {
	c, err := n.engine.connHTTP(n.integration, n.conn)
	if err != nil {
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			closeRequestBody(r)
			return nil, err
		})}
	}
	return &http.Client{Timeout: c.in.timeout, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if err := n.usable(); err != nil {
			closeRequestBody(r)
			return nil, err
		}
		start := c.clk.Now()
		resp, err := c.client(n.logger, true).Transport.RoundTrip(r)
		res := &provider.Attempt{Err: err}
		if resp != nil {
			res.Status = resp.StatusCode
		}
		c.logAttempt(r.Context(), n.logger, r.Method, r.URL, res, 1, c.clk.Now().Sub(start))
		return resp, err
	})}
}

// httpState is the engine's provider HTTP state: each integration's resolved configuration and
// each connection's client, rate limiter and pause. Its zero value is ready to use.
type httpState struct {
	mu           sync.Mutex
	integrations map[string]*integrationHTTP
	conns        map[connKey]*connHTTP
}

type connKey struct{ integration, id string }

// integrationHTTP is an integration's validated HTTP configuration with its defaults applied.
type integrationHTTP struct {
	key       string
	base      *url.URL // nil without a BaseURL
	timeout   time.Duration
	transport http.RoundTripper
	header    http.Header
	origins   map[string]bool
	auth      Auth
	rate      RateLimit
	retry     provider.Policy
	maxBody   int64
	maxPages  int
	sensitive map[string]bool // lower-case query keys whose values are secret
}

// integration resolves (once) the HTTP configuration of a registered integration.
func (s *httpState) integration(in *Integration) (*integrationHTTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ih := s.integrations[in.Key]; ih != nil {
		return ih, nil
	}
	ih, err := resolveHTTP(in)
	if err != nil {
		return nil, err
	}
	if s.integrations == nil {
		s.integrations = map[string]*integrationHTTP{}
	}
	s.integrations[in.Key] = ih
	return ih, nil
}

func resolveHTTP(in *Integration) (*integrationHTTP, error) {
	var cfg HTTPConfig
	if in.HTTP != nil {
		cfg = *in.HTTP
	}
	ih := &integrationHTTP{key: in.Key, auth: in.Auth, origins: map[string]bool{}, sensitive: map[string]bool{}}
	bad := func(format string, args ...any) error {
		return configError("integration %q: %s", in.Key, fmt.Sprintf(format, args...))
	}
	if in.BaseURL != "" {
		u, err := url.Parse(in.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("BaseURL %q is not an absolute http or https URL", in.BaseURL)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, bad("BaseURL %q must not have a query, a fragment or user info", in.BaseURL)
		}
		ih.base = u
		ih.origins[originOf(u)] = true
	}
	for _, o := range cfg.AuthOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, bad("HTTPConfig.AuthOrigins: %q is not an origin such as https://api.example.com", o)
		}
		ih.origins[originOf(u)] = true
	}
	switch {
	case cfg.Timeout < 0:
		return nil, bad("HTTPConfig.Timeout %s is negative", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = 60 * time.Second
	}
	switch {
	case cfg.MaxResponseBytes < 0:
		return nil, bad("HTTPConfig.MaxResponseBytes %d is negative", cfg.MaxResponseBytes)
	case cfg.MaxResponseBytes == 0:
		cfg.MaxResponseBytes = 64 << 20
	}
	switch {
	case cfg.MaxPages < 0:
		return nil, bad("HTTPConfig.MaxPages %d is negative", cfg.MaxPages)
	case cfg.MaxPages == 0:
		cfg.MaxPages = 10000
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	retry, err := resolveRetry(cfg.Retry)
	if err != nil {
		return nil, bad("%v", err)
	}
	rl, err := resolveRateLimit(cfg.RateLimit)
	if err != nil {
		return nil, bad("%v", err)
	}
	if in.Auth != nil {
		if v, ok := in.Auth.(authValidator); ok {
			if err := v.validate(); err != nil {
				return nil, within(err, "integration %q", in.Key)
			}
		}
		if len(ih.origins) == 0 {
			return nil, bad("Auth needs a BaseURL or HTTPConfig.AuthOrigins: credentials are only sent to those origins")
		}
	}
	for _, k := range provider.DefaultSensitiveParams {
		ih.sensitive[k] = true
	}
	var key APIKey
	switch a := in.Auth.(type) {
	case APIKey:
		key = a
	case *APIKey:
		key = *a
	}
	if key.Query != "" {
		ih.sensitive[strings.ToLower(key.Query)] = true
	}
	header := http.Header{}
	for k, vs := range cfg.Header {
		header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	ih.timeout, ih.transport, ih.header = cfg.Timeout, cfg.Transport, header
	ih.rate, ih.retry, ih.maxBody, ih.maxPages = rl, retry, cfg.MaxResponseBytes, cfg.MaxPages
	return ih, nil
}

// forget drops the HTTP state of a deleted connection: its credentials, limiter and pause.
func (s *httpState) forget(integration, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, connKey{integration, id})
}

// connHTTP is one connection's HTTP state, shared by every sync and run of the connection.
type connHTTP struct {
	engine  *Engine
	in      *integrationHTTP
	id      string
	clk     Clock
	gate    *provider.Gate // the rate limiter and the provider's pauses
	secrets *provider.Secrets

	buildMu sync.Mutex // serialises building the transport

	mu    sync.Mutex
	rt    http.RoundTripper // authentication by origin, then the transport; no rate-limit gate
	known [][]byte          // stored credentials that rt is up to date with
}

// connHTTP returns the HTTP state of a connection, (re)building its transport when the
// connection's stored credentials are not the ones it was built with or saved since.
func (e *Engine) connHTTP(in *Integration, conn *store.Connection) (*connHTTP, error) {
	ih, err := e.http.integration(in)
	if err != nil {
		return nil, err
	}
	e.http.mu.Lock()
	key := connKey{in.Key, conn.ID}
	c := e.http.conns[key]
	if c == nil {
		c = &connHTTP{engine: e, in: ih, id: conn.ID, clk: e.cfg.Clock, secrets: &provider.Secrets{},
			gate: provider.NewGate(conn.ID, e.cfg.Clock, ih.rate.Limit, ih.rate.Burst, ih.rate.limits())}
		if e.http.conns == nil {
			e.http.conns = map[connKey]*connHTTP{}
		}
		e.http.conns[key] = c
	}
	e.http.mu.Unlock()
	if err := c.ensure(conn.Credentials); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *connHTTP) clock() Clock { return c.clk }

func (c *connHTTP) transport() http.RoundTripper {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rt
}

// client returns an *http.Client for one run's requests on the connection: through the
// rate-limit gate (which waits for the connection's pause and limiter first only when wait is
// set: the retry loop waits before each attempt itself), then the authenticating transport.
// Logs of the gate and of token refreshes go to logger, the run's.
func (c *connHTTP) client(logger *slog.Logger, wait bool) *http.Client {
	return &http.Client{Transport: &provider.GateTransport{Gate: c.gate, Wait: wait, MaxWait: c.in.retry.MaxWait,
		Logger: logger, Next: withLogger(c.transport(), logger)}}
}

func (c *connHTTP) knownLocked(creds []byte) bool {
	return slices.ContainsFunc(c.known, func(k []byte) bool { return bytes.Equal(k, creds) })
}

// markKnown records credentials the transport is up to date with (because it saved them).
func (c *connHTTP) markKnown(creds []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.knownLocked(creds) {
		c.known = append(c.known, bytes.Clone(creds))
		if len(c.known) > 8 {
			c.known = c.known[len(c.known)-8:]
		}
	}
}

func (c *connHTTP) ensure(stored []byte) error {
	c.mu.Lock()
	ok := c.rt != nil && c.knownLocked(stored)
	c.mu.Unlock()
	if ok {
		return nil
	}
	c.buildMu.Lock()
	defer c.buildMu.Unlock()
	c.mu.Lock()
	ok = c.rt != nil && c.knownLocked(stored)
	c.mu.Unlock()
	if ok {
		return nil
	}
	var rt http.RoundTripper = c.in.transport
	if c.in.auth != nil {
		ac := &AuthConn{Integration: c.in.key, ConnectionID: c.id, engine: c.engine, conn: c, timeout: c.in.timeout}
		if len(stored) == 0 {
			return ac.authError("it has no credentials: add them with Engine.AddConnection", nil)
		}
		creds, err := c.engine.openCredentials(c.in.key, c.id, stored)
		if err != nil {
			return ac.authError("its stored credentials cannot be read: "+err.Error(), err)
		}
		c.secrets.Add(creds.secretsOf()...)
		ac.Credentials = creds
		art, err := c.in.auth.Transport(ac, c.in.transport)
		var ae *AuthError
		switch {
		case errors.As(err, &ae):
			return ae
		case err != nil:
			return &provider.RedactedError{Msg: fmt.Sprintf("nango: authenticating connection %q of integration %q: %s", c.id, c.in.key, c.secrets.Redact(err.Error())), Err: err}
		}
		rt = &originRouter{auth: art, plain: c.in.transport, origins: c.in.origins}
	}
	c.mu.Lock()
	c.rt = rt
	c.known = [][]byte{bytes.Clone(stored)}
	c.mu.Unlock()
	return nil
}

// connLogger is the logger of the connection's work that no run asked for.
func (c *connHTTP) connLogger() *slog.Logger {
	return c.engine.logger.With("integration", c.in.key, "connection_id", c.id)
}

// loggingTransport is a transport of the chain that logs: withLogger returns a view of it that
// logs to one run's logger.
type loggingTransport interface {
	withLogger(*slog.Logger) http.RoundTripper
}

// withLogger returns rt bound to logger when it logs, else rt.
func withLogger(rt http.RoundTripper, logger *slog.Logger) http.RoundTripper {
	if lt, ok := rt.(loggingTransport); ok {
		return lt.withLogger(logger)
	}
	return rt
}

// prepared is a Request resolved against the integration's configuration.
type prepared struct {
	method  string
	url     *url.URL
	display string
	tmpl    *http.Request
	body    []byte
}

func (c *connHTTP) prepare(req *Request) (*prepared, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := c.in.resolve(req)
	if err != nil {
		return nil, err
	}
	p := &prepared{method: method, url: u, display: c.displayURL(u)}
	header := c.in.header.Clone()
	for k, vs := range req.Header {
		header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	switch {
	case req.JSON != nil && req.Body != nil:
		return nil, fmt.Errorf("nango: %s %s: the request sets both JSON and Body", method, p.display)
	case req.JSON != nil:
		if p.body, err = json.Marshal(req.JSON); err != nil {
			return nil, fmt.Errorf("nango: %s %s: encoding the JSON body: %w", method, p.display, err)
		}
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json")
		}
	case req.Body != nil:
		p.body = req.Body
	}
	if header.Get("Accept") == "" {
		header.Set("Accept", "application/json")
	}
	p.tmpl, err = http.NewRequest(method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("nango: %s %s: %w", method, p.display, err)
	}
	p.tmpl.Header = header
	return p, nil
}

// resolve builds the URL of a request.
func (ih *integrationHTTP) resolve(req *Request) (*url.URL, error) {
	if req.Path == "" {
		return nil, errors.New("nango: the request has no Path")
	}
	ref, err := url.Parse(req.Path)
	if err != nil {
		return nil, fmt.Errorf("nango: the request's Path is not a valid URL: %w", errors.Unwrap(err))
	}
	var u *url.URL
	switch {
	case ref.IsAbs():
		if ref.Scheme != "http" && ref.Scheme != "https" || ref.Host == "" {
			return nil, fmt.Errorf("nango: the request's Path has scheme %q; want http or https", ref.Scheme)
		}
		u = ref
	case ref.Host != "":
		return nil, errors.New("nango: the request's Path starts with // (a host without a scheme); give a full URL or a path")
	case ih.base == nil:
		return nil, fmt.Errorf("nango: the request's Path %q is relative but integration %q has no BaseURL", ref.Path, ih.key)
	default:
		u = new(url.URL)
		*u = *ih.base
		if ref.Path != "" {
			escaped := strings.TrimSuffix(ih.base.EscapedPath(), "/") + "/" + strings.TrimPrefix(ref.EscapedPath(), "/")
			p, err := url.PathUnescape(escaped)
			if err != nil {
				return nil, fmt.Errorf("nango: the request's Path %q: %w", ref.Path, err)
			}
			u.Path, u.RawPath = p, escaped
		}
		u.RawQuery = ref.RawQuery
	}
	u.Fragment, u.RawFragment = "", ""
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			q[k] = slices.Clone(vs)
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// redactor cleans the connection's URLs and queries for logs and errors.
func (c *connHTTP) redactor() provider.Redactor {
	return provider.Redactor{Secrets: c.secrets, Sensitive: c.in.sensitive}
}

// displayURL is u without user info and with the values of secret query parameters and known
// secrets replaced, for logs and errors.
func (c *connHTTP) displayURL(u *url.URL) string { return c.redactor().URL(u) }

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
