package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango/internal/clock"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// queue writes entries to the outbox of st, due now, in the order given.
func queue(t *testing.T, st store.Store, endpoints ...string) {
	t.Helper()
	now := store.Timestamp(time.Now())
	run := &store.Run{ID: "run-1", Key: store.SyncKey{Integration: "i", Sync: "s", Connection: "c"}, State: store.RunRunning, StartedAt: now}
	require.NoError(t, st.RunInsert(t.Context(), run))
	run.State, run.EndedAt = store.RunSucceeded, now
	var entries []*store.OutboxEntry
	for i, u := range endpoints {
		entries = append(entries, &store.OutboxEntry{ID: fmt.Sprintf("whd_%03d", i), Endpoint: u, Body: []byte(`{}`),
			RunID: run.ID, Key: run.Key, Model: "M", NextAttemptAt: now.Add(time.Duration(i) * time.Microsecond)})
	}
	require.NoError(t, st.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: entries}))
}

func config(client *http.Client) Config {
	return Config{Owner: "test", MaxAttempts: 3, MaxAge: time.Hour, InitialBackoff: time.Second, MaxBackoff: time.Minute,
		Timeout: time.Hour, MaxConcurrencyPerEndpoint: 2, Client: client, Retention: -1, DeadRetention: -1,
		Header: func(h http.Header, en *store.OutboxEntry, attempt int) {
			h.Set("X-Delivery", en.ID)
			h.Set("X-Attempt", fmt.Sprint(attempt))
		}}
}

// An endpoint that never answers holds up only its own webhooks: the worker passes over it
// once it has as many attempts in flight as it may, and delivers the others' webhooks queued
// behind it.
func TestSilentEndpointDoesNotHoldUpOthers(t *testing.T) {
	release := make(chan struct{})
	var silentInFlight atomic.Int32
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		silentInFlight.Add(1)
		<-release
	}))
	defer silent.Close()
	defer close(release)
	const fastCount = 40
	delivered := make(chan string, fastCount)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered <- r.Header.Get("X-Delivery")
	}))
	defer fast.Close()

	st := memory.New()
	var endpoints []string
	for range 30 { // the silent endpoint's webhooks come first
		endpoints = append(endpoints, silent.URL)
	}
	for range fastCount {
		endpoints = append(endpoints, fast.URL)
	}
	queue(t, st, endpoints...)

	w := New(config(nil), st, clock.System{}, slog.New(slog.DiscardHandler))
	w.cfg.Client = http.DefaultClient
	ctx, cancel := context.WithCancel(t.Context())
	stop := w.Start(ctx)
	seen := map[string]bool{}
	timeout := time.After(time.Minute) // a bound on a hang, not a measure of speed
	for len(seen) < fastCount {
		select {
		case id := <-delivered:
			seen[id] = true
		case <-timeout:
			t.Fatalf("only %d of %d webhooks to the answering endpoint were delivered", len(seen), fastCount)
		}
	}
	require.LessOrEqual(t, silentInFlight.Load(), int32(2), "the silent endpoint never has more attempts than its limit")
	cancel()
	stop()
}

// The newest RetentionCount delivered webhooks are kept, whatever their age; the prune removes
// the rest in short writes until none is left beyond the count.
func TestPruneKeepsTheNewestByCount(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	st := memory.New()
	const queued, keep = store.DefaultPruneLimit + 205, 100
	endpoints := make([]string, queued)
	for i := range endpoints {
		endpoints[i] = ok.URL
	}
	queue(t, st, endpoints...)
	cfg := config(http.DefaultClient)
	cfg.MaxConcurrencyPerEndpoint = 16
	cfg.RetentionCount = keep
	w := New(cfg, st, clock.System{}, slog.New(slog.DiscardHandler))
	rep, err := w.Round(t.Context())
	require.NoError(t, err)
	require.Equal(t, queued, rep.Delivered)

	w.prune(t.Context())
	stats, err := st.OutboxStats(t.Context())
	require.NoError(t, err)
	require.Equal(t, keep, stats.Delivered, "more than one store call's worth was pruned, down to the count")
}
