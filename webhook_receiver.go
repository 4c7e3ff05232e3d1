package nango

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// DefaultMaxWebhookBody is the body size WebhookReceiver accepts by default: 1 MiB.
const DefaultMaxWebhookBody = 1 << 20

// VerifyWebhook reads r's body and checks its X-Nango-Hmac-Sha256 header against each of keys
// (several keys allow rotation), in constant time. It returns the body, and leaves r.Body
// readable again. A missing or wrong signature is ErrInvalidWebhookSignature. It reads the whole
// body: bound it first (http.MaxBytesReader), or use WebhookReceiver, which does.
func VerifyWebhook(r *http.Request, keys ...[]byte) ([]byte, error) {
	if r.Body == nil {
		return nil, fmt.Errorf("%w: the request has no body", ErrInvalidWebhookSignature)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("nango: reading webhook body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sig := r.Header.Get(WebhookSignatureHeader)
	if sig == "" {
		return body, fmt.Errorf("%w: no %s header", ErrInvalidWebhookSignature, WebhookSignatureHeader)
	}
	if !VerifyWebhookSignature(body, sig, keys...) {
		return body, ErrInvalidWebhookSignature
	}
	return body, nil
}

// WebhookReceiver is the http.Handler of a backend that receives the engine's (or Nango's)
// webhooks. It accepts POST only, limits the body to MaxBytes, verifies the signature with
// VerifyWebhook, decodes the payload and calls Handle. A request with a bad signature gets 401
// and never reaches Handle; a body that is not a payload gets 400; when Handle fails the answer
// is 500, so that the sender tries again (deliveries are at least once: use the delivery id to
// drop duplicates). Otherwise it answers 204.
type WebhookReceiver struct {
	// Keys are the signing keys accepted; during a rotation, the old and the new one.
	// Required.
	Keys [][]byte
	// MaxBytes bounds the body. Defaults to DefaultMaxWebhookBody.
	MaxBytes int64
	// Handle processes one webhook. deliveryID is the X-Nango-Delivery-Id header (empty from
	// senders that do not send it). Required.
	Handle func(ctx context.Context, p *WebhookPayload, deliveryID string) error
	// Logger logs rejected requests and Handle's errors. Defaults to slog.Default().
	Logger *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *WebhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logger := h.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if len(h.Keys) == 0 || h.Handle == nil {
		logger.Error("webhook receiver has no keys or no Handle")
		http.Error(w, "webhook receiver is not configured", http.StatusInternalServerError)
		return
	}
	limit := h.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxWebhookBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	body, err := VerifyWebhook(r, h.Keys...)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("body larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
		case errors.Is(err, ErrInvalidWebhookSignature):
			logger.Warn("webhook rejected: bad signature", "remote_addr", r.RemoteAddr)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
		default:
			http.Error(w, "cannot read the body", http.StatusBadRequest)
		}
		return
	}
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "body is not a webhook payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Header.Get(WebhookDeliveryIDHeader)
	if err := h.Handle(r.Context(), &p, id); err != nil {
		logger.Error("handling webhook failed", "delivery_id", id, "model", p.Model, "error", err)
		http.Error(w, "handling the webhook failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
