package nango

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/gonango/nango/internal/provider"
	"github.com/gonango/nango/store"
)

// AuthError reports that a connection cannot authenticate any more: its OAuth refresh token was
// refused, its access token expired without a refresh token, or it has no credentials. Runs fail
// with it until the connection is added again with new credentials (Engine.AddConnection). Its
// message never contains a secret.
type AuthError struct {
	Integration string
	Connection  string
	// Reason says what went wrong, without secrets ("the provider refused the refresh token:
	// invalid_grant").
	Reason string
	// Err is the underlying error, such as an *oauth2.RetrieveError, or nil. Its own message
	// may quote the provider's response: do not log it.
	Err error
}

// Error implements error.
func (e *AuthError) Error() string {
	return fmt.Sprintf("nango: connection %q of integration %q needs re-authorisation: %s", e.Connection, e.Integration, e.Reason)
}

// Unwrap returns Err.
func (e *AuthError) Unwrap() error { return e.Err }

// Is reports whether target is ErrReauthRequired.
func (e *AuthError) Is(target error) bool { return target == ErrReauthRequired }

// Credentials are the secrets of one connection, given with Engine.AddConnection. Which fields
// are used depends on the integration's Auth: Token for OAuth2, APIKey for APIKey, Username and
// Password for BasicAuth, any of them (and Extra) for an AuthFunc.
//
// The engine stores credentials with the connection in its store, in the clear (JSON in
// store.Connection.Credentials), so that later runs and a restarted engine can use them, and
// writes refreshed OAuth tokens back there. Protect the store's file or database accordingly.
// Credentials never appear in logs, errors or run history: formatted with fmt or logged with
// slog they print as [REDACTED]; encoding/json encodes them in full.
type Credentials struct {
	// Token is the OAuth 2 token: an access token, and a refresh token with which the engine
	// gets a new access token when it expires (or when the provider answers 401).
	Token *oauth2.Token
	// APIKey is the key of an APIKey integration.
	APIKey string
	// Username and Password are the basic auth credentials of a BasicAuth integration.
	Username string
	Password string
	// Extra holds further secrets for an AuthFunc. They are redacted from logs too.
	Extra map[string]string
}

// String returns a redacted placeholder, so that credentials never end up in a log.
func (Credentials) String() string { return "[REDACTED]" }

// GoString returns a redacted placeholder.
func (Credentials) GoString() string { return "nango.Credentials{[REDACTED]}" }

// Format prints a redacted placeholder for every verb.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer with a redacted placeholder.
func (Credentials) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// credentialsJSON is how credentials are kept in store.Connection.Credentials.
type credentialsJSON struct {
	Token    *oauth2.Token     `json:"token,omitempty"`
	APIKey   string            `json:"api_key,omitempty"`
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	Extra    map[string]string `json:"extra,omitempty"`
}

func encodeCredentials(c Credentials) ([]byte, error) {
	data, err := json.Marshal(credentialsJSON(c))
	if err != nil {
		// An oauth2.Token with an unencodable Expiry; the message names no secret.
		return nil, fmt.Errorf("nango: encoding credentials: %w", err)
	}
	return data, nil
}

func decodeCredentials(data []byte) (Credentials, error) {
	var cj credentialsJSON
	if err := json.Unmarshal(data, &cj); err != nil {
		return Credentials{}, errors.New("nango: the stored credentials are not valid JSON")
	}
	return Credentials(cj), nil
}

