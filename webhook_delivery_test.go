package nango_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
)

// hookServer is a webhook receiver on loopback that can be taken down and brought back on the
// same address, made slow, or made to answer any status.
type hookServer struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	answer   func(r *http.Request) (int, http.Header) // nil: 200
	slow     bool                                     // never answers: the sender times out
	reached  []hookRequest                            // every request the handler saw
	accepted []hookRequest                            // those it answered 2xx
	arrivals chan hookRequest                         // when set, every accepted request is sent here
	hold     chan struct{}                            // when set, each request waits for a token
	inflight int
	peak     int
}

type hookRequest struct {
	body   []byte
	header http.Header
}

func newHookServer(t *testing.T) *hookServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &hookServer{t: t, addr: ln.Addr().String()}
	h.serve(ln)
	t.Cleanup(h.down)
	return h
}

func (h *hookServer) url() string { return "http://" + h.addr + "/hooks?token=secret-in-query" }

func (h *hookServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(h.handle)}
	h.mu.Lock()
	h.srv, h.ln = srv, ln
	h.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: the sender gets connection refused. The
// listener is closed here, not left to the server, whose Serve may not have started yet: until
// it closed the listener, the kernel would accept connections and then reset them.
func (h *hookServer) down() {
	h.mu.Lock()
	srv, ln := h.srv, h.ln
	h.srv, h.ln = nil, nil
	h.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (h *hookServer) up() {
	h.t.Helper()
	ln, err := net.Listen("tcp", h.addr)
	require.NoError(h.t, err)
	h.serve(ln)
}

func (h *hookServer) set(slow bool, answer func(r *http.Request) (int, http.Header)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slow, h.answer = slow, answer
}

func (h *hookServer) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := hookRequest{body: body, header: r.Header.Clone()}
	h.mu.Lock()
	h.reached = append(h.reached, req)
	slow, answer, hold := h.slow, h.answer, h.hold
	h.inflight++
	h.peak = max(h.peak, h.inflight)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inflight--
		h.mu.Unlock()
	}()
	if slow {
		<-r.Context().Done()
		return
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	status := http.StatusOK
	if answer != nil {
		var hdr http.Header
		status, hdr = answer(r)
		for k, v := range hdr {
			w.Header()[k] = v
		}
	}
	if status >= 200 && status <= 299 {
		h.mu.Lock()
		h.accepted = append(h.accepted, req)
		arrivals := h.arrivals
		h.mu.Unlock()
		if arrivals != nil {
			arrivals <- req
		}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "receiver says "+strconv.Itoa(status))
}

func (h *hookServer) got() (reached, accepted []hookRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reached...), append([]hookRequest(nil), h.accepted...)
}

