package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of the answers, as Nango names them; the handler adds a few of its own where
// Nango answers 500 or accepts bad input silently.
const (
	// CodeMissingAuthHeader (401): no Authorization header.
	CodeMissingAuthHeader = "missing_auth_header"
	// CodeMalformedAuthHeader (401): the Authorization header is not "Bearer <key>".
	CodeMalformedAuthHeader = "malformed_auth_header"
	// CodeUnknownAccount (401): the key is not one of the configured secret keys.
	CodeUnknownAccount = "unknown_account"
	// CodeInvalidQueryParams (400): a query parameter is missing, unknown, repeated or invalid.
	CodeInvalidQueryParams = "invalid_query_params"
	// CodeInvalidHeaders (400): the Connection-Id or Provider-Config-Key header is missing or
	// invalid.
	CodeInvalidHeaders = "invalid_headers"
	// CodeInvalidBody (400): the body is not the JSON object the endpoint takes.
	CodeInvalidBody = "invalid_body"
	// CodeInvalidCursor (400): the cursor is malformed, corrupt, from another stream, or from
	// before the stream was emptied.
	CodeInvalidCursor = "invalid_cursor"
	// CodeMissingProviderConfigKey (400): POST /sync/trigger without a provider config key in
	// the body or the Provider-Config-Key header.
	CodeMissingProviderConfigKey = "missing_provider_config_key"
	// CodeUnknownConnection (400): no such connection for the integration.
	CodeUnknownConnection = "unknown_connection"
	// CodeUnknownProviderConfig (400): no integration has this key.
	CodeUnknownProviderConfig = "unknown_provider_config"
	// CodeUnknownSync (400): the integration has no sync of this name.
	CodeUnknownSync = "unknown_sync"
	// CodeUnknownModel (400): no sync of the integration writes this model.
	CodeUnknownModel = "unknown_model"
	// CodeUnknownVariant (400): a sync variant other than "base"; this engine has no variants.
	CodeUnknownVariant = "unknown_variant"
	// CodeSyncAlreadyRunning (409): a triggered sync is already running or queued for a
	// connection; the other syncs of the request were triggered.
	CodeSyncAlreadyRunning = "sync_already_running"
	// CodeEngineNotRunning (503): the engine's scheduler is not running (Engine.Run), so
	// nothing can be triggered.
	CodeEngineNotRunning = "engine_not_running"
	// CodePayloadTooLarge (413): the body is larger than Config.MaxBodyBytes.
	CodePayloadTooLarge = "payload_too_large"
	// CodeNotFound (404): no endpoint has this path.
	CodeNotFound = "not_found"
	// CodeMethodNotAllowed (405): the endpoint does not take this method.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeServerError (500): something failed inside; the handler's logger has the details.
	// When the store is encrypted and the engine has no Config.EncryptionKeys, the message
	// says so.
	CodeServerError = "server_error"
)

// errorAnswer is the body of every error answer.
type errorAnswer struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message,omitempty"`
	Errors  []fieldError `json:"errors,omitempty"`
}

// fieldError is one validation failure, shaped like the zod issues Nango answers with.
type fieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Path    []any  `json:"path"`
}

// apiError is an error answer to send.
type apiError struct {
	status int
	body   errorBody
}

// newError makes an answer. An error among args is written without its package prefix
// ("nango: "), so that the message has one prefix.
func newError(status int, code, format string, args ...any) *apiError {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = strings.TrimPrefix(err.Error(), "nango: ")
		}
	}
	return &apiError{status: status, body: errorBody{Code: code, Message: "api: " + fmt.Sprintf(format, args...)}}
}

// validation collects the problems of a request's parameters or body, like a zod schema.
// It keeps the first maxIssues problems and counts the others.
type validation struct {
	what   string // "query parameters", "body", "headers"
	errors []fieldError
	more   int
}

func (v *validation) add(code, message string, path ...any) {
	if len(v.errors) >= maxIssues {
		v.more++
		return
	}
	if path == nil {
		path = []any{}
	}
	v.errors = append(v.errors, fieldError{Code: code, Message: message, Path: path})
}

func (v *validation) failed() bool { return len(v.errors) > 0 }

// err returns the answer for the problems found, with code.
func (v *validation) err(code string) *apiError {
	parts := make([]string, len(v.errors))
	for i, e := range v.errors {
		var p []string
		for _, s := range e.Path {
			p = append(p, fmt.Sprint(s))
		}
		if len(p) > 0 {
			parts[i] = strings.Join(p, ".") + ": " + e.Message
		} else {
			parts[i] = e.Message
		}
	}
	if v.more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more problems", v.more))
	}
	return &apiError{status: http.StatusBadRequest, body: errorBody{
		Code:    code,
		Message: "api: invalid " + v.what + ": " + strings.Join(parts, "; "),
		Errors:  v.errors,
	}}
}

// Validation issue codes, as zod names them.
const (
	issueInvalidType     = "invalid_type"
	issueUnrecognizedKey = "unrecognized_keys"
	issueTooSmall        = "too_small"
	issueTooBig          = "too_big"
	issueInvalidString   = "invalid_string"
	issueInvalidEnum     = "invalid_enum_value"
	issueInvalidUnion    = "invalid_union"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"server_error","message":"api: encoding the answer failed"}}`)
	}
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorAnswer{Error: e.body})
}
