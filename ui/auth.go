package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "nango_ui_session"
	csrfCookie    = "nango_ui_csrf"
	csrfField     = "csrf"
)

// authed lets a request through when it carries a secret key or a valid session cookie (or
// when auth is disabled); a page request without either goes to the sign-in page. Every POST
// must carry the form's CSRF token.
func (h *Handler) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch h.authenticate(r) {
		case authMissing:
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				target := h.base(r) + r.URL.EscapedPath()
				if r.URL.RawQuery != "" {
					target += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, h.base(r)+"/signin?next="+url.QueryEscape(target), http.StatusSeeOther)
				return
			}
			h.fail(w, r, http.StatusUnauthorized, "Sign in first: this page needs a secret key.")
			return
		case authRefused:
			w.Header().Set("WWW-Authenticate", `Bearer realm="nango"`)
			h.fail(w, r, http.StatusUnauthorized, "The secret key in the Authorization header is not one this service accepts.")
			return
		}
		if r.Method == http.MethodPost && !h.checkCSRF(r) {
			h.fail(w, r, http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the page and try again.")
			return
		}
		next(w, r)
	}
}

type authResult int

const (
	authOK authResult = iota
	authMissing
	authRefused
)

func (h *Handler) authenticate(r *http.Request) authResult {
	if h.noAuth {
		return authOK
	}
	if header := r.Header.Get("Authorization"); header != "" {
		scheme, key, ok := strings.Cut(header, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && h.knownKey(strings.TrimSpace(key)) {
			return authOK
		}
		return authRefused
	}
	if c, err := r.Cookie(sessionCookie); err == nil && h.validSession(c.Value) {
		return authOK
	}
	return authMissing
}

// knownKey compares key with every secret key in constant time.
func (h *Handler) knownKey(key string) bool {
	if key == "" {
		return false
	}
	got := sha256.Sum256([]byte(key))
	match := 0
	for _, k := range h.keys {
		want := sha256.Sum256(k)
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

// A session cookie is "v1.<expiry unix seconds>.<hex HMAC-SHA256 of the rest, by a secret key>".
func sessionMAC(key []byte, expiry string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("nango-ui-session\x00v1\x00" + expiry))
	return m.Sum(nil)
}

func (h *Handler) newSession() (string, time.Time) {
	exp := h.now().Add(h.ttl).Truncate(time.Second)
	s := strconv.FormatInt(exp.Unix(), 10)
	return "v1." + s + "." + hex.EncodeToString(sessionMAC(h.keys[0], s)), exp
}

func (h *Handler) validSession(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || h.now().Unix() >= exp {
		return false
	}
	mac, err := hex.DecodeString(parts[2])
	if err != nil {
		return false
	}
	ok := 0
	for _, k := range h.keys {
		if hmac.Equal(mac, sessionMAC(k, parts[1])) {
			ok = 1
		}
	}
	return ok == 1
}

func (h *Handler) cookiePath(r *http.Request) string {
	return h.base(r) + "/"
}

// csrfToken returns the token the forms of this page carry: an HMAC of the browser's CSRF
// cookie, which it sets when missing.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	var v string
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		var b [32]byte
		_, _ = rand.Read(b[:])
		v = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: h.cookiePath(r), HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		// The same request may render a form: let it see the cookie it just got.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	got := r.PostFormValue(csrfField)
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(c.Value))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// signInData is the data of the sign-in page.
type signInData struct {
	Next    string
	Failed  bool
	Disable bool // auth is disabled: nothing to sign in to
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "signin", h.newPage(w, r, "Sign in", "", &signInData{
		Next: h.safeNext(r, r.URL.Query().Get("next")), Disable: h.noAuth,
	}))
}

// signIn checks the key typed in and sets the session cookie.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.fail(w, r, http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the page and try again.")
		return
	}
	next := h.safeNext(r, r.PostFormValue("next"))
	if h.noAuth {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !h.knownKey(strings.TrimSpace(r.PostFormValue("key"))) {
		p := h.newPage(w, r, "Sign in", "", &signInData{Next: next, Failed: true})
		p.Flash, p.Error = "That key is not one this service accepts.", true
		h.render(w, r, http.StatusUnauthorized, "signin", p)
		return
	}
	v, exp := h.newSession()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: h.cookiePath(r), Expires: exp, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: h.cookiePath(r), MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, h.base(r)+"/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect target inside the dashboard.
func (h *Handler) safeNext(r *http.Request, next string) string {
	base := h.base(r)
	if strings.HasPrefix(next, base+"/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		if u, err := url.Parse(next); err == nil && u.Scheme == "" && u.Host == "" {
			return next
		}
	}
	return base + "/"
}