// hmacHex is the signature computed independently of the library.
func hmacHex(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// deliverUntilDone runs delivery rounds, moving the fake clock to the next due time between
// them, until nothing is pending.
func deliverUntilDone(t *testing.T, eng *nango.Engine, clock *nangotest.Clock) {
	t.Helper()
	for range 100 {
		_, err := eng.DeliverWebhooks(t.Context())
		require.NoError(t, err)
		st, err := eng.WebhookStats(t.Context())
		require.NoError(t, err)
		if st.Pending == 0 {
			return
		}
		if st.NextAttemptAt.After(clock.Now()) {
			clock.Set(st.NextAttemptAt)
		}
	}
	t.Fatal("webhooks still pending after 100 rounds")
}

func deliveries(t *testing.T, eng *nango.Engine, p nango.WebhookDeliveriesParams) []*nango.WebhookDelivery {
	t.Helper()
	ds, err := eng.WebhookDeliveries(t.Context(), p)
	require.NoError(t, err)
	return ds
}

func TestWebhookDeliveryThroughOutagesAndRestart(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	primary, secondary := newHookServer(t), newHookServer(t)
	primary.down()
	newKey, oldKey := []byte("whsk-new"), []byte("whsk-old")
	path := filepath.Join(t.TempDir(), "hooks.db")
	open := func() (*bolt.Store, *fixture) {
		st, err := bolt.Open(path, nil)
		require.NoError(t, err)
		f := newFixture(t, st, nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
			URLs: []string{primary.url(), secondary.url()}, SigningKeys: [][]byte{newKey, oldKey},
			LegacySignature: true, OnFailure: true,
			InitialBackoff: time.Second, MaxBackoff: time.Minute, Timeout: 300 * time.Millisecond,
		}})
		return st, f
	}
	st, f := open()

	// A run that adds three contacts: one webhook (one model changed) to each URL, in the outbox
	// with the run's end.
	res, err := f.run(t, saveAll(contacts(3, "a")), nil)
	require.NoError(t, err)
	require.Len(t, res.Webhooks, 2)
	pending := deliveries(t, f.eng, nango.WebhookDeliveriesParams{RunID: res.RunID})
	require.Len(t, pending, 2)
	for _, d := range pending {
		require.Equal(t, nango.WebhookPending, d.State)
		require.Equal(t, "Contact", d.Model)
		require.Equal(t, res.RunID, d.RunID)
	}

	// The primary receiver is down: its delivery waits; the secondary gets its own.
	rep, err := f.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	require.Equal(t, nango.DeliveryReport{Attempted: 2, Delivered: 1, Retrying: 1}, *rep)
	waiting := deliveries(t, f.eng, nango.WebhookDeliveriesParams{State: nango.WebhookPending})
	require.Len(t, waiting, 1)
	require.Equal(t, primary.url(), waiting[0].URL)
	require.Equal(t, 1, waiting[0].Attempts)
	require.Zero(t, waiting[0].LastStatus)
	require.Contains(t, waiting[0].LastError, "connection refused")
	require.NotContains(t, waiting[0].LastError, "secret-in-query", "errors never show the URL's query")
	require.True(t, waiting[0].NextAttemptAt.After(clock.Now()), "backoff")

	// Nothing is due before the backoff.
	rep, err = f.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	require.Zero(t, rep.Attempted)

	// Then it is up but slow: the attempt times out (the receiver saw the body, though).
	primary.up()
	primary.set(true, nil)
	clock.Set(waiting[0].NextAttemptAt)
	rep, err = f.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	require.Equal(t, nango.DeliveryReport{Attempted: 1, Retrying: 1}, *rep)
	d, err := f.eng.WebhookDelivery(t.Context(), waiting[0].ID)
	require.NoError(t, err)
	require.Equal(t, 2, d.Attempts)
	require.Contains(t, d.LastError, "deadline exceeded")

	// A failed run: one failure webhook per URL.
	failed, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		return errors.New("provider exploded")
	}, nil)
	require.Error(t, err)
	require.Len(t, failed.Webhooks, 2)

	// The engine is killed with all that undelivered; a new one opens the same file.
	require.NoError(t, st.Close())
	st, f = open()
	defer st.Close()
	stats, err := f.eng.WebhookStats(t.Context())
	require.NoError(t, err)
	require.Equal(t, 3, stats.Pending, "nothing lost across the restart")

	// The receiver is back: everything is delivered.
	primary.set(false, nil)
	deliverUntilDone(t, f.eng, clock)
	stats, err = f.eng.WebhookStats(t.Context())
	require.NoError(t, err)
	require.Equal(t, nango.WebhookStats{Delivered: 4}, *stats)

	all := deliveries(t, f.eng, nango.WebhookDeliveriesParams{})
	require.Len(t, all, 4)
	byID := map[string]*nango.WebhookDelivery{}
	for _, d := range all {
		byID[d.ID] = d
	}
	for _, srv := range []*hookServer{primary, secondary} {
		reached, accepted := srv.got()
		require.Len(t, accepted, 2, "one success and one failure webhook")
		seen := map[string]int{}
		for _, r := range reached {
			seen[r.header.Get(nango.WebhookDeliveryIDHeader)]++
		}
		for _, r := range accepted {
			id := r.header.Get(nango.WebhookDeliveryIDHeader)
			d := byID[id]
			require.NotNil(t, d, "delivery id %q", id)
			// At least once: a delivery reaches the receiver again only after an attempt
			// that got no answer, and never more often than it was attempted.
			require.LessOrEqual(t, seen[id], d.Attempts)
			require.Equal(t, string(d.Body), string(r.body), "the exact body")
			require.Equal(t, strconv.Itoa(d.Attempts), r.header.Get(nango.WebhookAttemptHeader))

			// Signatures, computed here with crypto/hmac and crypto/sha256.
			require.Equal(t, hmacHex(newKey, r.body), r.header.Get(nango.WebhookSignatureHeader), "signed with the first key")
			legacy := sha256.Sum256(append(append([]byte{}, newKey...), r.body...))
			require.Equal(t, hex.EncodeToString(legacy[:]), r.header.Get(nango.WebhookLegacySignatureHeader))
			require.Equal(t, "application/json", r.header.Get("Content-Type"))
			req, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(r.body))
			require.NoError(t, err)
			req.Header = r.header
			_, err = nango.VerifyWebhook(req, oldKey, newKey)
			require.NoError(t, err, "receivers accept the old and the new key during a rotation")
			req.Body = io.NopCloser(bytes.NewReader(r.body))
			_, err = nango.VerifyWebhook(req, oldKey)
			require.ErrorIs(t, err, nango.ErrInvalidWebhookSignature)

			var p nango.WebhookPayload
			require.NoError(t, json.Unmarshal(r.body, &p))
			require.Equal(t, "crm", p.ProviderConfigKey)
			require.Equal(t, "contacts", p.SyncName)
			require.Equal(t, "conn-1", p.ConnectionID)
			if p.Success {
				require.Equal(t, &nango.WebhookResults{Added: 3}, p.ResponseResults)
				require.Equal(t, nango.SyncTypeInitial, p.SyncType)
				require.Equal(t, res.StartedAt.Format(time.RFC3339Nano), p.ModifiedAfter)
			} else {
				require.Equal(t, "Contact,Note", p.Model, "one failure webhook names every model")
				require.Equal(t, nango.WebhookErrorScript, p.Error.Type)
				require.Contains(t, p.Error.Description, "provider exploded")
				require.Equal(t, failed.StartedAt.Format(time.RFC3339Nano), p.StartedAt)
				require.Equal(t, failed.EndedAt.Format(time.RFC3339Nano), p.FailedAt)
			}
		}
	}
	_, primaryAccepted := primary.got()
	primaryReached, _ := primary.got()
	require.Len(t, primaryReached, 3, "the success webhook reached it twice (the slow attempt and the good one), the failure once")
	require.Len(t, primaryAccepted, 2)
}

