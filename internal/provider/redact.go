package provider

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Redacted replaces a secret in text.
const Redacted = "[REDACTED]"

// minSecretLen keeps very short strings (which would mangle every message) out of a set.
const minSecretLen = 4

// DefaultSensitiveParams are query parameters whose values never appear in logs and errors.
var DefaultSensitiveParams = []string{
	"access_token", "api_key", "api-key", "apikey", "auth", "authorization", "client_secret", "code",
	"hapikey", "id_token", "key", "password", "passwd", "private_token", "refresh_token", "secret",
	"session", "sig", "signature", "token",
}

// Secrets is a connection's set of secrets, removed from any text that may be logged or
// returned. Its zero value is empty and ready to use; it is safe for concurrent use.
type Secrets struct {
	mu   sync.RWMutex
	list []string
}

// Add adds secrets, each also in its query- and path-escaped forms.
func (s *Secrets) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if len(form) >= minSecretLen && !slices.Contains(s.list, form) {
				s.list = append(s.list, form)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortStableFunc(s.list, func(a, b string) int { return len(b) - len(a) })
}

// Redact returns text with every secret of the set replaced by Redacted.
func (s *Secrets) Redact(text string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.list {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, Redacted)
		}
	}
	return text
}

// Redactor cleans URLs and queries for logs and errors: the values of sensitive query
// parameters and every known secret are replaced.
type Redactor struct {
	Secrets *Secrets
	// Sensitive holds lower-case query parameter names whose values are secret.
	Sensitive map[string]bool
}

// Query returns a raw query with the values of sensitive parameters replaced by REDACTED and
// the known secrets removed; a query that does not parse is replaced whole.
func (r Redactor) Query(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "REDACTED"
	}
	changed := false
	for k, vs := range q {
		if r.Sensitive[strings.ToLower(k)] {
			for i := range vs {
				vs[i] = "REDACTED"
			}
			changed = true
		}
	}
	if !changed {
		return r.Secrets.Redact(raw)
	}
	return r.Secrets.Redact(q.Encode())
}

// URL returns u without user info, with its query cleaned by Query and the known secrets
// removed.
func (r Redactor) URL(u *url.URL) string {
	v := *u
	v.User = nil
	v.RawQuery = r.Query(u.RawQuery)
	return r.Secrets.Redact(v.String())
}

// RedactedError carries a message cleaned of secrets and the error it came from.
type RedactedError struct {
	Msg string
	Err error
}

func (e *RedactedError) Error() string { return e.Msg }

// Unwrap returns Err.
func (e *RedactedError) Unwrap() error { return e.Err }

// Excerpt returns the beginning of s, trimmed, at most n bytes, cut on a rune boundary.
func Excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
