package nango_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gonango/nango"
)

func oauthConfig(tokenServer, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: "client-id", ClientSecret: secret,
		Endpoint: oauth2.Endpoint{TokenURL: tokenServer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
}

func tokenWith(access, refresh string) *oauth2.Token {
	return &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer"}
}

// oauthProvider is a fake OAuth provider: a token endpoint that rotates refresh tokens and an
// API that accepts only the current access tokens.
type oauthProvider struct {
	t        *testing.T
	mu       sync.Mutex
	valid    map[string]bool // access tokens the API accepts
	refresh  string          // the refresh token the token endpoint accepts
	n        int             // refreshes so far
	fail     []int           // statuses to answer the next refreshes with
	requests []string        // "path auth body" of API requests
	token    *httptest.Server
	api      *httptest.Server
	// onRequest may change the state before a request is answered; it gets the request number.
	onRequest func(p *oauthProvider, n int)
}

func newOAuthProvider(t *testing.T, access, refresh string) *oauthProvider {
	p := &oauthProvider{t: t, valid: map[string]bool{access: true}, refresh: refresh}
	p.token = httptest.NewServer(http.HandlerFunc(p.serveToken))
	p.api = httptest.NewServer(http.HandlerFunc(p.serveAPI))
	t.Cleanup(p.token.Close)
	t.Cleanup(p.api.Close)
	return p
}

func (p *oauthProvider) serveToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.fail) > 0 {
		status := p.fail[0]
		p.fail = p.fail[1:]
		writeJSON(w, status, map[string]string{"error": "invalid_grant", "error_description": "refresh token " + r.Form.Get("refresh_token") + " expired"})
		return
	}
	if r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != p.refresh || r.Form.Get("client_secret") != "shh-client-secret" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	p.n++
	access := fmt.Sprintf("access-%d", p.n+1)
	p.refresh = fmt.Sprintf("refresh-%d", p.n+1)
	p.valid[access] = true
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "refresh_token": p.refresh, "token_type": "Bearer", "expires_in": 3600})
}

func (p *oauthProvider) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.requests = append(p.requests, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
	n := len(p.requests)
	hook := p.onRequest
	p.mu.Unlock()
	if hook != nil {
		hook(p, n)
	}
	p.mu.Lock()
	tok, ok := bytes.CutPrefix([]byte(r.Header.Get("Authorization")), []byte("Bearer "))
	accepted := ok && p.valid[string(tok)] && r.URL.Path != "/always-401"
	p.mu.Unlock()
	if !accepted {
		writeJSON(w, http.StatusUnauthorized, []map[string]string{{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}})
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	writeJSON(w, http.StatusOK, []item{{ID: fmt.Sprintf("p%d", page)}})
}

func (p *oauthProvider) revoke(access string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.valid, access)
}

func (p *oauthProvider) refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *oauthProvider) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

func (p *oauthProvider) integration(onRefresh func(context.Context, string, string, *oauth2.Token) error) nango.Integration {
	return nango.Integration{BaseURL: p.api.URL, Auth: &nango.OAuth2{Config: oauthConfig(p.token.URL, "shh-client-secret"), OnRefresh: onRefresh}}
}

// storedToken reads the token stored with a connection.
func storedToken(t *testing.T, f *httpFix, conn string) oauth2.Token {
	t.Helper()
	c, err := f.st.ConnectionGet(t.Context(), "prov", conn)
	require.NoError(t, err)
	var creds struct{ Token oauth2.Token }
	require.NoError(t, json.Unmarshal(c.Credentials, &creds))
	return creds.Token
}