func TestWebhookRetryRules(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	srv := newHookServer(t)
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
		URLs: []string{srv.url()}, SigningKeys: [][]byte{[]byte("k")},
		InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, MaxAttempts: 3, Timeout: time.Second,
	}})
	n := 0
	newWebhook := func() *nango.WebhookDelivery {
		t.Helper()
		n++
		res, err := f.run(t, saveAll(contacts(1, "v"+strconv.Itoa(n))), nil)
		require.NoError(t, err)
		require.Len(t, res.Webhooks, 1)
		d, err := f.eng.WebhookDelivery(t.Context(), res.Webhooks[0])
		require.NoError(t, err)
		return d
	}
	attempt := func(id string) *nango.WebhookDelivery {
		t.Helper()
		_, err := f.eng.DeliverWebhooks(t.Context())
		require.NoError(t, err)
		d, err := f.eng.WebhookDelivery(t.Context(), id)
		require.NoError(t, err)
		return d
	}
	answer := func(status int, hdr http.Header) {
		srv.set(false, func(*http.Request) (int, http.Header) { return status, hdr })
	}

	for _, status := range []int{408, 429, 500, 502, 503} {
		answer(status, nil)
		d := attempt(newWebhook().ID)
		require.Equal(t, nango.WebhookPending, d.State, "status %d is retried", status)
		require.Equal(t, status, d.LastStatus)
		require.LessOrEqual(t, d.NextAttemptAt.Sub(clock.Now()), time.Second, "first backoff within InitialBackoff")
		answer(200, nil)
		deliverUntilDone(t, f.eng, clock)
	}

	// Retry-After is honoured beyond MaxBackoff.
	answer(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	d := attempt(newWebhook().ID)
	require.Equal(t, nango.WebhookPending, d.State)
	require.True(t, clock.Now().Add(120*time.Second).Equal(d.NextAttemptAt), "next attempt %s", d.NextAttemptAt)
	clock.Advance(119 * time.Second)
	answer(200, nil)
	require.Equal(t, 1, attempt(d.ID).Attempts, "not due before Retry-After")
	clock.Advance(time.Second)
	require.Equal(t, nango.WebhookDelivered, attempt(d.ID).State)

	// Other answers are final: the delivery is dead with its last error, until redelivered.
	for _, status := range []int{400, 401, 404, 410, 301} {
		hdr := http.Header{}
		if status == 301 {
			hdr.Set("Location", "http://127.0.0.1:1/elsewhere")
		}
		answer(status, hdr)
		d := attempt(newWebhook().ID)
		require.Equal(t, nango.WebhookDead, d.State, "status %d", status)
		require.Equal(t, 1, d.Attempts)
		require.Equal(t, status, d.LastStatus)
		require.Contains(t, d.LastError, http.StatusText(status))
		require.Contains(t, d.LastError, "receiver says "+strconv.Itoa(status), "with the answer's body")
	}
	dead := deliveries(t, f.eng, nango.WebhookDeliveriesParams{State: nango.WebhookDead})
	require.Len(t, dead, 5)
	answer(200, nil)
	again, err := f.eng.RedeliverWebhook(t.Context(), dead[0].ID)
	require.NoError(t, err)
	require.Equal(t, nango.WebhookPending, again.State)
	require.Zero(t, again.Attempts)
	require.Equal(t, nango.WebhookDelivered, attempt(dead[0].ID).State)
	count, err := f.eng.RedeliverDeadWebhooks(t.Context())
	require.NoError(t, err)
	require.Equal(t, 4, count)
	deliverUntilDone(t, f.eng, clock)
	require.Empty(t, deliveries(t, f.eng, nango.WebhookDeliveriesParams{State: nango.WebhookDead}))
	_, err = f.eng.RedeliverWebhook(t.Context(), "whd_nope")
	require.ErrorIs(t, err, nango.ErrUnknownWebhookDelivery)

	// Out of attempts.
	answer(503, nil)
	d = newWebhook()
	for range 3 {
		d = attempt(d.ID)
		if d.State == nango.WebhookPending {
			clock.Set(d.NextAttemptAt)
		}
	}
	require.Equal(t, nango.WebhookDead, d.State)
	require.Equal(t, 3, d.Attempts)
	require.Contains(t, d.LastError, "gave up after 3 attempts")
}

