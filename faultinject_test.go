package nango_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// Fault injection: a sync of five pages from a loopback provider, checkpointed per page, with
// TrackDeletes and webhooks, on a bbolt file wrapped to fail chosen writes as a full disk does.
// Each fault strikes at each step it can; while it lasts the runs fail with an error that
// names it, and leave records and checkpoint consistent; once it clears the next run completes
// the records, the checkpoint is at the end and the webhooks are delivered.

const (
	faultPages    = 5
	faultPageSize = 10
)

// errDiskFull is what a write to a full disk returns.
var errDiskFull = &os.PathError{Op: "write", Path: "syncs.db", Err: syscall.ENOSPC}

// faultyStore fails the calls of one method from its n-th call on, until cleared.
type faultyStore struct {
	store.Store

	mu     sync.Mutex
	method string
	from   int
	calls  int
	hits   int
}

func (s *faultyStore) set(method string, from int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.method, s.from, s.calls = method, from, 0
}

func (s *faultyStore) fail(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method != s.method {
		return nil
	}
	s.calls++
	if s.calls < s.from {
		return nil
	}
	s.hits++
	return fmt.Errorf("bolt: %s: %w", method, errDiskFull)
}

func (s *faultyStore) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	if err := s.fail("RecordsWrite"); err != nil {
		return nil, err
	}
	return s.Store.RecordsWrite(ctx, p)
}

func (s *faultyStore) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if err := s.fail("RecordsSweep"); err != nil {
		return nil, err
	}
	return s.Store.RecordsSweep(ctx, p)
}

func (s *faultyStore) RunInsert(ctx context.Context, r *store.Run) error {
	if err := s.fail("RunInsert"); err != nil {
		return err
	}
	return s.Store.RunInsert(ctx, r)
}

func (s *faultyStore) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if err := s.fail("RunFinish"); err != nil {
		return err
	}
	return s.Store.RunFinish(ctx, p)
}

func (s *faultyStore) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	if err := s.fail("LeaseAcquire"); err != nil {
		return nil, err
	}
	return s.Store.LeaseAcquire(ctx, p)
}

func (s *faultyStore) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	if err := s.fail("OutboxSettle"); err != nil {
		return nil, err
	}
	return s.Store.OutboxSettle(ctx, p)
}

// faultProvider is the loopback provider: GET /contacts?page=N answers a page, unless a fault
// is set for that page.
type faultProvider struct {
	mu      sync.Mutex
	page    int    // the page the fault strikes
	mode    string // "", "500", "429 once", "hang"
	pass    int    // changes every payload when it grows
	release chan struct{}
}

func (p *faultProvider) set(page int, mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.page, p.mode = page, mode
}

