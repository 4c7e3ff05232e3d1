package nangotest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gonango/nango"
)

// RecordEnv is the environment variable that turns record mode on ("1" or "true") for every
// Harness with Options.Fixtures.
const RecordEnv = "NANGO_RECORD"

func recordFromEnv() bool {
	switch strings.ToLower(os.Getenv(RecordEnv)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// Query parameters whose values are always redacted (those the engine redacts from its logs).
var secretParams = []string{
	"access_token", "api_key", "api-key", "apikey", "auth", "authorization", "client_secret", "code",
	"hapikey", "id_token", "key", "password", "passwd", "private_token", "refresh_token", "secret",
	"session", "sig", "signature", "token",
}

// JSON members whose values are always redacted, in request and response bodies. Fewer than
// the query parameters: "key" or "code" are often data in a body.
var secretFields = []string{
	"access_token", "api_key", "apikey", "authorization", "client_secret", "id_token", "password",
	"passwd", "private_token", "refresh_token", "secret", "token",
}

// Response headers not worth keeping in a fixture.
var noisyHeaders = []string{
	"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age", "Age",
	"Alt-Svc", "Cf-Cache-Status", "Cf-Ray", "Connection", "Content-Encoding", "Content-Length",
	"Content-Security-Policy", "Date", "Expect-Ct", "Keep-Alive", "Nel", "Permissions-Policy",
	"Referrer-Policy", "Report-To", "Server", "Server-Timing", "Set-Cookie", "Strict-Transport-Security",
	"Transfer-Encoding", "Vary", "Via", "X-Content-Type-Options", "X-Frame-Options", "X-Xss-Protection",
}

// redactor removes secrets from what the recorder writes.
type redactor struct {
	mu      sync.Mutex
	secrets []string
	params  map[string]bool
	fields  map[string]bool
	headers map[string]bool
	// authParam is the query parameter the integration's APIKey adds: recorded fixtures leave
	// it out, since replays send no credentials.
	authParam string
}

func newRedactor(extra []string, creds *nango.Credentials, auth nango.Auth) *redactor {
	r := &redactor{params: map[string]bool{}, fields: map[string]bool{}, headers: map[string]bool{"authorization": true, "cookie": true, "proxy-authorization": true}}
	for _, p := range secretParams {
		r.params[p] = true
	}
	for _, f := range secretFields {
		r.fields[f] = true
	}
	for _, e := range extra {
		e = strings.ToLower(e)
		r.params[e], r.fields[e], r.headers[e] = true, true, true
	}
	if creds != nil {
		if creds.Token != nil {
			r.addSecret(creds.Token.AccessToken, creds.Token.RefreshToken)
		}
		r.addSecret(creds.APIKey, creds.Password)
		if creds.Username != "" || creds.Password != "" {
			r.addSecret(base64.StdEncoding.EncodeToString([]byte(creds.Username + ":" + creds.Password)))
		}
		for _, v := range creds.Extra {
			r.addSecret(v)
		}
	}
	switch a := auth.(type) {
	case *nango.OAuth2:
		if a.Config != nil {
			r.addSecret(a.Config.ClientSecret)
		}
	case nango.APIKey:
		r.apiKey(a)
	case *nango.APIKey:
		r.apiKey(*a)
	}
	return r
}

func (r *redactor) apiKey(a nango.APIKey) {
	if a.Query != "" {
		r.params[strings.ToLower(a.Query)] = true
		r.authParam = a.Query
	}
	if a.Header != "" {
		r.headers[strings.ToLower(a.Header)] = true
	}
}

func (r *redactor) addSecret(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if len(form) >= 4 && !slices.Contains(r.secrets, form) {
				r.secrets = append(r.secrets, form)
			}
		}
	}
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// text replaces every known secret in s.
func (r *redactor) text(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	return s
}

func (r *redactor) query(q url.Values) Values {
	if len(q) == 0 {
		return nil
	}
	out := make(Values, len(q))
	for k, vs := range q {
		vals := make([]string, len(vs))
		for i, v := range vs {
			if r.params[strings.ToLower(k)] {
				vals[i] = Redacted
			} else {
				vals[i] = r.text(v)
			}
		}
		out[k] = vals
	}
	return out
}

// learn adds the tokens of a JSON response (an OAuth token endpoint's) to the secrets.
func (r *redactor) learn(body []byte) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if s, ok := m[k].(string); ok {
			r.addSecret(s)
		}
	}
}

