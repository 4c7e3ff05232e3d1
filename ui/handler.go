package ui

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gonango/nango"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultPageSize is the default of Config.PageSize.
const DefaultPageSize = 50

// DefaultSessionTTL is the default of Config.SessionTTL.
const DefaultSessionTTL = 12 * time.Hour

// Config configures a Handler. A nil *Config means all defaults; since the dashboard needs a
// secret key unless DisableAuth is set, New(eng, nil) returns an error that says so.
type Config struct {
	// SecretKeys are the accepted secret keys, the same as the REST API's (api.Config): a
	// request carries one as "Authorization: Bearer <key>", or signs in with one on the
	// sign-in page. The first key also signs the session cookies; cookies signed with any of
	// the keys are accepted, so a key can be rotated. Required (and none may be empty) unless
	// DisableAuth is set. Defaults to none.
	SecretKeys []string
	// DisableAuth serves every page without a secret key, for services that put their own
	// authentication in front of the handler (or for local development). The forms keep their
	// CSRF tokens. Defaults to false.
	DisableAuth bool
	// SessionTTL is how long a sign-in lasts. Defaults to DefaultSessionTTL (12 hours).
	SessionTTL time.Duration
	// PageSize is how many rows a page shows: connections, runs, records, deliveries. At most
	// 1,000. Defaults to DefaultPageSize (50).
	PageSize int
	// Prefix is the path the handler is mounted under ("/ui"), for the links of its pages and
	// the path of its cookies. Defaults to what a prefix-stripping router such as
	// http.StripPrefix removed, read from each request's RequestURI.
	Prefix string
	// Logger receives the failures inside the handler (answered 500) at error level. Defaults
	// to slog.Default().
	Logger *slog.Logger
}