func pagesSync(pages int) func(ctx context.Context, n *nango.Nango) error {
	return func(ctx context.Context, n *nango.Nango) error {
		for page := 1; page <= pages; page++ {
			resp, err := n.Get(ctx, &nango.Request{Path: "/items", Query: map[string][]string{"page": {strconv.Itoa(page)}}})
			if err != nil {
				return err
			}
			var items []item
			if err := resp.Decode(&items); err != nil {
				return err
			}
			if err := n.BatchSave(ctx, items, "ItemA"); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestOAuth2TokenRevokedMidSyncIsRefreshed(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	// The provider drops the access token after the second page.
	p.onRequest = func(p *oauthProvider, n int) {
		if n == 3 {
			p.revoke("access-1")
		}
	}
	var refreshed []string
	var mu sync.Mutex
	f := newHTTPFix(t, p.integration(func(ctx context.Context, integration, conn string, tok *oauth2.Token) error {
		mu.Lock()
		defer mu.Unlock()
		refreshed = append(refreshed, integration+"/"+conn+"/"+tok.AccessToken+"/"+tok.RefreshToken)
		return nil
	}))
	f.addConn(t, "c1", &nango.Credentials{Token: tokenWith("access-1", "refresh-1")})

	res, err := f.run(t.Context(), t, "c1", pagesSync(4))
	require.NoError(t, err)
	require.Equal(t, 4, res.Models["ItemA"].Added)
	require.Equal(t, []string{
		"/items Bearer access-1 ", "/items Bearer access-1 ",
		"/items Bearer access-1 ", "/items Bearer access-2 ", // refused, refreshed, sent again
		"/items Bearer access-2 ",
	}, p.seen())
	require.Equal(t, 1, p.refreshes())
	require.Equal(t, []string{"prov/c1/access-2/refresh-2"}, refreshed)
	tok := storedToken(t, f, "c1")
	require.Equal(t, "access-2", tok.AccessToken)
	require.Equal(t, "refresh-2", tok.RefreshToken, "the rotated refresh token is stored")
	require.Contains(t, f.runLog(t, res.RunID), "refreshed the connection's OAuth token")

	// The next run, and an engine restarted over the same store, use the stored token.
	_, err = f.run(t.Context(), t, "c1", pagesSync(1))
	require.NoError(t, err)
	eng2, err := nango.NewEngine(f.st, &nango.Config{Logger: quiet})
	require.NoError(t, err)
	in := p.integration(nil)
	in.Key = "prov"
	in.Syncs = []nango.SyncConfig{{Name: "a", Models: []nango.Model{{Name: "ItemA"}}, Sync: nango.SyncFunc(pagesSync(1))}}
	require.NoError(t, eng2.RegisterIntegration(in))
	_, err = eng2.RunSync(t.Context(), "prov", "a", "c1", nil)
	require.NoError(t, err)
	require.Equal(t, 1, p.refreshes())
	seen := p.seen()
	require.Equal(t, []string{"/items Bearer access-2 ", "/items Bearer access-2 "}, seen[len(seen)-2:])
}

func TestOAuth2ExpiredTokenIsRefreshedBeforeTheRequest(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	f := newHTTPFix(t, p.integration(nil))
	tok := tokenWith("access-1", "refresh-1")
	tok.Expiry = f.clock.now().Add(5 * time.Second) // within the 10 s expiry delta
	f.addConn(t, "c1", &nango.Credentials{Token: tok})
	f.addConn(t, "c2", &nango.Credentials{Token: &oauth2.Token{RefreshToken: "refresh-2"}}) // no access token yet
	_, err := f.run(t.Context(), t, "c1", pagesSync(1))
	require.NoError(t, err)
	_, err = f.run(t.Context(), t, "c2", pagesSync(1))
	require.NoError(t, err)
	require.Equal(t, []string{"/items Bearer access-2 ", "/items Bearer access-3 "}, p.seen())
}

func TestOAuth2ConcurrentRequestsRefreshOnce(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	f := newHTTPFix(t, p.integration(nil))
	tok := tokenWith("access-1", "refresh-1")
	tok.Expiry = f.clock.now().Add(-time.Hour)
	f.addConn(t, "c1", &nango.Credentials{Token: tok})
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := n.Get(ctx, &nango.Request{Path: "/items"})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, p.refreshes())
}

func TestOAuth2RefreshRefusedNeedsReauthorisation(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	p.fail = []int{http.StatusBadRequest}
	f := newHTTPFix(t, p.integration(nil))
	tok := tokenWith("access-1", "refresh-1")
	tok.Expiry = f.clock.now().Add(-time.Hour)
	f.addConn(t, "c1", &nango.Credentials{Token: tok})
	res, err := f.run(t.Context(), t, "c1", pagesSync(1))
	require.ErrorIs(t, err, nango.ErrReauthRequired)
	var ae *nango.AuthError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "c1", ae.Connection)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re, "the oauth2 error is kept for inspection")
	require.EqualError(t, err, `nango: connection "c1" of integration "prov" needs re-authorisation: `+
		`the provider refused the refresh token: invalid_grant (refresh token [REDACTED] expired)`)
	require.Equal(t, nango.RunFailed, res.State)
	require.Empty(t, p.seen(), "no request went out with the expired token")
	require.NotContains(t, f.logs.String(), "refresh-1")
}

func TestOAuth2TokenEndpointOutageIsRetried(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	p.fail = []int{http.StatusBadGateway}
	f := newHTTPFix(t, p.integration(nil))
	tok := tokenWith("access-1", "refresh-1")
	tok.Expiry = f.clock.now().Add(-time.Hour)
	f.addConn(t, "c1", &nango.Credentials{Token: tok})
	_, err := f.run(t.Context(), t, "c1", pagesSync(1))
	require.NoError(t, err)
	require.Equal(t, 1, p.refreshes())
	require.Len(t, f.clock.slept(), 1, "one backoff after the failed refresh")
}

