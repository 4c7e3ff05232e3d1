package nango_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

// providerSecret signs the fake provider's webhooks.
var providerSecret = []byte("provider-client-secret")

// providerEvent is the fake provider's webhook event.
type providerEvent struct {
	Portal   string `json:"portalId"`
	Type     string `json:"subscriptionType"`
	ObjectID string `json:"objectId"`
	Name     string `json:"name"`
}

// providerWebhooks verifies the fake provider's signature and maps its events.
func providerWebhooks() *nango.ProviderWebhooks {
	return &nango.ProviderWebhooks{
		Verify: func(r *http.Request, body []byte) error {
			if !hmac.Equal([]byte(r.Header.Get("X-Provider-Signature")), []byte(hmacHex(providerSecret, body))) {
				return errors.New("bad signature")
			}
			return nil
		},
		Events: func(_ *http.Request, body []byte) ([]nango.ProviderEvent, error) {
			var evs []providerEvent
			if err := json.Unmarshal(body, &evs); err != nil {
				return nil, err
			}
			out := make([]nango.ProviderEvent, len(evs))
			for i, ev := range evs {
				p, _ := json.Marshal(ev)
				out[i] = nango.ProviderEvent{Connection: ev.Portal, Type: ev.Type, Payload: p}
			}
			return out, nil
		},
		Debounce: time.Millisecond,
	}
}

// postEvents sends events to the handler, signed with key, and returns the status and answer.
func postEvents(t *testing.T, url string, key []byte, evs ...providerEvent) (int, nango.ProviderWebhookResult) {
	t.Helper()
	body, err := json.Marshal(evs)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Provider-Signature", hmacHex(key, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var res nango.ProviderWebhookResult
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &res), string(raw))
	return resp.StatusCode, res
}