// secretsOf lists the strings of c that must never be shown.
func (c Credentials) secretsOf() []string {
	var s []string
	if c.Token != nil {
		s = append(s, c.Token.AccessToken, c.Token.RefreshToken)
	}
	s = append(s, c.APIKey, c.Password)
	if c.Username != "" || c.Password != "" {
		s = append(s, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
	for _, v := range c.Extra {
		s = append(s, v)
	}
	return s
}

// Auth authenticates an integration's requests with each connection's credentials. The
// implementations are OAuth2, APIKey, BasicAuth and AuthFunc (for any other scheme).
type Auth interface {
	// Transport returns a RoundTripper that authenticates the requests of one connection and
	// sends them with base. The engine calls it once per connection, and again when the
	// connection's credentials are replaced, and uses it only for requests to the integration's
	// origins (see HTTPConfig.AuthOrigins). The RoundTripper must be safe for concurrent use,
	// must not modify the request it is given (clone it, as oauth2.Transport does), and must not
	// put secrets in the errors it returns.
	Transport(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error)
}

// AuthConn is what an Auth gets to authenticate one connection.
type AuthConn struct {
	Integration  string
	ConnectionID string
	// Credentials are the connection's credentials when the transport is made.
	Credentials Credentials

	engine  *Engine
	conn    *connHTTP
	timeout time.Duration
}

// SaveCredentials stores new credentials for the connection, such as a refreshed token, so that
// later runs and a restarted engine use them. Their secrets are redacted from logs and errors
// from then on.
func (c *AuthConn) SaveCredentials(ctx context.Context, creds Credentials) error {
	c.conn.secrets.Add(creds.secretsOf()...)
	data, err := c.engine.sealCredentials(c.Integration, c.ConnectionID, creds)
	if err != nil {
		return err
	}
	now := c.engine.now()
	_, err = c.engine.store.ConnectionUpdate(ctx, c.Integration, c.ConnectionID, func(sc *store.Connection) error {
		sc.Credentials, sc.UpdatedAt = data, now // only the credentials: a metadata update meanwhile stays
		return nil
	})
	if err != nil {
		return fmt.Errorf("nango: saving credentials of connection %q: %w", c.ConnectionID, err)
	}
	c.conn.markKnown(data)
	return nil
}

// loadCredentials reads the connection's stored credentials, which another engine sharing the
// store may have refreshed.
func (c *AuthConn) loadCredentials(ctx context.Context) (Credentials, bool) {
	sc, err := c.engine.store.ConnectionGet(ctx, c.Integration, c.ConnectionID)
	if err != nil || len(sc.Credentials) == 0 {
		return Credentials{}, false
	}
	creds, err := c.engine.openCredentials(c.Integration, c.ConnectionID, sc.Credentials)
	if err != nil {
		return Credentials{}, false
	}
	return creds, true
}

func (c *AuthConn) authError(reason string, err error) *AuthError {
	return &AuthError{Integration: c.Integration, Connection: c.ConnectionID, Reason: c.conn.secrets.Redact(reason), Err: err}
}

// credentialChecker is implemented by the built-in Auths to reject unusable credentials when a
// connection is added.
type credentialChecker interface {
	checkCredentials(c *Credentials) error
}

// authValidator is implemented by the built-in Auths to reject a bad configuration.
type authValidator interface {
	validate() error
}

// AuthFunc adapts a function to the Auth interface, for schemes the built-in Auths do not cover
// (a signed request, a session cookie, an oauth2.Transport over another TokenSource).
type AuthFunc func(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error)

// Transport calls f(conn, base).
func (f AuthFunc) Transport(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
	return f(conn, base)
}

// APIKey sends Credentials.APIKey with every request: in the header Header, after Prefix
// ("Authorization: Bearer <key>", "X-Api-Key: <key>"), or in the query parameter Query. With
// neither Header nor Query it sends "Authorization: Bearer <key>".
type APIKey struct {
	// Header is the header to send the key in.
	Header string
	// Prefix goes before the key in the header ("Bearer ", "token "). Defaults to "Bearer "
	// when Header is empty or "Authorization", and to nothing otherwise.
	Prefix string
	// Query is the query parameter to send the key in, instead of a header. Its value is
	// redacted from logs and errors.
	Query string
}

func (a APIKey) validate() error {
	if a.Header != "" && a.Query != "" {
		return configError("APIKey sets both Header %q and Query %q: choose one", a.Header, a.Query)
	}
	return nil
}

func (a APIKey) checkCredentials(c *Credentials) error {
	if c.APIKey == "" {
		return errors.New("the integration uses an API key but the credentials have no APIKey")
	}
	return nil
}

// Transport implements Auth.
func (a APIKey) Transport(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if err := a.checkCredentials(&conn.Credentials); err != nil {
		return nil, conn.authError(err.Error(), nil)
	}
	key := conn.Credentials.APIKey
	if a.Query != "" {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			r := req.Clone(req.Context())
			q := r.URL.Query()
			q.Set(a.Query, key)
			r.URL.RawQuery = q.Encode()
			return base.RoundTrip(r)
		}), nil
	}
	header, prefix := a.Header, a.Prefix
	if header == "" {
		header = "Authorization"
	}
	if prefix == "" && strings.EqualFold(header, "Authorization") {
		prefix = "Bearer "
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		r := req.Clone(req.Context())
		r.Header.Set(header, prefix+key)
		return base.RoundTrip(r)
	}), nil
}

