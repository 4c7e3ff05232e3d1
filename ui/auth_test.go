package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
	"github.com/gonango/nango/ui"
)

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), nil)
	require.NoError(t, err)
	_, err = ui.New(nil, nil)
	require.EqualError(t, err, "ui: nil engine")
	_, err = ui.New(eng, nil)
	require.ErrorContains(t, err, "ui: no secret key")
	_, err = ui.New(eng, &ui.Config{SecretKeys: []string{"a", ""}})
	require.EqualError(t, err, "ui: secret key 1 is empty")
	_, err = ui.New(eng, &ui.Config{DisableAuth: true, PageSize: 5000})
	require.EqualError(t, err, "ui: PageSize 5000 is outside 1..1000")
	_, err = ui.New(eng, &ui.Config{DisableAuth: true, Prefix: "ui"})
	require.EqualError(t, err, `ui: Prefix "ui" does not start with a slash`)
}

func TestSignInWithCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	c := browser(t)

	resp, _ := get(t, c, f.url+"/?integration=crm")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/signin?next="+url.QueryEscape("/ui/?integration=crm"), resp.Header.Get("Location"))

	resp, body := get(t, c, f.url+"/signin")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, body, "Sign out", "nobody is signed in yet")
	token := csrfOf(t, body)
	resp, body = post(t, c, f.url+"/signin", url.Values{"csrf": {token}, "key": {"sk-wrong"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "That key is not one this service accepts.")

	resp, _ = post(t, c, f.url+"/signin", url.Values{"csrf": {token}, "key": {secret}, "next": {"https://evil.example/"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/", resp.Header.Get("Location"), "a redirect target outside the dashboard is dropped")
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "nango_ui_session" {
			session = ck
		}
	}
	require.NotNil(t, session)
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, session.SameSite)
	require.Equal(t, "/ui/", session.Path)

	resp, body = get(t, c, f.url+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Sign out")

	// A tampered cookie is a signed-out browser.
	other := browser(t)
	u, _ := url.Parse(f.url + "/")
	forged := *session
	forged.Value = strings.Replace(session.Value, ".", ".9", 1)
	other.Jar.SetCookies(u, []*http.Cookie{&forged})
	resp, _ = get(t, other, f.url+"/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// Signing out forgets the session.
	_, body = get(t, c, f.url+"/")
	resp, _ = post(t, c, f.url+"/signout", url.Values{"csrf": {csrfOf(t, body)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = get(t, c, f.url+"/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestBearerKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	c := browser(t)
	resp, body := get(t, c, f.url+"/", "Authorization", "Bearer "+secret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, body, "Sign out", "a request with a key has no session to end")

	resp, body = get(t, c, f.url+"/", "Authorization", "Bearer sk-other")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "not one this service accepts")
}

func TestPostNeedsCSRFToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	c := browser(t)
	f.signIn(t, c)
	_, body := get(t, c, f.url+"/")
	token := csrfOf(t, body)

	resp, body := post(t, c, f.url+"/signout", url.Values{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "This form has expired or did not come from this dashboard")
	resp, _ = post(t, c, f.url+"/signout", url.Values{"csrf": {token + "x"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body = post(t, c, f.url+"/signout", url.Values{"csrf": {token}}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "sent from another site")

	// Another browser's token does not fit this browser's cookie.
	other := browser(t)
	f.signIn(t, other)
	_, body = get(t, other, f.url+"/")
	resp, _ = post(t, c, f.url+"/signout", url.Values{"csrf": {csrfOf(t, body)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = post(t, c, f.url+"/signout", url.Values{"csrf": {token}}, "Origin", f.srv.URL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestDisableAuthAndPrefixes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{cfg: &ui.Config{DisableAuth: true}})
	c := browser(t)
	resp, body := get(t, c, f.url+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `href="/ui/static/app.css"`)
	require.NotContains(t, body, "Sign out")

	resp, body = get(t, c, f.url+"/static/app.js")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "EventSource")

	resp, body = get(t, c, f.url+"/no/such/page")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, "There is no page at this address.")

	// Mounted at the root, and under a prefix stripped with its slash.
	h, err := ui.New(f.eng, &ui.Config{DisableAuth: true})
	require.NoError(t, err)
	for _, tc := range []struct{ mount, strip, get, css string }{
		{"/", "", "/", `href="/static/app.css"`},
		{"/admin/sync/", "/admin/sync/", "/admin/sync/", `href="/admin/sync/static/app.css"`},
	} {
		mux := http.NewServeMux()
		var hh http.Handler = h
		if tc.strip != "" {
			hh = http.StripPrefix(tc.strip, h)
		}
		mux.Handle(tc.mount, hh)
		srv := httptestServer(t, mux)
		resp, body := get(t, c, srv+tc.get)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.mount)
		require.Contains(t, body, tc.css, tc.mount)
	}
}