// jsonValue redacts a decoded JSON value in place and returns it.
func (r *redactor) jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if r.fields[strings.ToLower(k)] && e != nil {
				x[k] = Redacted
				continue
			}
			x[k] = r.jsonValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = r.jsonValue(e)
		}
		return x
	case string:
		return r.text(x)
	}
	return v
}

// body returns a body as a fixture keeps it: JSON, or text, redacted; ok is false for a body
// that is neither.
func (r *redactor) body(data []byte, contentType string) (js json.RawMessage, text *string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var v any
	if decodeJSON(data, &v) == nil {
		if out, err := json.Marshal(r.jsonValue(v)); err == nil {
			return out, nil
		}
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct == "application/x-www-form-urlencoded" {
		if q, err := url.ParseQuery(string(data)); err == nil {
			for k, vs := range q {
				for i := range vs {
					if r.params[strings.ToLower(k)] || r.fields[strings.ToLower(k)] {
						vs[i] = Redacted
					}
				}
			}
			s := r.text(q.Encode())
			return nil, &s
		}
	}
	if !utf8.Valid(data) {
		return nil, nil
	}
	s := r.text(string(data))
	return nil, &s
}

func (r *redactor) responseHeaders(h http.Header) Values {
	out := Values{}
	for k, vs := range h {
		if slices.Contains(noisyHeaders, http.CanonicalHeaderKey(k)) {
			continue
		}
		vals := make([]string, len(vs))
		for i, v := range vs {
			if r.headers[strings.ToLower(k)] {
				vals[i] = Redacted
			} else {
				vals[i] = r.text(v)
			}
		}
		out[k] = vals
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// recorder sends requests to the real API and keeps them as fixtures, redacted.
type recorder struct {
	next  http.RoundTripper
	red   *redactor
	base  *url.URL // nil without a BaseURL
	token string   // the OAuth token endpoint, whose exchanges are not kept

	mu       sync.Mutex
	fixtures []Fixture
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	sr, err := readRequest(req)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	if sr.body != nil {
		body := sr.body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := r.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if r.token != "" && strings.HasPrefix(req.URL.String(), r.token) {
		r.red.learn(body)
		return resp, nil
	}
	r.red.learn(body)
	r.add(sr, resp, body)
	return resp, nil
}

func (r *recorder) add(sr *sentRequest, resp *http.Response, body []byte) {
	q := sr.url.Query()
	if r.red.authParam != "" {
		q.Del(r.red.authParam)
	}
	f := Fixture{Request: FixtureRequest{Method: sr.method, Path: r.red.text(sr.url.Path), Query: r.red.query(q)}}
	if r.base == nil || !strings.EqualFold(sr.url.Host, r.base.Host) || sr.url.Scheme != r.base.Scheme {
		u := *sr.url
		u.RawQuery, u.User, u.Fragment = "", nil, ""
		f.Request.Path = r.red.text(u.String())
	}
	f.Request.Body, f.Request.BodyText = r.red.body(sr.body, sr.header.Get("Content-Type"))
	f.Response.Status = resp.StatusCode
	f.Response.Headers = r.red.responseHeaders(resp.Header)
	f.Response.Body, f.Response.BodyText = r.red.body(body, resp.Header.Get("Content-Type"))
	if f.Response.Body != nil {
		if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "application/json" {
			delete(f.Response.Headers, "Content-Type")
			if len(f.Response.Headers) == 0 {
				f.Response.Headers = nil
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fixtures = append(r.fixtures, f)
}

func (r *recorder) recorded() []Fixture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.fixtures)
}