// Handler is the http.Handler of the dashboard. It is safe for concurrent use.
type Handler struct {
	eng      *nango.Engine
	keys     [][]byte
	noAuth   bool
	ttl      time.Duration
	pageSize int
	prefix   string
	logger   *slog.Logger
	csrfKey  []byte
	pages    map[string]*template.Template
	static   http.Handler
	mux      *http.ServeMux
	now      func() time.Time
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard of eng. Triggering a run from it needs eng's scheduler to be
// running (Engine.Run); everything else works without.
func New(eng *nango.Engine, cfg *Config) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("ui: nil engine")
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	h := &Handler{eng: eng, noAuth: c.DisableAuth, ttl: c.SessionTTL, pageSize: c.PageSize,
		prefix: strings.TrimSuffix(c.Prefix, "/"), logger: c.Logger, now: time.Now}
	switch {
	case h.ttl == 0:
		h.ttl = DefaultSessionTTL
	case h.ttl < 0:
		return nil, fmt.Errorf("ui: SessionTTL %s is negative", h.ttl)
	}
	switch {
	case h.pageSize == 0:
		h.pageSize = DefaultPageSize
	case h.pageSize < 0 || h.pageSize > 1000:
		return nil, fmt.Errorf("ui: PageSize %d is outside 1..1000", h.pageSize)
	}
	if c.Prefix != "" && !strings.HasPrefix(c.Prefix, "/") {
		return nil, fmt.Errorf("ui: Prefix %q does not start with a slash", c.Prefix)
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	for i, k := range c.SecretKeys {
		if k == "" {
			return nil, fmt.Errorf("ui: secret key %d is empty", i)
		}
		h.keys = append(h.keys, []byte(k))
	}
	if len(h.keys) == 0 && !h.noAuth {
		return nil, errors.New("ui: no secret key: set Config.SecretKeys, or Config.DisableAuth when your own middleware authenticates")
	}
	if len(h.keys) > 0 {
		// Tokens stay valid across restarts and replicas that share the key.
		m := hmac.New(sha256.New, h.keys[0])
		m.Write([]byte("nango-ui-csrf"))
		h.csrfKey = m.Sum(nil)
	} else {
		h.csrfKey = make([]byte, 32)
		_, _ = rand.Read(h.csrfKey)
	}
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	h.static = http.FileServerFS(sub)
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /static/", h.serveStatic)
	m.HandleFunc("GET /signin", h.signInPage)
	m.HandleFunc("POST /signin", h.signIn)
	m.HandleFunc("POST /signout", h.authed(h.signOut))
	m.HandleFunc("GET /{$}", h.authed(h.overview))
	m.HandleFunc("GET /s/{integration}/{sync}/{connection}", h.authed(h.syncPage))
	m.HandleFunc("POST /s/{integration}/{sync}/{connection}", h.authed(h.syncAction))
	m.HandleFunc("GET /s/{integration}/{sync}/{connection}/runs/{run}", h.authed(h.runPage))
	m.HandleFunc("GET /s/{integration}/{sync}/{connection}/events", h.authed(h.syncEvents))
	m.HandleFunc("GET /r/{integration}/{connection}/{model}", h.authed(h.recordsPage))
	m.HandleFunc("GET /r/{integration}/{connection}/{model}/record", h.authed(h.recordPage))
	m.HandleFunc("GET /webhooks", h.authed(h.webhooksPage))
	m.HandleFunc("POST /webhooks", h.authed(h.webhooksAction))
	m.HandleFunc("/", h.notFound)
	h.mux = m
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if r.URL.Path == "" || r.URL.Path[0] != '/' {
		// Mounted with http.StripPrefix("/ui/", ...): the root arrives as "".
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = "/" + u.Path
		u.RawPath = ""
		r2.URL = &u
		r = r2
	}
	if r.Method == http.MethodPost && !sameOrigin(r) {
		h.fail(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// sameOrigin rejects cross-site POSTs that carry an Origin or Sec-Fetch-Site header.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	_, host, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimPrefix(u.Path, "/static")
	u.RawPath = ""
	r2.URL = &u
	h.static.ServeHTTP(w, r2)
}

// base is the path the handler is mounted under, without a trailing slash ("" at the root).
func (h *Handler) base(r *http.Request) string {
	if h.prefix != "" {
		return h.prefix
	}
	orig := r.RequestURI
	if i := strings.IndexByte(orig, '?'); i >= 0 {
		orig = orig[:i]
	}
	if i := strings.Index(orig, "://"); i >= 0 { // an absolute request URI (a proxy request)
		if j := strings.IndexByte(orig[i+3:], '/'); j >= 0 {
			orig = orig[i+3+j:]
		} else {
			orig = ""
		}
	}
	p := r.URL.EscapedPath()
	if p == "/" && !strings.HasSuffix(orig, "/") {
		p = "" // StripPrefix("/ui/") of "/ui/"
	}
	if strings.HasSuffix(orig, p) {
		b := strings.TrimSuffix(orig, p)
		return strings.TrimSuffix(b, "/")
	}
	return ""
}

// page is what every template gets.
type page struct {
	Title    string
	Base     string
	CSRF     string
	Nav      string // the section of the navigation to mark current
	SignedIn bool   // shows the sign-out button
	Flash    string
	Error    bool // Flash is an error
	D        any
}

func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, title, nav string, data any) *page {
	return &page{Title: title, Base: h.base(r), CSRF: h.csrfToken(w, r), Nav: nav,
		SignedIn: !h.noAuth && r.Header.Get("Authorization") == "" && h.authenticate(r) == authOK, D: data}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := h.pages[name]
	if !ok {
		h.internal(w, r, fmt.Errorf("ui: no template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.internal(w, r, fmt.Errorf("ui: rendering %s: %w", name, err))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorData is the data of the error page.
type errorData struct {
	Status  int
	Message string
}

// fail answers with the error page: a message for people, never a stack trace.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := h.newPage(w, r, http.StatusText(status), "", &errorData{Status: status, Message: msg})
	t := h.pages["error"]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.logger.ErrorContext(r.Context(), "ui: rendering the error page failed", "error", err)
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// internal logs an unexpected failure and answers 500 without its details.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser has gone
	}
	h.logger.ErrorContext(r.Context(), "ui: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	h.fail(w, r, http.StatusInternalServerError, "The page failed inside the service; the service's log says why.")
}

// engineError answers an error of the engine: a clear page for what the user can fix, 500 for
// the rest.
func (h *Handler) engineError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, nango.ErrUnknownIntegration), errors.Is(err, nango.ErrUnknownConnection),
		errors.Is(err, nango.ErrUnknownSync), errors.Is(err, nango.ErrUnknownModel),
		errors.Is(err, nango.ErrUnknownWebhookDelivery):
		h.fail(w, r, http.StatusNotFound, sentence(err))
	case errors.Is(err, nango.ErrInvalidCursor):
		h.fail(w, r, http.StatusBadRequest, "The cursor in this address is not valid for this list: it was altered, cut short, "+
			"or comes from another stream or from before the stream was emptied. Start again from the first page.")
	case errors.Is(err, nango.ErrInvalidConfig), errors.Is(err, nango.ErrInvalidFrequency):
		h.fail(w, r, http.StatusBadRequest, sentence(err))
	case (errors.Is(err, nango.ErrNoEncryptionKey) || errors.Is(err, nango.ErrUnknownEncryptionKey)) && r.Context().Err() == nil:
		h.logger.ErrorContext(r.Context(), "ui: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		h.fail(w, r, http.StatusInternalServerError, "The stored data is encrypted and the service has no key to decrypt it: "+
			"it must be started with its encryption key (Config.EncryptionKeys).")
	case errors.Is(err, nango.ErrDataKeyNotFound) && r.Context().Err() == nil:
		h.logger.ErrorContext(r.Context(), "ui: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		h.fail(w, r, http.StatusInternalServerError, "The stored data is encrypted with a data key that is not in the service's data key store: "+
			"the connection was deleted, or the service is not using the key store it was written with (Config.DataKeyStore).")
	default:
		var pe *nango.ParamError
		if errors.As(err, &pe) {
			h.fail(w, r, http.StatusBadRequest, sentence(err))
			return
		}
		h.internal(w, r, err)
	}
}

// sentence turns an error into a sentence for the page: without the package prefix, with a
// capital and a full stop.
func sentence(err error) string {
	s := strings.TrimPrefix(err.Error(), "nango: ")
	s = strings.TrimPrefix(s, "store: ")
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "There is no page at this address.")
}
