package nango

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gonango/nango/internal/provider"
	"github.com/gonango/nango/store"
)

// Sentinel errors of the engine and the per-run handle. Errors returned by the library wrap
// them, so test with errors.Is.
var (
	// ErrUnknownIntegration is returned for an integration key that was never registered.
	ErrUnknownIntegration = errors.New("nango: unknown integration")
	// ErrUnknownSync is returned for a sync name the integration does not have.
	ErrUnknownSync = errors.New("nango: unknown sync")
	// ErrUnknownModel is returned for a model the sync (or integration) does not declare.
	ErrUnknownModel = errors.New("nango: unknown model")
	// ErrUnknownConnection is returned for a connection that was never added.
	ErrUnknownConnection = errors.New("nango: unknown connection")
	// ErrRunActive is returned when a sync is already running for the connection.
	ErrRunActive = errors.New("nango: a run of this sync is already active for this connection")
	// ErrInvalidConfig is wrapped by every configuration error.
	ErrInvalidConfig = errors.New("nango: invalid configuration")
	// ErrRunFinished is returned by a *Nango used after its run ended.
	ErrRunFinished = errors.New("nango: the run has finished; the handle cannot be used any more")
	// ErrCheckpointConflict is returned when the checkpoint changed under a run, for example
	// because a reset happened while it ran. The run's writes with that checkpoint were not
	// committed.
	ErrCheckpointConflict = store.ErrVersionConflict
	// ErrInvalidCursor is matched by errors for malformed, corrupt or foreign cursors.
	ErrInvalidCursor = store.ErrInvalidCursor
	// ErrInvalidRecord is matched by every *RecordError.
	ErrInvalidRecord = store.ErrInvalidRecord
	// ErrInvalidFrequency is matched by every error about a frequency that does not parse or
	// is out of range.
	ErrInvalidFrequency = errors.New("nango: invalid frequency")
)

// Errors of the scheduler.
var (
	// ErrEngineNotRunning is returned by calls that need the scheduler while Engine.Run is not
	// running. RunSync works without it.
	ErrEngineNotRunning = errors.New("nango: the engine is not running: call Run (or use RunSync)")
	// ErrEngineRunning is returned by Run when the engine is already running.
	ErrEngineRunning = errors.New("nango: the engine is already running")
)

// Errors of provider HTTP requests.
var (
	// ErrReauthRequired is matched (with errors.Is) by every *AuthError: the provider no
	// longer accepts the connection's credentials, and its user must authorise the connection
	// again.
	ErrReauthRequired = errors.New("nango: the connection needs re-authorisation")
	// ErrRateLimited is matched by the errors of requests the provider refused for their rate
	// (an *APIError with status 429), and of requests that would have had to wait longer than
	// HTTPRetry.MaxWait for the connection's rate limit to reset.
	ErrRateLimited = provider.ErrRateLimited
	// ErrTimeout is matched by the error of an attempt that took longer than
	// HTTPConfig.Timeout (a provider that hangs). Such attempts are retried like network
	// errors.
	ErrTimeout = errors.New("nango: the provider did not answer in time")
	// ErrRepeatedCursor is matched when a provider sends the client back to a page it already
	// fetched (the same cursor, link, offset or page twice), which would loop forever.
	ErrRepeatedCursor = errors.New("nango: the provider repeated a pagination cursor")
	// ErrPermanent marks a transport error that no retry can cure: when an error returned by
	// HTTPConfig.Transport matches it (errors.Is), the request fails at once, whatever the
	// retry policy. nangotest's error for a request no fixture answers matches it.
	ErrPermanent = errors.New("nango: permanent failure")
	// ErrTooManyPages is matched when a listing goes past HTTPConfig.MaxPages.
	ErrTooManyPages = errors.New("nango: too many pages")
)

