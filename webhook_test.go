package nango_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

func TestWebhookPayloadsAndSignature(t *testing.T) {
	t.Parallel()
	res := &nango.RunResult{
		Integration: "salesforce", Sync: "contacts", Connection: "conn-1", Trigger: nango.TriggerSchedule,
		State: nango.RunSucceeded, Initial: false, StartedAt: time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC),
		Models: map[string]nango.ModelResult{"Contact": {Added: 1, Updated: 5}, "Account": {}},
	}
	payloads := nango.WebhookPayloads(res, false)
	require.Len(t, payloads, 1, "models without changes send nothing by default")
	body, err := payloads[0].Encode()
	require.NoError(t, err)
	require.Equal(t, `{"connectionId":"conn-1","from":"nango","model":"Contact","modifiedAfter":"2026-03-04T05:06:07.123456Z",`+
		`"providerConfigKey":"salesforce","queryTimeStamp":"2026-03-04T05:06:07.123456Z","responseResults":{"added":1,"deleted":0,"updated":5},`+
		`"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}`, string(body))
	require.Len(t, nango.WebhookPayloads(res, true), 2)

	// An independent computation of the signature.
	key := []byte("signing-key")
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	sig := nango.SignWebhook(key, body)
	require.Equal(t, want, sig)
	require.True(t, nango.VerifyWebhookSignature(body, sig, []byte("old-key"), key))
	require.False(t, nango.VerifyWebhookSignature(body, sig, []byte("old-key")))
	require.False(t, nango.VerifyWebhookSignature(append(body, ' '), sig, key))
	require.False(t, nango.VerifyWebhookSignature(body, "zz", key))

	var back nango.WebhookPayload
	require.NoError(t, json.Unmarshal(body, &back))
	require.Equal(t, payloads[0], back)

	res.Initial = true
	require.Equal(t, nango.SyncTypeInitial, nango.WebhookPayloads(res, false)[0].SyncType)
	res.State = nango.RunFailed
	require.Empty(t, nango.WebhookPayloads(res, true))
}

func TestWebhookVerificationRejectsEmptyKeysAndKeepsHTML(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	require.False(t, nango.VerifyWebhookSignature(body, nango.SignWebhook(nil, body), []byte{}),
		"an empty key (an unset variable) accepts nothing")
	p := nango.WebhookPayload{Type: "sync", Error: &nango.WebhookError{Type: "script_error", Description: "<html> a & b </html>"}}
	enc, err := p.Encode()
	require.NoError(t, err)
	require.Contains(t, string(enc), `"description":"<html> a & b </html>"`, "written as JSON.stringify writes it")
}
