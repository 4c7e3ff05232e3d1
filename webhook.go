package nango

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gonango/nango/internal/jsonc"
)

// Webhook payload values.
const (
	SyncTypeInitial     = "INITIAL"
	SyncTypeIncremental = "INCREMENTAL"
	SyncTypeWebhook     = "WEBHOOK"

	// WebhookSignatureHeader carries the hex HMAC-SHA256 of the raw body.
	WebhookSignatureHeader = "X-Nango-Hmac-Sha256"
	// WebhookLegacySignatureHeader carries Nango's legacy signature, the hex SHA-256 of the
	// signing key followed by the body (see LegacyWebhookSignature). Sent only when
	// WebhookConfig.LegacySignature is set; VerifyWebhook does not accept it.
	WebhookLegacySignatureHeader = "X-Nango-Signature"
	// WebhookDeliveryIDHeader carries the id of the delivery, the same on every attempt, so
	// that a receiver can drop the duplicates that at-least-once delivery allows.
	WebhookDeliveryIDHeader = "X-Nango-Delivery-Id"
	// WebhookAttemptHeader carries the number of the attempt, from 1.
	WebhookAttemptHeader = "X-Nango-Delivery-Attempt"

	// WebhookErrorScript and WebhookErrorTimeout are the error types of failure webhooks: the
	// sync returned an error (or panicked), or it ran past Config.RunTimeout.
	WebhookErrorScript  = "script_error"
	WebhookErrorTimeout = "sync_timeout"
)

// WebhookPayload is the body of the webhook sent to the user's backend after a run, in Nango's
// format, so that Nango's client libraries parse and verify it unchanged.
type WebhookPayload struct {
	Type              string              `json:"type"`
	From              string              `json:"from"`
	ConnectionID      string              `json:"connectionId"`
	ProviderConfigKey string              `json:"providerConfigKey"`
	SyncName          string              `json:"syncName"`
	SyncVariant       string              `json:"syncVariant"`
	Model             string              `json:"model"`
	SyncType          string              `json:"syncType"`
	Success           bool                `json:"success"`
	ModifiedAfter     string              `json:"modifiedAfter,omitempty"`
	QueryTimeStamp    string              `json:"queryTimeStamp,omitempty"`
	ResponseResults   *WebhookResults     `json:"responseResults,omitempty"`
	Checkpoints       *WebhookCheckpoints `json:"checkpoints,omitempty"`
	Error             *WebhookError       `json:"error,omitempty"`
	StartedAt         string              `json:"startedAt,omitempty"`
	FailedAt          string              `json:"failedAt,omitempty"`
}

// WebhookResults counts a model's changes in a run.
type WebhookResults struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}

// WebhookCheckpoints holds the checkpoint a run started from and the one it ended with.
type WebhookCheckpoints struct {
	From json.RawMessage `json:"from"`
	To   json.RawMessage `json:"to"`
}

// WebhookError describes a failed run.
type WebhookError struct {
	Type        string `json:"type"`
	Description string `json:"description"`
}

// Encode returns the payload as Nango sends it: compact JSON with keys sorted at every level.
//
// Strings are not HTML-escaped (no \u003c for <), as JavaScript's JSON.stringify writes them, so
// that receivers that re-serialise the body (Nango's legacy X-Nango-Signature check) get the
// same bytes.
func (p *WebhookPayload) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("nango: encoding webhook payload: %w", err)
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return jsonc.Canonical(make([]byte, 0, len(raw)), raw)
}

// SignWebhook returns the X-Nango-Hmac-Sha256 value of body: the lowercase hex HMAC-SHA256 of
// the exact bytes with the signing key.
func SignWebhook(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// LegacyWebhookSignature returns the X-Nango-Signature value of body: the lowercase hex SHA-256
// of the key followed by the body. Nango still sends it for old receivers; it is open to
// length extension, so verify X-Nango-Hmac-Sha256 instead.
func LegacyWebhookSignature(key, body []byte) string {
	h := sha256.New()
	h.Write(key)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyWebhookSignature reports whether signature (hex) is the HMAC-SHA256 of body under one of
// the keys; the comparison is constant-time. Several keys allow rotation.
func VerifyWebhookSignature(body []byte, signature string, keys ...[]byte) bool {
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, k := range keys {
		if len(k) == 0 {
			continue // an empty key (an unset variable) must not accept what anyone signs with it
		}
		mac := hmac.New(sha256.New, k)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// WebhookPayloads returns the success webhooks of a successful run: one per model that changed
// (every model when always is true). modifiedAfter is the run's start: reading the change feed
// from there misses nothing the run wrote. A failed run yields nothing. (The engine widens the
// webhooks it sends to cover earlier runs that announced nothing: see WebhookConfig.)
func WebhookPayloads(res *RunResult, always bool) []WebhookPayload {
	if res == nil || res.State != RunSucceeded {
		return nil
	}
	syncType := SyncTypeIncremental
	if res.Initial {
		syncType = SyncTypeInitial
	}
	if res.Trigger == TriggerWebhook {
		syncType = SyncTypeWebhook
	}
	started := res.StartedAt.UTC().Format(time.RFC3339Nano)
	var cps *WebhookCheckpoints
	if res.CheckpointFrom != nil || res.CheckpointTo != nil {
		cps = &WebhookCheckpoints{From: res.CheckpointFrom, To: res.CheckpointTo}
	}
	var out []WebhookPayload
	for _, model := range sortedKeys(res.Models) {
		m := res.Models[model]
		if !always && m.Added+m.Updated+m.Deleted == 0 {
			continue
		}
		out = append(out, WebhookPayload{
			Type: "sync", From: "nango", ConnectionID: res.Connection, ProviderConfigKey: res.Integration,
			SyncName: res.Sync, SyncVariant: "base", Model: model, SyncType: syncType, Success: true,
			ModifiedAfter: started, QueryTimeStamp: started,
			ResponseResults: &WebhookResults{Added: m.Added, Updated: m.Updated, Deleted: m.Deleted},
			Checkpoints:     cps,
		})
	}
	return out
}

// FailureWebhookPayload returns the failure webhook of a failed or timed-out run, as Nango
// sends it: one for the whole run, its model naming every model of the sync (comma-separated),
// with the error, startedAt (the run's start) and failedAt (its end). Other runs yield nil.
func FailureWebhookPayload(res *RunResult) *WebhookPayload {
	if res == nil || (res.State != RunFailed && res.State != RunTimedOut) {
		return nil
	}
	syncType := SyncTypeIncremental
	if res.Initial {
		syncType = SyncTypeInitial
	}
	if res.Trigger == TriggerWebhook {
		syncType = SyncTypeWebhook
	}
	errType, desc := WebhookErrorScript, "the run failed"
	if res.State == RunTimedOut {
		errType = WebhookErrorTimeout
	}
	if res.Err != nil {
		desc = res.Err.Error()
	}
	return &WebhookPayload{
		Type: "sync", From: "nango", ConnectionID: res.Connection, ProviderConfigKey: res.Integration,
		SyncName: res.Sync, SyncVariant: "base", Model: strings.Join(sortedKeys(res.Models), ","), SyncType: syncType,
		Success: false, Error: &WebhookError{Type: errType, Description: desc},
		StartedAt: res.StartedAt.UTC().Format(time.RFC3339Nano), FailedAt: res.EndedAt.UTC().Format(time.RFC3339Nano),
	}
}
