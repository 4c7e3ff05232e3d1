package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

var quiet = slog.New(slog.DiscardHandler)

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWalkthrough(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	require.NoError(t, run(t.Context(), &out, options{logger: quiet, dbPath: filepath.Join(t.TempDir(), "hubspot.db")}))
	got := out.String()
	for _, want := range []string{
		"Fake HubSpot account 12345678 with 5 contacts.",
		"  polling run: added 5, updated 0, deleted 0, unchanged 0, skipped 0\n  feed: 5 new\n",
		"  webhook answered 200 {\"events\":1,\"handled\":1,\"triggered\":0,\"ignored\":0}\n  feed: 1 new\n    UPDATED  102  Jane Doe           jane.doe@newco.example\n",
		"  webhook answered 401 {\"events\":0,\"handled\":0,\"triggered\":0,\"ignored\":0,\"error\":\"verification failed\"}\n  feed: nothing new\n",
		"    DELETED  103  Alan Turing        alan@example.com\n",
		"  polling run: added 0, updated 0, deleted 0, unchanged 2, skipped 1\n  feed: 1 new\n    ADDED    106  Margaret Hamilton  margaret.hamilton@nasa.example\n",
	} {
		require.Contains(t, got, want)
	}
}

func TestSignatureV3(t *testing.T) {
	t.Parallel()
	secret := []byte("s")
	now := time.Now()
	verify := verifySignatureV3(secret, func() time.Time { return now })
	body := []byte(`[{"objectId":1}]`)
	req := func(ts time.Time, key []byte, uri string) *http.Request {
		r, err := http.NewRequest(http.MethodPost, "http://hooks.example.com/webhooks/hubspot?x=1", bytes.NewReader(body))
		require.NoError(t, err)
		r.Host = "hooks.example.com"
		tsText := strconv.FormatInt(ts.UnixMilli(), 10)
		r.Header.Set("X-HubSpot-Request-Timestamp", tsText)
		r.Header.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(signV3(key, http.MethodPost, uri, body, tsText)))
		return r
	}
	const uri = "http://hooks.example.com/webhooks/hubspot?x=1"
	require.NoError(t, verify(req(now, secret, uri), body))
	require.ErrorContains(t, verify(req(now, []byte("other"), uri), body), "signature mismatch")
	require.ErrorContains(t, verify(req(now, secret, "http://elsewhere/webhooks/hubspot?x=1"), body), "signature mismatch")
	require.ErrorContains(t, verify(req(now.Add(-6*time.Minute), secret, uri), body), "off", "a replayed webhook")
	require.ErrorContains(t, verify(req(now, secret, uri), append(body, ' ')), "signature mismatch")
}

func TestService(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	ready := make(chan *app, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, &out, options{listen: "127.0.0.1:0", fakeActivity: 5 * time.Millisecond, logger: quiet,
			dbPath: filepath.Join(t.TempDir(), "service.db"), onReady: func(a *app) { ready <- a }})
	}()
	var a *app
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	events, stop, err := a.eng.SubscribeChan(nango.SubscribeParams{Integration: integrationKey})
	require.NoError(t, err)
	defer stop()
	// The scheduler's first polling run, and the fake's changes through webhooks.
	webhookRuns := 0
	for webhookRuns < 3 {
		select {
		case ev := <-events:
			if ev.Trigger == nango.TriggerWebhook {
				require.Equal(t, 1, ev.Added+ev.Updated, "one contact per event (added when it comes before the first poll)")
				webhookRuns++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no change from the fake's webhooks")
		}
	}
	runs, err := a.eng.WebhookRunHistory(ctx, nango.RunHistoryParams{Integration: integrationKey, Sync: syncName, Connection: a.connection, Limit: 1})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	status, answer, err := sendWebhook(a.hookURL, []byte("wrong"), event{PortalID: 12345678, SubscriptionType: "contact.deletion", ObjectID: 101})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status)
	var res nango.ProviderWebhookResult
	require.NoError(t, json.Unmarshal([]byte(answer), &res))
	require.Equal(t, "verification failed", res.Error)
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, out.String(), "HubSpot webhooks on http://127.0.0.1:")
	require.Regexp(t, `webhook run: [01] added, [01] updated, 0 deleted`, out.String())
}