func TestProviderWebhookHandlerAndMerging(t *testing.T) {
	t.Parallel()
	st := memory.New()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	require.NoError(t, err)

	// The polling sync fetches its page, then (while a webhook comes in) saves it.
	fetched := make(chan struct{})
	proceed := make(chan struct{})
	var handled []string
	var mu sync.Mutex
	err = eng.RegisterIntegration(nango.Integration{Key: "hubspot", Webhooks: providerWebhooks(), Syncs: []nango.SyncConfig{{
		Name: "contacts", Frequency: "every hour", Models: []nango.Model{nango.ModelOf[contact]("Contact")},
		WebhookSubscriptions: []string{"contact.propertyChange", "contact.creation"},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			if err := n.SetMergingStrategy(ctx, nango.MergeIgnoreIfModifiedAfter, "Contact"); err != nil {
				return err
			}
			page := []contact{{ID: "7", Name: "old seven"}, {ID: "8", Name: "eight"}}
			if fetched != nil {
				close(fetched)
				<-proceed
			}
			if err := n.BatchSave(ctx, page, "Contact"); err != nil {
				return err
			}
			// Its own records do not block it.
			return n.BatchSave(ctx, []contact{{ID: "8", Name: "eight, page 2"}}, "Contact")
		}),
		OnWebhook: func(ctx context.Context, n *nango.Nango, payload json.RawMessage) error {
			var ev providerEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return err
			}
			if ev.Name == "fail" {
				return errors.New("handler failed")
			}
			mu.Lock()
			handled = append(handled, ev.ObjectID)
			mu.Unlock()
			return n.BatchSave(ctx, []contact{{ID: ev.ObjectID, Name: ev.Name}}, "Contact")
		},
	}}})
	require.NoError(t, err)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "hubspot", ID: "portal-1"}))
	h, err := eng.ProviderWebhookHandler("hubspot")
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A bad signature is rejected before anything looks at the events.
	status, res := postEvents(t, srv.URL, []byte("attacker"), providerEvent{Portal: "portal-1", Type: "contact.creation", ObjectID: "666", Name: "evil"})
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "verification failed", res.Error)
	runs, err := eng.WebhookRunHistory(t.Context(), nango.RunHistoryParams{Integration: "hubspot", Sync: "contacts", Connection: "portal-1"})
	require.NoError(t, err)
	require.Empty(t, runs)
	require.Empty(t, handled)

	// The polling run starts and fetches old data for contact 7.
	pollDone := make(chan *nango.RunResult, 1)
	go func() {
		res, _ := eng.RunSync(context.Background(), "hubspot", "contacts", "portal-1", nil)
		pollDone <- res
	}()
	<-fetched
	// Meanwhile the provider says contact 7 changed: the webhook run saves the new data.
	status, res = postEvents(t, srv.URL, providerSecret,
		providerEvent{Portal: "portal-1", Type: "contact.propertyChange", ObjectID: "7", Name: "new seven"},
		providerEvent{Portal: "portal-unknown", Type: "contact.propertyChange", ObjectID: "9", Name: "x"},
		providerEvent{Portal: "portal-1", Type: "deal.creation", ObjectID: "d1"})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, nango.ProviderWebhookResult{Events: 3, Handled: 1, Ignored: 2}, res)
	close(proceed)
	poll := <-pollDone
	require.NoError(t, poll.Err)
	require.Equal(t, nango.ModelResult{Added: 1, Updated: 1, Skipped: 1}, poll.Models["Contact"],
		"7 skipped: changed by the webhook after the poll's snapshot; 8 added then updated by the run itself")
	recs, err := eng.GetRecords(t.Context(), "hubspot", "portal-1", "Contact", []string{"7", "8"})
	require.NoError(t, err)
	var seven, eight contact
	require.NoError(t, recs["7"].Decode(&seven))
	require.NoError(t, recs["8"].Decode(&eight))
	require.Equal(t, "new seven", seven.Name, "the older polling data did not overwrite the webhook's")
	require.Equal(t, "eight, page 2", eight.Name)

	// The webhook run has its own history; the sync's LastSyncDate is the polling run's.
	runs, err = eng.WebhookRunHistory(t.Context(), nango.RunHistoryParams{Integration: "hubspot", Sync: "contacts", Connection: "portal-1"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, nango.TriggerWebhook, runs[0].Trigger)
	require.Equal(t, nango.RunSucceeded, runs[0].State)
	polls, err := eng.RunHistory(t.Context(), nango.RunHistoryParams{Integration: "hubspot", Sync: "contacts", Connection: "portal-1"})
	require.NoError(t, err)
	require.Len(t, polls, 1)
	require.Equal(t, poll.RunID, polls[0].ID)

	// A handler that fails gets a 500, so that the provider sends the event again.
	status, res = postEvents(t, srv.URL, providerSecret, providerEvent{Portal: "portal-1", Type: "contact.creation", ObjectID: "10", Name: "fail"})
	require.Equal(t, http.StatusInternalServerError, status)
	require.Contains(t, res.Error, "handler failed")

	// Without Run, OnWebhook handlers still work; HandleProviderWebhook runs one directly.
	wr, err := eng.HandleProviderWebhook(t.Context(), "hubspot", "contacts", "portal-1", json.RawMessage(`{"objectId":"11","name":"eleven"}`))
	require.NoError(t, err)
	require.Equal(t, nango.ModelResult{Added: 1}, wr.Models["Contact"])
	require.Equal(t, nango.TriggerWebhook, wr.Trigger)

	// Requests that are not webhooks.
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	big := bytes.Repeat([]byte("x"), 2<<20)
	resp, err = http.Post(srv.URL, "application/json", bytes.NewReader(big))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestProviderWebhookTriggersDebouncedRuns(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: quiet})
	require.NoError(t, err)
	started := make(chan string, 16)
	finished := make(chan string, 16)
	release := make(chan struct{})
	err = eng.RegisterIntegration(nango.Integration{Key: "hubspot", Webhooks: providerWebhooks(), Syncs: []nango.SyncConfig{{
		Name: "contacts", Frequency: "every hour", Models: []nango.Model{nango.ModelOf[contact]("Contact")},
		WebhookSubscriptions: []string{"*"},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			trigger := n.Trigger()
			started <- trigger
			defer func() { finished <- trigger }()
			if trigger == nango.TriggerWebhook {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}),
	}}})
	require.NoError(t, err)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "hubspot", ID: "portal-1"}))
	h, err := eng.ProviderWebhookHandler("hubspot")
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	ev := providerEvent{Portal: "portal-1", Type: "contact.creation", ObjectID: "1"}
	status, _ := postEvents(t, srv.URL, providerSecret, ev)
	require.Equal(t, http.StatusServiceUnavailable, status, "a triggered run needs the engine running")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	require.Equal(t, nango.TriggerSchedule, <-started, "a new connection's first run")
	<-finished

	status, res := postEvents(t, srv.URL, providerSecret, ev)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, res.Triggered)
	require.Equal(t, nango.TriggerWebhook, <-started)
	// A burst while it runs: one more run after it, not ten.
	for i := range 10 {
		status, _ := postEvents(t, srv.URL, providerSecret, providerEvent{Portal: "portal-1", Type: "contact.propertyChange", ObjectID: fmt.Sprint(i)})
		require.Equal(t, http.StatusOK, status)
	}
	release <- struct{}{}
	<-finished
	require.Equal(t, nango.TriggerWebhook, <-started)
	release <- struct{}{}
	<-finished
	cancel()
	require.NoError(t, <-done)
	runs, err := eng.RunHistory(t.Context(), nango.RunHistoryParams{Integration: "hubspot", Sync: "contacts", Connection: "portal-1"})
	require.NoError(t, err)
	var triggers []string
	for _, r := range runs {
		triggers = append(triggers, r.Trigger)
	}
	require.Equal(t, []string{nango.TriggerWebhook, nango.TriggerWebhook, nango.TriggerSchedule}, triggers)
}

func TestProviderWebhookConfig(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: quiet})
	require.NoError(t, err)
	sync := func() nango.SyncConfig {
		return nango.SyncConfig{Name: "s", Models: []nango.Model{{Name: "M"}}, Sync: nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil })}
	}
	sc := sync()
	sc.WebhookSubscriptions = []string{"*"}
	require.ErrorIs(t, eng.RegisterIntegration(nango.Integration{Key: "a", Syncs: []nango.SyncConfig{sc}}), nango.ErrInvalidConfig, "subscriptions without Webhooks")
	w := providerWebhooks()
	w.Verify = nil
	require.ErrorIs(t, eng.RegisterIntegration(nango.Integration{Key: "b", Webhooks: w, Syncs: []nango.SyncConfig{sync()}}), nango.ErrInvalidConfig, "no Verify")
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "c", Syncs: []nango.SyncConfig{sync()}}))
	_, err = eng.ProviderWebhookHandler("c")
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
	_, err = eng.ProviderWebhookHandler("nope")
	require.ErrorIs(t, err, nango.ErrUnknownIntegration)
	_, err = eng.HandleProviderWebhook(t.Context(), "c", "s", "x", nil)
	require.ErrorIs(t, err, nango.ErrInvalidConfig)
}