func TestWebhookMaxAge(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	srv := newHookServer(t)
	srv.set(false, func(*http.Request) (int, http.Header) { return 503, nil })
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
		URLs: []string{srv.url()}, SigningKeys: [][]byte{[]byte("k")},
		InitialBackoff: time.Minute, MaxBackoff: time.Hour, MaxAge: 90 * time.Second,
	}})
	res, err := f.run(t, saveAll(contacts(1, "a")), nil)
	require.NoError(t, err)
	deliverUntilDone(t, f.eng, clock)
	d, err := f.eng.WebhookDelivery(t.Context(), res.Webhooks[0])
	require.NoError(t, err)
	require.Equal(t, nango.WebhookDead, d.State)
	require.Contains(t, d.LastError, "gave up after")
	require.LessOrEqual(t, d.LastAttemptAt.Sub(d.QueuedAt), 90*time.Second)
}

func TestWebhookOptions(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	global, own := newHookServer(t), newHookServer(t)
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
		URLs: []string{global.url()}, SigningKeys: [][]byte{[]byte("k")}, AlwaysSend: true,
	}})
	// AlwaysSend: a webhook per model, even without changes.
	res, err := f.run(t, func(context.Context, *nango.Nango) error { return nil }, nil)
	require.NoError(t, err)
	require.Len(t, res.Webhooks, 2)
	// Without OnFailure, a failed run sends nothing.
	res, err = f.run(t, func(context.Context, *nango.Nango) error { return errors.New("boom") }, nil)
	require.Error(t, err)
	require.Empty(t, res.Webhooks)

	// A connection with its own URL gets its webhooks there only.
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "conn-1", WebhookURLs: []string{own.url()}}))
	res, err = f.run(t, saveAll(contacts(1, "a")), nil)
	require.NoError(t, err)
	require.Len(t, res.Webhooks, 2)
	for _, id := range res.Webhooks {
		d, err := f.eng.WebhookDelivery(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, own.url(), d.URL)
	}
	deliverUntilDone(t, f.eng, clock)
	_, accepted := own.got()
	require.Len(t, accepted, 2)

	err = f.eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "conn-2", WebhookURLs: []string{"ftp://x"}})
	require.ErrorContains(t, err, "not an absolute http or https URL")

	// Configuration errors.
	for _, c := range []*nango.WebhookConfig{
		{URLs: []string{global.url()}},
		{SigningKeys: [][]byte{{}}},
		{SigningKeys: [][]byte{[]byte("k")}, URLs: []string{"/relative"}},
		{SigningKeys: [][]byte{[]byte("k")}, MaxAttempts: -1},
		{SigningKeys: [][]byte{[]byte("k")}, InitialBackoff: time.Hour, MaxBackoff: time.Minute},
		{SigningKeys: [][]byte{[]byte("k")}, DeadRetentionCount: -1},
	} {
		_, err := nango.NewEngine(memory.New(), &nango.Config{Webhooks: c})
		require.ErrorIs(t, err, nango.ErrInvalidConfig, "%+v", c)
	}
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = eng.DeliverWebhooks(t.Context())
	require.ErrorIs(t, err, nango.ErrWebhooksDisabled)
}

