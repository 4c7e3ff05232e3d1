// Package client is a Go client of the Nango-compatible REST API that package api serves: the
// change feed (ListRecords, AllRecords), sync control (Trigger, Start, Pause, Status,
// UpdateFrequency) and the outgoing webhooks (WebhookDeliveries, RedeliverWebhook). It speaks Nango's wire format (the paths, headers, bodies and error answers
// of Nango's public API) and does not depend on the engine: a backend that only reads the change
// feed imports this package alone.
//
//	c, err := client.New("http://localhost:3003", os.Getenv("NANGO_SECRET_KEY"), nil)
//	for rec, err := range c.AllRecords(ctx, client.ListRecordsParams{
//		ProviderConfigKey: "salesforce", ConnectionID: "demo", Model: "SalesforceContact", Cursor: last,
//	}) {
//		if err != nil { return err }
//		...
//		last = rec.Metadata.Cursor
//	}
//
// Errors answered by the server are *Error values carrying its status and code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Options configure a Client. A nil *Options means all defaults.
type Options struct {
	// HTTPClient sends the requests; the context of each call bounds it. Defaults to
	// http.DefaultClient.
	HTTPClient *http.Client
	// UserAgent is sent in the User-Agent header. Defaults to "gonango-client".
	UserAgent string
}

// Client calls the API. It is safe for concurrent use.
type Client struct {
	base      string // without a trailing slash
	secretKey string
	http      *http.Client
	userAgent string
}

// New returns a client of the API at baseURL (for example "http://localhost:3003", or
// "https://example.com/nango" when the API is mounted under a prefix), authenticating with
// secretKey. An empty secretKey sends no Authorization header, for servers that run without
// authentication during local development.
func New(baseURL, secretKey string, opts *Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want an http or https URL with a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: must not have a query or a fragment", baseURL)
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), secretKey: secretKey, http: http.DefaultClient, userAgent: "gonango-client"}
	if opts != nil {
		if opts.HTTPClient != nil {
			c.http = opts.HTTPClient
		}
		if opts.UserAgent != "" {
			c.userAgent = opts.UserAgent
		}
	}
	return c, nil
}

// Error is an error answered by the server: its HTTP status, its error code (such as
// "invalid_query_params" or "unknown_connection"), its message, and the validation problems
// it listed, if any.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	Errors     []FieldError
}

// FieldError is one validation problem of a request: which parameter or field (Path), what
// kind of problem (Code) and what is wrong (Message).
type FieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Path    []any  `json:"path"`
}

// Error implements error.
func (e *Error) Error() string {
	msg := strings.TrimPrefix(e.Message, "api: ") // the client's prefix says where it comes from
	if msg == "" && len(e.Errors) > 0 {
		parts := make([]string, len(e.Errors))
		for i, fe := range e.Errors {
			parts[i] = fmt.Sprintf("%v: %s", fe.Path, fe.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	if e.Code == "" {
		return fmt.Sprintf("client: HTTP %d: %s", e.StatusCode, msg)
	}
	return fmt.Sprintf("client: HTTP %d %s: %s", e.StatusCode, e.Code, msg)
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, header http.Header, in, out any) error {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encoding the request to %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.secretKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.secretKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode}
	var answer struct {
		Error *struct {
			Code    string       `json:"code"`
			Message string       `json:"message"`
			Errors  []FieldError `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &answer); err == nil && answer.Error != nil {
		e.Code, e.Message, e.Errors = answer.Error.Code, answer.Error.Message, answer.Error.Errors
		return e
	}
	e.Message = strings.TrimSpace(string(raw))
	if len(e.Message) > 512 {
		e.Message = e.Message[:512] + "..."
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// IsCode reports whether err is an *Error with this code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