func TestOAuth2WithoutRefreshToken(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "")
	f := newHTTPFix(t, p.integration(nil))
	expired := &oauth2.Token{AccessToken: "access-1", Expiry: f.clock.now().Add(-time.Minute)}
	f.addConn(t, "c1", &nango.Credentials{Token: expired})
	_, err := f.run(t.Context(), t, "c1", pagesSync(1))
	require.EqualError(t, err, `nango: connection "c1" of integration "prov" needs re-authorisation: its access token expired and it has no refresh token`)

	// A token without expiry that the provider refuses: the 401 is the answer.
	f.addConn(t, "c2", &nango.Credentials{Token: &oauth2.Token{AccessToken: "unknown"}})
	_, err = f.run(t.Context(), t, "c2", pagesSync(1))
	var apiErr *nango.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.Equal(t, 1, apiErr.Attempts)
}

func TestOAuth2DoesNotRefreshInALoop(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	f := newHTTPFix(t, p.integration(nil))
	f.addConn(t, "c1", &nango.Credentials{Token: tokenWith("access-1", "refresh-1")})
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		for range 3 {
			_, err := n.Get(ctx, &nango.Request{Path: "/always-401"})
			var apiErr *nango.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
			require.Contains(t, apiErr.Body, "INVALID_SESSION_ID")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, p.refreshes(), "a 401 to a refreshed token that never worked is not the token's fault")
	require.Equal(t, []string{"/always-401 Bearer access-1 ", "/always-401 Bearer access-2 ", "/always-401 Bearer access-2 ", "/always-401 Bearer access-2 "}, p.seen())
}

func TestOAuth2ResendsTheBodyAfterRefresh(t *testing.T) {
	t.Parallel()
	p := newOAuthProvider(t, "access-1", "refresh-1")
	p.revoke("access-1")
	f := newHTTPFix(t, p.integration(nil))
	f.addConn(t, "c1", &nango.Credentials{Token: tokenWith("access-1", "refresh-1")})
	_, err := f.run(t.Context(), t, "c1", func(ctx context.Context, n *nango.Nango) error {
		_, err := n.Post(ctx, &nango.Request{Path: "/items", JSON: map[string]int{"page": 1}})
		return err
	})
	require.NoError(t, err)
	require.Equal(t, []string{`/items Bearer access-1 {"page":1}`, `/items Bearer access-2 {"page":1}`}, p.seen())
}

func TestAPIKeyAndBasicAuth(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- fmt.Sprintf("auth=%q x-api-key=%q query=%q", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	cases := []struct {
		auth  nango.Auth
		creds nango.Credentials
		want  string
	}{
		{nango.APIKey{}, nango.Credentials{APIKey: "k1"}, `auth="Bearer k1" x-api-key="" query="a=1"`},
		{nango.APIKey{Header: "Authorization", Prefix: "token "}, nango.Credentials{APIKey: "k2"}, `auth="token k2" x-api-key="" query="a=1"`},
		{nango.APIKey{Header: "X-Api-Key"}, nango.Credentials{APIKey: "k3"}, `auth="" x-api-key="k3" query="a=1"`},
		{&nango.APIKey{Query: "api_key"}, nango.Credentials{APIKey: "k 4"}, `auth="" x-api-key="" query="a=1&api_key=k+4"`},
		{nango.BasicAuth{}, nango.Credentials{Username: "ada", Password: "pw"}, `auth="Basic YWRhOnB3" x-api-key="" query="a=1"`},
		{nango.AuthFunc(func(c *nango.AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
			return &oauth2.Transport{Base: base, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.Credentials.Extra["tok"]})}, nil
		}), nango.Credentials{Extra: map[string]string{"tok": "from-extra"}}, `auth="Bearer from-extra" x-api-key="" query="a=1"`},
	}
	for i, tc := range cases {
		f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, Auth: tc.auth})
		f.addConn(t, "c1", &tc.creds)
		_, err := f.do(t, &nango.Request{Path: "/x?a=1"})
		require.NoError(t, err, i)
		require.Equal(t, tc.want, <-got, i)
	}
}