// Errors of webhooks.
var (
	// ErrWebhooksDisabled is returned by the delivery calls of an engine without
	// Config.Webhooks.
	ErrWebhooksDisabled = errors.New("nango: webhooks are not configured (Config.Webhooks is nil)")
	// ErrUnknownWebhookDelivery is returned for a delivery id the outbox does not hold.
	ErrUnknownWebhookDelivery = errors.New("nango: unknown webhook delivery")
	// ErrInvalidWebhookSignature is returned by VerifyWebhook when the signature header is
	// missing or matches none of the keys.
	ErrInvalidWebhookSignature = errors.New("nango: webhook signature missing or invalid")
)

// RecordError reports a record that cannot be written; the batch it belongs to was not
// written. It matches ErrInvalidRecord. Its fields:
//
//	Model  string  the model the record was written to
//	Index  int     its position in the slice the sync passed (-1 when the slice itself is wrong)
//	ID     string  its id, when it has one
//	Reason string  why it was refused ("missing \"id\" field", "does not match type ...")
//	Err    error   the underlying error, if any (Unwrap returns it)
type RecordError = store.RecordError

// ParamError reports a parameter out of its allowed range, such as a list limit: Param names
// it ("limit", "ids"), Reason says what is allowed.
type ParamError = store.ParamError

// PanicError is the error of a run whose sync panicked. Stack is the goroutine's stack.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("nango: sync panicked: %v", e.Value) }

// configError returns an error that matches ErrInvalidConfig and reads "nango: invalid
// configuration: " and the message, with one prefix: an error among args is printed without
// its own package prefix, and errors.Is and errors.As still find it.
func configError(format string, args ...any) error {
	e := &invalidConfigError{}
	args = slices.Clone(args)
	for i, a := range args {
		if err, ok := a.(error); ok {
			e.errs = append(e.errs, err)
			args[i] = bareMessage(err)
		}
	}
	e.msg = fmt.Sprintf(format, args...)
	return e
}

// invalidConfigError is a configuration error: ErrInvalidConfig with what is wrong and where.
type invalidConfigError struct {
	msg  string
	errs []error
}

func (e *invalidConfigError) Error() string   { return ErrInvalidConfig.Error() + ": " + e.msg }
func (e *invalidConfigError) Unwrap() []error { return append([]error{ErrInvalidConfig}, e.errs...) }

// within puts where an error happened in front of what it says, under one prefix: a
// configuration error stays one ("nango: invalid configuration: integration "x": sync "s":
// ..."), any other error reads "nango: " where ": " what. errors.Is and errors.As find err.
func within(err error, format string, args ...any) error {
	where := fmt.Sprintf(format, args...)
	var ce *invalidConfigError
	if errors.As(err, &ce) && error(ce) == err {
		return &invalidConfigError{msg: where + ": " + ce.msg, errs: ce.errs}
	}
	if errors.Is(err, ErrInvalidConfig) {
		msg := strings.TrimPrefix(err.Error(), ErrInvalidConfig.Error()+": ")
		return &invalidConfigError{msg: where + ": " + msg, errs: []error{err}}
	}
	return &wrappedError{msg: "nango: " + where + ": " + bareMessage(err), errs: []error{err}}
}

// chain is fmt.Errorf("%w: %w: ...", errs...) with one prefix: the first error's, the others'
// dropped from the text.
func chain(errs ...error) error {
	msg := errs[0].Error()
	for _, err := range errs[1:] {
		msg += ": " + bareMessage(err)
	}
	return &wrappedError{msg: msg, errs: errs}
}

// wrappedError is an error with a message of its own and the errors it wraps.
type wrappedError struct {
	msg  string
	errs []error
}

func (e *wrappedError) Error() string   { return e.msg }
func (e *wrappedError) Unwrap() []error { return e.errs }

// bareMessage is an error's text without the package prefix ("nango: ", "store: ") it carries
// to say where it comes from, for putting it inside another error of this package.
func bareMessage(err error) string {
	s := err.Error()
	for _, p := range []string{"nango: ", "store: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}