func TestWebhookConcurrencyPerEndpoint(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	srv := newHookServer(t)
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
		URLs: []string{srv.url()}, SigningKeys: [][]byte{[]byte("k")}, MaxConcurrencyPerEndpoint: 2,
	}})
	const runs = 8
	for i := range runs {
		_, err := f.run(t, saveAll(contacts(1, "v"+strconv.Itoa(i))), nil)
		require.NoError(t, err)
	}
	arrivals := make(chan hookRequest)
	hold := make(chan struct{})
	srv.mu.Lock()
	srv.arrivals, srv.hold = arrivals, hold
	srv.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := f.eng.DeliverWebhooks(context.Background())
		done <- err
	}()
	for range runs {
		hold <- struct{}{} // let one request answer
		<-arrivals
	}
	require.NoError(t, <-done)
	srv.mu.Lock()
	peak := srv.peak
	srv.mu.Unlock()
	require.LessOrEqual(t, peak, 2, "never more than two requests in flight to one URL")
	st, err := f.eng.WebhookStats(t.Context())
	require.NoError(t, err)
	require.Equal(t, runs, st.Delivered)
}

func TestWebhookWorkerStartedByRun(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	srv.down()
	arrivals := make(chan hookRequest, 16)
	srv.mu.Lock()
	srv.arrivals = arrivals
	srv.mu.Unlock()
	path := filepath.Join(t.TempDir(), "worker.db")
	open := func() (*bolt.Store, *nango.Engine) {
		st, err := bolt.Open(path, nil)
		require.NoError(t, err)
		f := newFixture(t, st, nango.SyncConfig{Frequency: "every hour"}, &nango.Config{Webhooks: &nango.WebhookConfig{
			URLs: []string{srv.url()}, SigningKeys: [][]byte{[]byte("k")},
			InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Timeout: 5 * time.Second,
		}})
		f.mu.Lock()
		f.exec = saveAll(contacts(2, "a"))
		f.mu.Unlock()
		return st, f.eng
	}
	st, eng := open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	// The scheduler runs the new connection's sync at once; its webhook fails while the
	// receiver is down, and is retried in the background.
	require.Eventually(t, func() bool {
		ds, err := eng.WebhookDeliveries(context.Background(), nango.WebhookDeliveriesParams{})
		return err == nil && len(ds) == 1 && ds[0].Attempts >= 2
	}, time.Minute, time.Millisecond) // a bound on a hang, not a speed
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, st.Close())

	// A new process; the receiver is back.
	srv.up()
	st, eng = open()
	defer st.Close()
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- eng.Run(ctx) }()
	select {
	case r := <-arrivals:
		var p nango.WebhookPayload
		require.NoError(t, json.Unmarshal(r.body, &p))
		require.Equal(t, &nango.WebhookResults{Added: 2}, p.ResponseResults)
		require.Equal(t, hmacHex([]byte("k"), r.body), r.header.Get(nango.WebhookSignatureHeader))
	case <-time.After(time.Minute): // a bound on a hang, not a speed
		t.Fatal("the webhook was not delivered after the restart")
	}
	// The receiver got it before it answered; the outcome is recorded once it has.
	require.Eventually(t, func() bool {
		ds, err := eng.WebhookDeliveries(context.Background(), nango.WebhookDeliveriesParams{State: nango.WebhookDelivered})
		return err == nil && len(ds) == 1
	}, time.Minute, time.Millisecond) // a bound on a hang, not a speed
	cancel()
	require.NoError(t, <-done)
}