func TestAuthFuncSavesCredentials(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Session")
	}))
	t.Cleanup(srv.Close)
	// A custom scheme whose session rotates on first use.
	auth := nango.AuthFunc(func(c *nango.AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
		var mu sync.Mutex
		creds := c.Credentials
		return roundTrip(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			if creds.Extra["session"] == "s1" {
				creds.Extra = map[string]string{"session": "s2-rotated"}
				if err := c.SaveCredentials(r.Context(), creds); err != nil {
					mu.Unlock()
					return nil, err
				}
			}
			session := creds.Extra["session"]
			mu.Unlock()
			r = r.Clone(r.Context())
			r.Header.Set("X-Session", session)
			return base.RoundTrip(r)
		}), nil
	})
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, Auth: auth})
	f.addConn(t, "c1", &nango.Credentials{Extra: map[string]string{"session": "s1"}})
	_, err := f.do(t, &nango.Request{Path: "/x"})
	require.NoError(t, err)
	_, err = f.do(t, &nango.Request{Path: "/x"})
	require.NoError(t, err)
	require.Equal(t, "s2-rotated", <-got)
	require.Equal(t, "s2-rotated", <-got)
	c, err := f.st.ConnectionGet(t.Context(), "prov", "c1")
	require.NoError(t, err)
	require.Contains(t, string(c.Credentials), "s2-rotated")
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAddConnectionCredentials(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	t.Cleanup(srv.Close)
	f := newHTTPFix(t, nango.Integration{BaseURL: srv.URL, Auth: nango.APIKey{}})
	f.addConn(t, "c1", &nango.Credentials{APIKey: "key-1"})
	_, err := f.do(t, &nango.Request{Path: "/x"})
	require.NoError(t, err)
	require.Equal(t, "Bearer key-1", <-got)

	// Replacing the metadata keeps the credentials.
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1", Metadata: map[string]int{"v": 2}}))
	_, err = f.do(t, &nango.Request{Path: "/x"})
	require.NoError(t, err)
	require.Equal(t, "Bearer key-1", <-got)

	// New credentials are used from the next run on.
	f.addConn(t, "c1", &nango.Credentials{APIKey: "key-2"})
	_, err = f.do(t, &nango.Request{Path: "/x"})
	require.NoError(t, err)
	require.Equal(t, "Bearer key-2", <-got)
}

func TestAddConnectionRejectsUnusableCredentials(t *testing.T) {
	t.Parallel()
	cases := []struct {
		auth  nango.Auth
		creds nango.Credentials
		want  string
	}{
		{&nango.OAuth2{Config: oauthConfig("https://login.example.com", "s")}, nango.Credentials{APIKey: "x"},
			`connection "c1": the integration uses OAuth 2 but the credentials have no Token with an access or a refresh token`},
		{nango.APIKey{}, nango.Credentials{Username: "x"}, `connection "c1": the integration uses an API key but the credentials have no APIKey`},
		{nango.BasicAuth{}, nango.Credentials{Password: "x"}, `connection "c1": the integration uses basic auth but the credentials have no Username`},
		{nil, nango.Credentials{APIKey: "x"}, `connection "c1" has credentials but integration "prov" has no Auth to use them`},
		{&nango.OAuth2{Config: &oauth2.Config{}}, nango.Credentials{APIKey: "x"}, `nango: invalid configuration: integration "prov": OAuth2 auth: Config.Endpoint.TokenURL is empty`},
	}
	for _, tc := range cases {
		f := newHTTPFix(t, nango.Integration{BaseURL: "https://api.example.com", Auth: tc.auth})
		err := f.eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1", Credentials: &tc.creds})
		require.ErrorIs(t, err, nango.ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
		require.NotContains(t, err.Error(), "x\"")
		_, err = f.st.ConnectionGet(t.Context(), "prov", "c1")
		require.Error(t, err, "nothing was written")
	}
}

func TestCredentialsNeverFormatted(t *testing.T) {
	t.Parallel()
	c := nango.Credentials{APIKey: "sekrit-1", Password: "sekrit-2", Token: tokenWith("sekrit-3", "sekrit-4")}
	conn := nango.Connection{ID: "c", Credentials: &c}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "creds", c, "ptr", &c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "creds", c)
	out := fmt.Sprintf("%v %+v %#v %s %q %v %+v", c, c, c, c, c, &c, conn) + buf.String()
	require.NotContains(t, out, "sekrit")
	require.Contains(t, out, "[REDACTED]")
	data, err := json.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(data), "sekrit-1", "encoding/json encodes them in full, as documented")
}

func TestAuthFuncErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	errNoSigner := errors.New("no signer")
	f := newHTTPFix(t, nango.Integration{BaseURL: "https://api.example.com", Auth: nango.AuthFunc(
		func(c *nango.AuthConn, _ http.RoundTripper) (http.RoundTripper, error) {
			return nil, fmt.Errorf("%w for key %s", errNoSigner, c.Credentials.Extra["key"])
		})})
	f.addConn(t, "c1", &nango.Credentials{Extra: map[string]string{"key": "sekret-signing-key"}})
	_, err := f.do(t, &nango.Request{Path: "/x"})
	require.ErrorIs(t, err, errNoSigner)
	require.EqualError(t, err, `nango: authenticating connection "c1" of integration "prov": no signer for key [REDACTED]`)
}