// BasicAuth sends Credentials.Username and Credentials.Password as HTTP basic authentication.
type BasicAuth struct{}

func (BasicAuth) checkCredentials(c *Credentials) error {
	if c.Username == "" {
		return errors.New("the integration uses basic auth but the credentials have no Username")
	}
	return nil
}

// Transport implements Auth.
func (b BasicAuth) Transport(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
	if err := b.checkCredentials(&conn.Credentials); err != nil {
		return nil, conn.authError(err.Error(), nil)
	}
	user, pass := conn.Credentials.Username, conn.Credentials.Password
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		r := req.Clone(req.Context())
		r.SetBasicAuth(user, pass)
		return base.RoundTrip(r)
	}), nil
}

// OAuth2 authenticates with the connection's OAuth 2 token (Credentials.Token), as a bearer
// token. When the access token expires, or the provider answers 401 to it, the engine gets a
// new one with the refresh token through Config (golang.org/x/oauth2), once per connection
// however many syncs are running, stores it with the connection, calls OnRefresh, and sends the
// request again. When the provider refuses the refresh token, requests fail with an *AuthError
// (errors.Is ErrReauthRequired): the connection's user must authorise it again.
//
// Engine.AddConnection with Credentials replaces the stored token, including one the engine
// refreshed since: to keep that one, add the connection with nil Credentials, or keep refreshed
// tokens with OnRefresh and add those. Providers that rotate refresh tokens refuse old ones.
type OAuth2 struct {
	// Config is the provider's OAuth 2 client configuration: ClientID, ClientSecret and
	// Endpoint.TokenURL are used to refresh tokens. Required.
	Config *oauth2.Config
	// OnRefresh, when set, is called after each refresh with the new token, for code that
	// keeps tokens elsewhere too; the engine has already stored it with the connection. Its
	// error is logged. It must not keep ctx.
	OnRefresh func(ctx context.Context, integration, connectionID string, token *oauth2.Token) error
	// ExpiryDelta refreshes a token this long before it expires. Defaults to 10 seconds.
	ExpiryDelta time.Duration
}

func (o *OAuth2) validate() error {
	if o.Config == nil {
		return configError("OAuth2 auth without a Config")
	}
	if o.Config.Endpoint.TokenURL == "" {
		return configError("OAuth2 auth: Config.Endpoint.TokenURL is empty")
	}
	if o.ExpiryDelta < 0 {
		return configError("OAuth2 auth: ExpiryDelta %s is negative", o.ExpiryDelta)
	}
	return nil
}

func (o *OAuth2) checkCredentials(c *Credentials) error {
	if c.Token == nil || (c.Token.AccessToken == "" && c.Token.RefreshToken == "") {
		return errors.New("the integration uses OAuth 2 but the credentials have no Token with an access or a refresh token")
	}
	return nil
}

// Transport implements Auth.
func (o *OAuth2) Transport(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.checkCredentials(&conn.Credentials); err != nil {
		return nil, conn.authError(err.Error(), nil)
	}
	conn.conn.secrets.Add(o.Config.ClientSecret)
	delta := o.ExpiryDelta
	if delta == 0 {
		delta = 10 * time.Second
	}
	tok := *conn.Credentials.Token
	return &oauth2Transport{auth: o, conn: conn, base: base, delta: delta, sem: make(chan struct{}, 1), tok: &tok}, nil
}

