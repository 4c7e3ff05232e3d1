package nangotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Redacted replaces secrets in recorded fixtures. In a fixture's request, a query value or a
// JSON string equal to Redacted matches any value.
const Redacted = "REDACTED"

// Fixture is one request and the response it gets: an interaction of a fixture file.
//
// A fixture file is JSON: either one interaction, or an object with an "interactions" array
// (one file per test). A directory of fixture files is read in file-name order (one file per
// interaction). For example:
//
//	{
//	  "interactions": [
//	    {
//	      "request": {"method": "GET", "path": "/v1/contacts", "query": {"limit": "100"}},
//	      "response": {
//	        "status": 200,
//	        "headers": {"Link": "</v1/contacts?page=2>; rel=\"next\""},
//	        "body": {"contacts": [{"id": "1", "name": "Ada"}]}
//	      }
//	    }
//	  ]
//	}
type Fixture struct {
	Request  FixtureRequest  `json:"request"`
	Response FixtureResponse `json:"response"`

	source string // where it was read from, for messages
}

// FixtureRequest is what a request must be to get the fixture's response. Method, path and
// query must be equal (query values in order; Redacted matches any value), and the body when
// the fixture has one: JSON bodies compare as JSON (key order and spacing do not matter),
// form bodies as forms, other bodies as text. Headers are not compared.
type FixtureRequest struct {
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// Path is the URL's path ("/v1/contacts"), or a whole URL for a request to another host.
	// A query string in it is moved to Query.
	Path string `json:"path"`
	// Query holds the query parameters; each value is a string or an array of strings.
	Query Values `json:"query,omitempty"`
	// Body is a JSON body; BodyText any other body. With neither, any body matches.
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText *string         `json:"body_text,omitempty"`
}

// FixtureResponse is the response a fixture gives.
type FixtureResponse struct {
	// Status defaults to 200.
	Status int `json:"status,omitempty"`
	// Headers are the response headers; each value is a string or an array of strings.
	Headers Values `json:"headers,omitempty"`
	// Body is a JSON body (Content-Type defaults to application/json); BodyText any other.
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText *string         `json:"body_text,omitempty"`
}

// Values are query parameters or headers. In JSON a key maps to a string, or to an array of
// strings when it has several values.
type Values map[string][]string

// MarshalJSON writes single values as strings.
func (v Values) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(v))
	for k, vs := range v {
		if len(vs) == 1 {
			m[k] = vs[0]
		} else {
			m[k] = vs
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads strings and arrays of strings.
func (v *Values) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	out := make(Values, len(m))
	for k, raw := range m {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out[k] = []string{s}
			continue
		}
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return fmt.Errorf("value of %q is neither a string nor an array of strings", k)
		}
		out[k] = ss
	}
	*v = out
	return nil
}

// JSONFixture returns a fixture that answers method and target (a path with an optional query
// string, "/v1/contacts?page=2") with status and body encoded as JSON, for fixtures written in
// Go rather than in files.
func JSONFixture(method, target string, status int, body any) Fixture {
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("nangotest: JSONFixture body: %v", err))
	}
	f := Fixture{Request: FixtureRequest{Method: method, Path: target}, Response: FixtureResponse{Status: status, Body: data}, source: "JSONFixture(" + method + " " + target + ")"}
	if err := f.normalize(); err != nil {
		panic(fmt.Sprintf("nangotest: JSONFixture: %v", err))
	}
	return f
}

// Header returns f with a response header added.
func (f Fixture) Header(key, value string) Fixture {
	h := Values{}
	for k, vs := range f.Response.Headers {
		h[k] = slices.Clone(vs)
	}
	h[key] = append(h[key], value)
	f.Response.Headers = h
	return f
}

