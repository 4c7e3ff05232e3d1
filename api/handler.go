package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gonango/nango"
)

// DefaultMaxBodyBytes is the default of Config.MaxBodyBytes: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Config configures a Handler. A nil *Config means all defaults; since the API needs a secret
// key unless DisableAuth is set, New(eng, nil) returns an error that says so.
type Config struct {
	// SecretKeys are the accepted secret keys: every request must send one of them as
	// "Authorization: Bearer <key>". Several keys allow rotation. Required (and none may be
	// empty) unless DisableAuth is set. Defaults to none.
	SecretKeys []string
	// DisableAuth serves every endpoint without a secret key. For local development only:
	// anyone who reaches the handler can then read every record and control every sync.
	// Defaults to false.
	DisableAuth bool
	// MaxBodyBytes caps the size of request bodies; a larger one is answered 413. Defaults to
	// DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Logger receives the handler's few logs: failures inside it (answered 500) at error
	// level, refused credentials at debug level. Defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the http.Handler of the API. It is safe for concurrent use.
type Handler struct {
	eng     *nango.Engine
	keys    [][sha256.Size]byte
	noAuth  bool
	maxBody int64
	logger  *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New returns the API of eng. The handler works with any path prefix stripped before it
// (http.StripPrefix); the triggering endpoint needs eng's scheduler to be running (Engine.Run).
func New(eng *nango.Engine, cfg *Config) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("api: nil engine")
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	h := &Handler{eng: eng, noAuth: c.DisableAuth, maxBody: c.MaxBodyBytes, logger: c.Logger}
	switch {
	case h.maxBody == 0:
		h.maxBody = DefaultMaxBodyBytes
	case h.maxBody < 0:
		return nil, fmt.Errorf("api: MaxBodyBytes %d is negative", h.maxBody)
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	for i, k := range c.SecretKeys {
		if k == "" {
			return nil, fmt.Errorf("api: secret key %d is empty", i)
		}
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	if len(h.keys) == 0 && !h.noAuth {
		return nil, errors.New("api: no secret key: set Config.SecretKeys, or Config.DisableAuth for local development")
	}
	return h, nil
}

// route is an endpoint: its method and handler.
type route struct {
	method string
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request)
}

var routes = map[string]route{
	"/records":                          {http.MethodGet, (*Handler).listRecords},
	"/records/prune":                    {http.MethodPatch, (*Handler).pruneRecords}, // prune.go
	"/sync/trigger":                     {http.MethodPost, (*Handler).trigger},
	"/sync/start":                       {http.MethodPost, (*Handler).start},
	"/sync/pause":                       {http.MethodPost, (*Handler).pause},
	"/sync/status":                      {http.MethodGet, (*Handler).status},
	"/sync/update-connection-frequency": {http.MethodPut, (*Handler).updateFrequency},
	"/webhooks/deliveries":              {http.MethodGet, (*Handler).listDeliveries}, // webhooks.go
	"/webhooks/redeliver":               {http.MethodPost, (*Handler).redeliver},
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := routes[path]
	if !ok {
		writeError(w, newError(http.StatusNotFound, CodeNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s takes %s, not %s", path, rt.method, r.Method))
		return
	}
	if e := h.authenticate(r); e != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nango"`)
		writeError(w, e)
		return
	}
	rt.serve(h, w, r)
}

// authenticate checks the secret key in constant time: the key's digest is compared with the
// digest of every configured key.
func (h *Handler) authenticate(r *http.Request) *apiError {
	if h.noAuth {
		return nil
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		return newError(http.StatusUnauthorized, CodeMissingAuthHeader,
			"authentication failed: the request is missing the Authorization header (want \"Authorization: Bearer <secret key>\")")
	}
	scheme, key, ok := strings.Cut(header, " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return newError(http.StatusUnauthorized, CodeMalformedAuthHeader,
			"authentication failed: the Authorization header is malformed (want \"Bearer <secret key>\")")
	}
	got := sha256.Sum256([]byte(key))
	match := 0
	for i := range h.keys {
		match |= subtle.ConstantTimeCompare(got[:], h.keys[i][:])
	}
	if match != 1 {
		h.logger.DebugContext(r.Context(), "api: refused a secret key", "remote_addr", r.RemoteAddr, "path", r.URL.Path)
		return newError(http.StatusUnauthorized, CodeUnknownAccount,
			"authentication failed: the secret key is not one this service accepts")
	}
	return nil
}

// engineError maps an engine error to an answer; errors it does not know are logged and
// answered 500. A nil answer means the client has gone (its context ended): nothing to send.
func (h *Handler) engineError(r *http.Request, err error) *apiError {
	switch {
	case errors.Is(err, nango.ErrUnknownIntegration):
		return newError(http.StatusBadRequest, CodeUnknownProviderConfig, "there is no integration with this provider config key (%v)", err)
	case errors.Is(err, nango.ErrUnknownConnection):
		return newError(http.StatusBadRequest, CodeUnknownConnection, "no connection matches connection_id and provider_config_key (%v)", err)
	case errors.Is(err, nango.ErrUnknownSync):
		return newError(http.StatusBadRequest, CodeUnknownSync, "%v", err)
	case errors.Is(err, nango.ErrUnknownModel):
		return newError(http.StatusBadRequest, CodeUnknownModel, "%v", err)
	case errors.Is(err, nango.ErrRunActive):
		return newError(http.StatusConflict, CodeSyncAlreadyRunning,
			"these syncs are already running or queued and were left alone; the others were triggered (%v)", err)
	case errors.Is(err, nango.ErrEngineNotRunning):
		return newError(http.StatusServiceUnavailable, CodeEngineNotRunning,
			"the engine's scheduler is not running, so nothing can be triggered; the service must call Engine.Run")
	case errors.Is(err, nango.ErrInvalidConfig):
		return newError(http.StatusBadRequest, CodeInvalidBody, "%v", err)
	case r.Context().Err() != nil:
		return nil // the client has gone
	}
	h.logger.ErrorContext(r.Context(), "api: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	if errors.Is(err, nango.ErrNoEncryptionKey) || errors.Is(err, nango.ErrUnknownEncryptionKey) {
		return newError(http.StatusInternalServerError, CodeServerError,
			"the stored data is encrypted and the service has no key to decrypt it: it must be started with its encryption key (Config.EncryptionKeys)")
	}
	if errors.Is(err, nango.ErrDataKeyNotFound) {
		return newError(http.StatusInternalServerError, CodeServerError,
			"the stored data is encrypted with a data key that is not in the service's data key store: the connection was deleted, or the service is not using the key store it was written with (Config.DataKeyStore)")
	}
	return newError(http.StatusInternalServerError, CodeServerError, "the request failed inside the service; its log says why")
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := h.engineError(r, err); e != nil {
		writeError(w, e)
	}
}