func TestWebhookReceiver(t *testing.T) {
	t.Parallel()
	key := []byte("receiver-key")
	var got []*nango.WebhookPayload
	var ids []string
	fail := false
	h := &nango.WebhookReceiver{Keys: [][]byte{[]byte("older"), key}, MaxBytes: 1024, Logger: quiet,
		Handle: func(_ context.Context, p *nango.WebhookPayload, id string) error {
			if fail {
				return errors.New("database down")
			}
			got = append(got, p)
			ids = append(ids, id)
			return nil
		}}
	body := []byte(`{"connectionId":"c","from":"nango","model":"Contact","success":true,"type":"sync"}`)
	send := func(method string, body []byte, sig string) int {
		req, err := http.NewRequest(method, "/", bytes.NewReader(body))
		require.NoError(t, err)
		if sig != "" {
			req.Header.Set(nango.WebhookSignatureHeader, sig)
		}
		req.Header.Set(nango.WebhookDeliveryIDHeader, "whd_1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	require.Equal(t, http.StatusNoContent, send(http.MethodPost, body, hmacHex(key, body)))
	require.Len(t, got, 1)
	require.Equal(t, "Contact", got[0].Model)
	require.Equal(t, []string{"whd_1"}, ids)

	require.Equal(t, http.StatusUnauthorized, send(http.MethodPost, body, hmacHex([]byte("wrong"), body)))
	require.Equal(t, http.StatusUnauthorized, send(http.MethodPost, body, ""))
	require.Equal(t, http.StatusUnauthorized, send(http.MethodPost, append(body, ' '), hmacHex(key, body)))
	require.Equal(t, http.StatusMethodNotAllowed, send(http.MethodGet, body, hmacHex(key, body)))
	big := make([]byte, 2048)
	require.Equal(t, http.StatusRequestEntityTooLarge, send(http.MethodPost, big, hmacHex(key, big)))
	notJSON := []byte("hello")
	require.Equal(t, http.StatusBadRequest, send(http.MethodPost, notJSON, hmacHex(key, notJSON)))
	require.Len(t, got, 1, "none of those reached Handle")
	fail = true
	require.Equal(t, http.StatusInternalServerError, send(http.MethodPost, body, hmacHex(key, body)), "the sender will retry")
}

// Changes committed by runs that never announced them (a failed run, a run whose process died)
// are covered by the next successful run's webhooks: modifiedAfter reaches back to the start
// of the earliest such run, and a model the successful run did not change gets a webhook too.
func TestWebhooksCoverRunsThatDidNotAnnounce(t *testing.T) {
	t.Parallel()
	clock := nangotest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	hooks := newHookServer(t)
	st := memory.New()
	f := newFixture(t, st, nango.SyncConfig{}, &nango.Config{Clock: clock, Webhooks: &nango.WebhookConfig{
		URLs: []string{hooks.url()}, SigningKeys: [][]byte{[]byte("k")},
	}})
	payloads := func(res *nango.RunResult) map[string]*nango.WebhookPayload {
		out := map[string]*nango.WebhookPayload{}
		for _, id := range res.Webhooks {
			d, err := f.eng.WebhookDelivery(t.Context(), id)
			require.NoError(t, err)
			p, err := d.Payload()
			require.NoError(t, err)
			out[p.Model] = p
		}
		return out
	}
	res, err := f.run(t, saveAll(contacts(2, "a")), nil)
	require.NoError(t, err)
	require.Len(t, payloads(res), 1)

	// A run saves, then fails: no webhook (OnFailure is off).
	clock.Advance(time.Minute)
	failed, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		if err := n.BatchSave(ctx, contacts(3, "b"), "Contact"); err != nil {
			return err
		}
		return errors.New("the provider went away")
	}, nil)
	require.Error(t, err)
	require.Empty(t, failed.Webhooks)

	// The next run changes nothing, and still announces what the failed run wrote.
	clock.Advance(time.Minute)
	res, err = f.run(t, func(context.Context, *nango.Nango) error { return nil }, nil)
	require.NoError(t, err)
	got := payloads(res)
	require.Contains(t, got, "Contact")
	require.Equal(t, failed.StartedAt.UTC().Format(time.RFC3339Nano), got["Contact"].ModifiedAfter)
	require.Equal(t, &nango.WebhookResults{}, got["Contact"].ResponseResults, "the counts are this run's")
	page, err := f.eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: "crm", Connection: "conn-1", Model: "Contact",
		ModifiedAfter: failed.StartedAt})
	require.NoError(t, err)
	require.Len(t, page.Records, 3, "reading from modifiedAfter finds the failed run's changes")

	// Once announced, the window is the run's own again.
	clock.Advance(time.Minute)
	res, err = f.run(t, saveAll(contacts(1, "c")), nil)
	require.NoError(t, err)
	require.Equal(t, res.StartedAt.UTC().Format(time.RFC3339Nano), payloads(res)["Contact"].ModifiedAfter)

	// A run whose process died stays RUNNING in the history; the next success covers it.
	clock.Advance(time.Minute)
	ghost := &store.Run{ID: "run_000000000000ghost", Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "conn-1"},
		State: store.RunRunning, StartedAt: store.Timestamp(clock.Now())}
	require.NoError(t, st.RunInsert(t.Context(), ghost))
	_, err = st.RecordsWrite(t.Context(), &store.RecordsWriteParams{
		Stream: store.Stream{Integration: "crm", Connection: "conn-1", Model: "Contact"}, Now: clock.Now(),
		Records: []store.RecordInput{{ID: "ghost-1", Data: []byte(`{"id":"ghost-1","name":"g"}`)}},
	})
	require.NoError(t, err)
	clock.Advance(time.Minute)
	res, err = f.run(t, func(context.Context, *nango.Nango) error { return nil }, nil)
	require.NoError(t, err)
	require.Equal(t, ghost.StartedAt.UTC().Format(time.RFC3339Nano), payloads(res)["Contact"].ModifiedAfter)
}