func (f *Fixture) normalize() error {
	if f.Request.Method == "" {
		f.Request.Method = "GET"
	}
	f.Request.Method = strings.ToUpper(f.Request.Method)
	if f.Request.Path == "" {
		return errors.New(`the request has no "path"`)
	}
	if p, q, ok := strings.Cut(f.Request.Path, "?"); ok {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return fmt.Errorf("the query of path %q: %w", f.Request.Path, err)
		}
		if f.Request.Query == nil {
			f.Request.Query = Values{}
		}
		for k, vs := range vals {
			f.Request.Query[k] = append(f.Request.Query[k], vs...)
		}
		f.Request.Path = p
	}
	if f.Request.Body != nil && f.Request.BodyText != nil {
		return errors.New(`the request has both "body" and "body_text"`)
	}
	if f.Response.Body != nil && f.Response.BodyText != nil {
		return errors.New(`the response has both "body" and "body_text"`)
	}
	if f.Response.Status == 0 {
		f.Response.Status = 200
	}
	if f.Response.Status < 100 || f.Response.Status > 599 {
		return fmt.Errorf("the response status %d is not an HTTP status", f.Response.Status)
	}
	return nil
}

// fixtureFile is the form of a file with several interactions.
type fixtureFile struct {
	Interactions []Fixture `json:"interactions"`
}

// LoadFixtures reads a fixture file, or every .json file of a directory in name order.
func LoadFixtures(path string) ([]Fixture, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("nangotest: reading fixtures: %w", err)
	}
	if !info.IsDir() {
		return loadFixtureFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("nangotest: reading fixtures: %w", err)
	}
	var out []Fixture
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		fx, err := loadFixtureFile(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, fx...)
	}
	return out, nil
}

func loadFixtureFile(path string) ([]Fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nangotest: reading fixtures: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fixtureSyntaxError(path, data, err)
	}
	var fixtures []Fixture
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, ok := probe["interactions"]; ok {
		var ff fixtureFile
		if err := dec.Decode(&ff); err != nil {
			return nil, fixtureSyntaxError(path, data, err)
		}
		fixtures = ff.Interactions
	} else {
		var f Fixture
		if err := dec.Decode(&f); err != nil {
			return nil, fixtureSyntaxError(path, data, err)
		}
		fixtures = []Fixture{f}
	}
	for i := range fixtures {
		fixtures[i].source = path
		if len(fixtures) > 1 {
			fixtures[i].source = fmt.Sprintf("%s interaction %d", path, i+1)
		}
		if err := fixtures[i].normalize(); err != nil {
			return nil, fmt.Errorf("nangotest: %s: %w", fixtures[i].source, err)
		}
	}
	return fixtures, nil
}

func fixtureSyntaxError(path string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("nangotest: %s:%d: %w", path, line, err)
	}
	return fmt.Errorf("nangotest: %s: %w", path, err)
}

// WriteFixtures writes fixtures to path: one file with an "interactions" array when path ends
// in .json, else one file per interaction in the directory path (its earlier numbered files
// are removed first).
func WriteFixtures(path string, fixtures []Fixture) error {
	if strings.HasSuffix(path, ".json") {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("nangotest: writing fixtures: %w", err)
		}
		if fixtures == nil {
			fixtures = []Fixture{}
		}
		return writeJSONFile(path, fixtureFile{Interactions: fixtures})
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("nangotest: writing fixtures: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(path, "[0-9][0-9][0-9]-*.json"))
	if err != nil {
		return fmt.Errorf("nangotest: writing fixtures: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("nangotest: writing fixtures: %w", err)
		}
	}
	for i, f := range fixtures {
		name := fmt.Sprintf("%03d-%s.json", i+1, slug(f.Request.Method+" "+f.Request.Path))
		if err := writeJSONFile(filepath.Join(path, name), f); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("nangotest: encoding fixtures for %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("nangotest: writing fixtures: %w", err)
	}
	return nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "-")
	}
	return s
}

// sortedKeys returns the keys of a map of values in order.
func sortedKeys(v map[string][]string) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