func (p *faultProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	p.mu.Lock()
	mode := ""
	if page == p.page {
		mode = p.mode
		if mode == "429 once" {
			p.mode = ""
		}
	}
	pass := p.pass
	p.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	case "429 once":
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
		return
	case "hang":
		select {
		case <-r.Context().Done():
		case <-p.release:
		}
		return
	}
	var out []map[string]any
	for i := range faultPageSize {
		out = append(out, map[string]any{"id": fmt.Sprintf("p%d-%d", page, i), "pass": pass})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// faultReceiver is the webhook receiver: it keeps the modifiedAfter of each success webhook, or
// never answers while hang is set.
type faultReceiver struct {
	mu      sync.Mutex
	hang    bool
	froms   []time.Time
	release chan struct{}
}

func (rc *faultReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	hang := rc.hang
	rc.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-rc.release:
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	var p nango.WebhookPayload
	if json.Unmarshal(body, &p) != nil || !nango.VerifyWebhookSignature(body, r.Header.Get(nango.WebhookSignatureHeader), []byte("fault-key")) {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	if from, err := time.Parse(time.RFC3339Nano, p.ModifiedAfter); p.Success && err == nil {
		rc.mu.Lock()
		rc.froms = append(rc.froms, from)
		rc.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

type faultCP struct {
	Pass int `json:"pass"`
	Page int `json:"page"`
}

// lockedBuffer collects the engine's logs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
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

type faultEnv struct {
	t    *testing.T
	logs *lockedBuffer
	eng  *nango.Engine
	st   *faultyStore
	raw  *bolt.Store
	clk  *nangotest.Clock
	prov *faultProvider
	recv *faultReceiver
	// lastDelivered is when the last recovery had every webhook delivered.
	lastDelivered time.Time
}

func newFaultEnv(t *testing.T) *faultEnv {
	raw, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), &bolt.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	env := &faultEnv{t: t, raw: raw, logs: &lockedBuffer{}, st: &faultyStore{Store: raw}, clk: nangotest.NewClock(nangotest.DefaultStart),
		prov: &faultProvider{release: make(chan struct{})}, recv: &faultReceiver{release: make(chan struct{})}}
	provSrv := httptest.NewServer(env.prov)
	recvSrv := httptest.NewServer(env.recv)
	t.Cleanup(func() {
		close(env.prov.release)
		close(env.recv.release)
		provSrv.Close()
		recvSrv.Close()
	})
	env.eng, err = nango.NewEngine(env.st, &nango.Config{
		Logger: slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelWarn})), Clock: env.clk,
		Webhooks: &nango.WebhookConfig{URLs: []string{recvSrv.URL}, SigningKeys: [][]byte{[]byte("fault-key")},
			Timeout: 200 * time.Millisecond, InitialBackoff: time.Second, MaxBackoff: time.Minute},
	})
	require.NoError(t, err)
	require.NoError(t, env.eng.RegisterIntegration(nango.Integration{
		Key: "crm", BaseURL: provSrv.URL,
		HTTP: &nango.HTTPConfig{Timeout: 200 * time.Millisecond,
			Retry: &nango.HTTPRetry{MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}},
		Syncs: []nango.SyncConfig{{
			Name: "contacts", ManualStart: true, TrackDeletes: true, Models: []nango.Model{{Name: "Contact"}},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				var cp faultCP
				found, err := n.GetCheckpoint(ctx, &cp)
				if err != nil {
					return err
				}
				if !found || cp.Page >= faultPages {
					cp = faultCP{Pass: cp.Pass + 1}
				}
				for page := cp.Page; page < faultPages; page++ {
					resp, err := n.Get(ctx, &nango.Request{Path: "/contacts", Query: map[string][]string{"page": {strconv.Itoa(page)}}})
					if err != nil {
						return err
					}
					var recs []map[string]any
					if err := resp.Decode(&recs); err != nil {
						return err
					}
					for _, r := range recs {
						r["sync_pass"] = cp.Pass
					}
					if err := n.BatchSave(ctx, recs, "Contact", nango.WithCheckpoint(faultCP{Pass: cp.Pass, Page: page + 1})); err != nil {
						return err
					}
				}
				return nil
			}),
		}},
	}))
	require.NoError(t, env.eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "c1"}))
	return env
}

// run runs the sync once.
func (env *faultEnv) run() (*nango.RunResult, error) {
	env.clk.Advance(time.Minute) // past any lease of a run whose end could not be recorded
	return env.eng.RunSync(env.t.Context(), "crm", "contacts", "c1", nil)
}

// consistent checks that the checkpoint is where the records are.
func (env *faultEnv) consistent(what string) faultCP {
	t := env.t
	t.Helper()
	var cp faultCP
	c, err := env.raw.CheckpointGet(t.Context(), store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "c1"})
	if err == nil {
		require.NoError(t, json.Unmarshal(c.Data, &cp))
	} else {
		require.ErrorIs(t, err, store.ErrNotFound, what)
	}
	page, err := env.eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: "crm", Connection: "c1", Model: "Contact", Limit: 1000})
	require.NoError(t, err, what)
	pass := map[string]int{}
	for _, r := range page.Records {
		var d struct {
			Pass int `json:"sync_pass"`
		}
		require.NoError(t, r.Decode(&d))
		pass[r.ID] = d.Pass
		require.True(t, r.Metadata.DeletedAt.IsZero(), "%s: %s deleted", what, r.ID)
	}
	for p := range faultPages {
		for i := range faultPageSize {
			id := fmt.Sprintf("p%d-%d", p, i)
			if p < cp.Page {
				require.Equal(t, cp.Pass, pass[id], "%s: checkpoint %+v is ahead of record %s", what, cp, id)
			} else if cp.Pass > 0 {
				require.Less(t, pass[id], cp.Pass, "%s: checkpoint %+v is behind record %s", what, cp, id)
			} else {
				require.Empty(t, pass, "%s: records without a checkpoint", what)
			}
		}
	}
	return cp
}