// oauth2Transport adds the connection's bearer token and refreshes it. One per connection.
type oauth2Transport struct {
	auth  *OAuth2
	conn  *AuthConn
	base  http.RoundTripper
	delta time.Duration
	sem   chan struct{} // a lock that waiting callers can give up on when their ctx ends
	tok   *oauth2.Token // guarded by sem
	// refreshed tells whether tok came from a refresh (guarded by sem), and worked holds the
	// last access token the provider accepted. A 401 to a refreshed token that never worked is
	// not the token's fault (a missing scope, say): it does not refresh the token again.
	refreshed bool
	worked    atomic.Pointer[string]
}

// errFreshTokenRefused tells RoundTrip to return the 401 it got.
var errFreshTokenRefused = errors.New("nango: the provider refuses a token just refreshed")

// RoundTrip implements http.RoundTripper, logging to the connection's logger.
func (t *oauth2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req, t.conn.conn.connLogger())
}

// withLogger returns the transport logging to one run's logger.
func (t *oauth2Transport) withLogger(logger *slog.Logger) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) { return t.roundTrip(req, logger) })
}

func (t *oauth2Transport) roundTrip(req *http.Request, logger *slog.Logger) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.token(ctx, logger, "")
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	r := req.Clone(ctx)
	tok.SetAuthHeader(r)
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode != http.StatusUnauthorized {
		if w := t.worked.Load(); w == nil || *w != tok.AccessToken {
			access := tok.AccessToken
			t.worked.Store(&access)
		}
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized || tok.RefreshToken == "" {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // cannot send the body again
	}
	// The provider no longer accepts a token we thought valid (revoked, or expired early):
	// refresh it, unless another request already did, and send the request once more.
	fresh, err := t.token(ctx, logger, tok.AccessToken)
	if errors.Is(err, errFreshTokenRefused) {
		return resp, nil
	}
	drainAndClose(resp.Body)
	if err != nil {
		return nil, err // an *AuthError, or a passing failure worth a retry
	}
	r = req.Clone(ctx)
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	fresh.SetAuthHeader(r)
	return t.base.RoundTrip(r)
}

// token returns a valid access token. With stale set, the caller saw that token refused: a
// different current token is returned as it is, and otherwise the token is refreshed.
func (t *oauth2Transport) token(ctx context.Context, logger *slog.Logger, stale string) (*oauth2.Token, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.sem }()
	now := t.conn.conn.clock().Now()
	if stale == "" && t.valid(t.tok, now) {
		return t.tok, nil
	}
	if stale != "" && t.tok.AccessToken != stale {
		return t.tok, nil
	}
	if w := t.worked.Load(); stale != "" && t.refreshed && (w == nil || *w != stale) {
		return nil, errFreshTokenRefused
	}
	// Another engine sharing the store may have refreshed the token already; with providers
	// that rotate refresh tokens, ours would then be refused.
	if stored, ok := t.conn.loadCredentials(ctx); ok && stored.Token != nil &&
		stored.Token.AccessToken != t.tok.AccessToken && stored.Token.AccessToken != stale && t.valid(stored.Token, now) {
		t.conn.conn.secrets.Add(stored.secretsOf()...)
		t.tok = stored.Token
		return t.tok, nil
	}
	if t.tok.RefreshToken == "" {
		return nil, t.conn.authError("its access token expired and it has no refresh token", nil)
	}
	fresh, err := t.refresh(ctx, logger)
	if err != nil {
		logger.LogAttrs(ctx, slog.LevelWarn, "refreshing the connection's OAuth token failed",
			slog.String("error", t.conn.conn.secrets.Redact(err.Error())))
		return nil, err
	}
	t.tok, t.refreshed = fresh, true
	return fresh, nil
}

func (t *oauth2Transport) valid(tok *oauth2.Token, now time.Time) bool {
	return tok != nil && tok.AccessToken != "" && (tok.Expiry.IsZero() || now.Add(t.delta).Before(tok.Expiry))
}