// recover clears every fault, runs the sync to completion and delivers the webhooks, and
// checks that nothing is missing.
func (env *faultEnv) recover(what string) {
	t := env.t
	t.Helper()
	env.st.set("", 0)
	env.prov.set(-1, "")
	env.recv.mu.Lock()
	env.recv.hang = false
	env.recv.froms = nil
	env.recv.mu.Unlock()
	_, err := env.run()
	require.NoError(t, err, "%s: the run after the fault cleared", what)
	cp := env.consistent(what + ", recovered")
	require.Equal(t, faultPages, cp.Page, "%s: the checkpoint is at the end", what)
	// Deliver until nothing is due; backoffs pass on the fake clock.
	for range 20 {
		_, err := env.eng.DeliverWebhooks(t.Context())
		require.NoError(t, err, what)
		ws, err := env.eng.WebhookStats(t.Context())
		require.NoError(t, err)
		require.Zero(t, ws.Dead, "%s: dead webhooks", what)
		if ws.Pending == 0 {
			break
		}
		env.clk.Advance(time.Minute)
	}
	ws, err := env.eng.WebhookStats(t.Context())
	require.NoError(t, err)
	require.Zero(t, ws.Pending, "%s: webhooks still pending", what)
	// Every record of the last pass is in a delivered webhook's window.
	page, err := env.eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: "crm", Connection: "c1", Model: "Contact", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Records, faultPages*faultPageSize, "%s: records complete", what)
	env.recv.mu.Lock()
	froms := env.recv.froms
	env.recv.mu.Unlock()
	for _, r := range page.Records {
		covered := false
		for _, f := range froms {
			if !f.After(r.Metadata.LastModifiedAt) {
				covered = true
			}
		}
		if !covered && r.Metadata.LastModifiedAt.After(env.lastDelivered) {
			t.Fatalf("%s: no delivered webhook covers %s modified at %s (windows from %v)", what, r.ID, r.Metadata.LastModifiedAt, froms)
		}
	}
	env.lastDelivered = env.clk.Now()
}

func TestFaultInjection(t *testing.T) {
	env := newFaultEnv(t)
	_, err := env.run()
	require.NoError(t, err, "the first run")
	env.recover("the first run")
	faults := 0

	// Store writes fail as on a full disk, at each of their calls in a run.
	for _, m := range []struct {
		method string
		calls  int
	}{{"RecordsWrite", faultPages}, {"RecordsSweep", 1}, {"RunInsert", 1}, {"RunFinish", 1}, {"LeaseAcquire", 1}} {
		for n := 1; n <= m.calls; n++ {
			what := fmt.Sprintf("a full disk at %s call %d", m.method, n)
			env.st.set(m.method, n)
			res, err := env.run()
			require.Error(t, err, what)
			require.ErrorIs(t, err, syscall.ENOSPC, what)
			require.Contains(t, err.Error(), "no space left on device", what)
			if res != nil {
				require.Equal(t, nango.RunFailed, res.State, what)
			}
			// It stays full: the next run fails the same way, and changes nothing.
			env.st.set(m.method, 1)
			_, err = env.run()
			require.ErrorIs(t, err, syscall.ENOSPC, what+", again")
			env.consistent(what)
			env.recover(what)
			faults++
		}
	}

	// The provider fails at each page: errors, a rate limit, no answer at all.
	for page := range faultPages {
		for _, mode := range []string{"500", "429 once", "hang"} {
			what := fmt.Sprintf("the provider answering %s at page %d", mode, page)
			env.prov.set(page, mode)
			env.prov.mu.Lock()
			env.prov.pass++ // every record changes
			env.prov.mu.Unlock()
			res, err := env.run()
			switch mode {
			case "429 once":
				require.NoError(t, err, "%s: the run waits and goes on", what)
				require.Contains(t, env.clk.Slept(), 7*time.Second, "%s: Retry-After is honoured", what)
			case "500":
				require.Error(t, err, what)
				var apiErr *nango.APIError
				require.ErrorAs(t, err, &apiErr, what)
				require.Equal(t, http.StatusInternalServerError, apiErr.StatusCode, what)
				require.Equal(t, nango.RunFailed, res.State, what)
			case "hang":
				require.ErrorIs(t, err, nango.ErrTimeout, what)
				require.Equal(t, nango.RunFailed, res.State, what)
			}
			env.consistent(what)
			env.recover(what)
			faults++
		}
	}

	// A receiver that never answers: deliveries time out and are retried, nothing else stops.
	env.recv.mu.Lock()
	env.recv.hang = true
	env.recv.mu.Unlock()
	env.prov.mu.Lock()
	env.prov.pass++
	env.prov.mu.Unlock()
	_, err = env.run()
	require.NoError(t, err, "a run while the receiver hangs")
	rep, err := env.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	require.Positive(t, rep.Retrying, "a webhook that timed out is retried later")
	require.Zero(t, rep.Delivered)
	// A full disk while settling the delivery: the webhook stays pending, it is not lost.
	env.st.set("OutboxSettle", 1)
	env.clk.Advance(time.Hour)
	_, err = env.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err, "a round of delivery goes on when an outcome cannot be recorded")
	require.Regexp(t, `recording webhook outcome failed.*no space left on device`, env.logs.String(), "and says why in the log")
	ws, err := env.eng.WebhookStats(t.Context())
	require.NoError(t, err)
	require.Positive(t, ws.Pending, "the webhook is still pending")
	env.clk.Advance(time.Hour) // past the claim of the attempt that could not be settled
	env.recover("a receiver that never answers, then a full disk")
	faults += 2

	t.Logf("%d faults injected (%d store calls failed), each followed by a recovery", faults, env.st.hits)
}