func (t *oauth2Transport) refresh(ctx context.Context, logger *slog.Logger) (*oauth2.Token, error) {
	c := t.conn
	hc := &http.Client{Transport: t.base, Timeout: c.timeout}
	src := t.auth.Config.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc), &oauth2.Token{RefreshToken: t.tok.RefreshToken})
	fresh, err := src.Token()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 &&
			re.Response.StatusCode != http.StatusTooManyRequests && re.Response.StatusCode != http.StatusRequestTimeout {
			reason := "the provider refused the refresh token: " + re.Response.Status
			if re.ErrorCode != "" {
				reason = "the provider refused the refresh token: " + re.ErrorCode
				if re.ErrorDescription != "" {
					reason += " (" + re.ErrorDescription + ")"
				}
			}
			return nil, c.authError(reason, err)
		}
		// A network error or a 5xx of the token endpoint: worth trying again later.
		return nil, &provider.RedactedError{Msg: "nango: refreshing the OAuth token of connection " + strconv.Quote(c.ConnectionID) + ": " + c.conn.secrets.Redact(err.Error()), Err: err}
	}
	if fresh.RefreshToken == "" {
		fresh.RefreshToken = t.tok.RefreshToken
	}
	c.conn.secrets.Add(fresh.AccessToken, fresh.RefreshToken)
	// Keep the new token even if the caller gives up now: a provider that rotates refresh
	// tokens has already invalidated the old one.
	saveCtx := context.WithoutCancel(ctx)
	creds := c.Credentials
	creds.Token = fresh
	if err := c.SaveCredentials(saveCtx, creds); err != nil {
		logger.LogAttrs(ctx, slog.LevelError, "storing the refreshed OAuth token failed", slog.String("error", c.conn.secrets.Redact(err.Error())))
	}
	if t.auth.OnRefresh != nil {
		tokCopy := *fresh
		if err := t.auth.OnRefresh(saveCtx, c.Integration, c.ConnectionID, &tokCopy); err != nil {
			logger.LogAttrs(ctx, slog.LevelError, "OAuth2.OnRefresh failed", slog.String("error", c.conn.secrets.Redact(err.Error())))
		}
	}
	attrs := []slog.Attr{}
	if !fresh.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", fresh.Expiry.UTC()))
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "refreshed the connection's OAuth token", attrs...)
	return fresh, nil
}

// setCredentials validates the integration's HTTP configuration, and c against the
// integration's Auth, and stores c in sc. A nil c keeps what sc holds. Called by AddConnection,
// so that a bad configuration shows before any run.
func (e *Engine) setCredentials(sc *store.Connection, c *Credentials) error {
	in, err := e.integration(sc.Integration)
	if err != nil {
		return err
	}
	if _, err := e.http.integration(in); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	if in.Auth == nil {
		return configError("connection %q has credentials but integration %q has no Auth to use them", sc.ID, in.Key)
	}
	if v, ok := in.Auth.(authValidator); ok {
		if err := v.validate(); err != nil {
			return within(err, "integration %q", in.Key)
		}
	}
	if cc, ok := in.Auth.(credentialChecker); ok {
		if err := cc.checkCredentials(c); err != nil {
			return configError("connection %q: %v", sc.ID, err)
		}
	}
	data, err := e.sealCredentials(sc.Integration, sc.ID, *c)
	if err != nil {
		return err
	}
	sc.Credentials = data
	return nil
}

// originRouter sends requests to the integration's origins through the authenticating
// transport and every other request without credentials.
type originRouter struct {
	auth    http.RoundTripper
	plain   http.RoundTripper
	origins map[string]bool
}

// withLogger returns the router with its authenticating transport logging to logger.
func (o *originRouter) withLogger(logger *slog.Logger) http.RoundTripper {
	if _, ok := o.auth.(loggingTransport); !ok {
		return o
	}
	return &originRouter{auth: withLogger(o.auth, logger), plain: o.plain, origins: o.origins}
}

func (o *originRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if o.origins[originOf(req.URL)] {
		return o.auth.RoundTrip(req)
	}
	return o.plain.RoundTrip(req)
}

// originOf returns the scheme://host[:port] of u, without a default port.
func originOf(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		host = net.JoinHostPort(host, port)
		host = strings.TrimSuffix(host, ":")
	}
	return scheme + "://" + host
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func closeRequestBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
