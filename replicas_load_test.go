package nango_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/internal/scheduler"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

var errPartitioned = errors.New("test: the engine lost its store (partitioned)")

// partition is one engine's view of a shared store that can be cut off: while cut, every
// write, lease call, run record and claim fails, as for a process that hangs, is partitioned or
// was killed; its leases are neither renewed nor released.
type partition struct {
	store.Store
	cut atomic.Bool
}

func (p *partition) err() error {
	if p.cut.Load() {
		return errPartitioned
	}
	return nil
}

func (p *partition) RecordsWrite(ctx context.Context, q *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.RecordsWrite(ctx, q)
}
func (p *partition) RecordsSweep(ctx context.Context, q *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.RecordsSweep(ctx, q)
}
func (p *partition) CheckpointGet(ctx context.Context, k store.CheckpointKey) (*store.Checkpoint, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.CheckpointGet(ctx, k)
}
func (p *partition) CheckpointPut(ctx context.Context, q *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.CheckpointPut(ctx, q)
}
func (p *partition) RunInsert(ctx context.Context, r *store.Run) error {
	if err := p.err(); err != nil {
		return err
	}
	return p.Store.RunInsert(ctx, r)
}
func (p *partition) RunUpdate(ctx context.Context, r *store.Run) error {
	if err := p.err(); err != nil {
		return err
	}
	return p.Store.RunUpdate(ctx, r)
}
func (p *partition) RunFinish(ctx context.Context, q *store.RunFinishParams) error {
	if err := p.err(); err != nil {
		return err
	}
	return p.Store.RunFinish(ctx, q)
}
func (p *partition) RunList(ctx context.Context, q *store.RunListParams) ([]*store.Run, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.RunList(ctx, q)
}
func (p *partition) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.ConnectionGet(ctx, integration, id)
}
func (p *partition) LeaseAcquire(ctx context.Context, q *store.LeaseAcquireParams) (*store.Lease, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.LeaseAcquire(ctx, q)
}
func (p *partition) LeaseRenew(ctx context.Context, q *store.LeaseRenewParams) (*store.Lease, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.LeaseRenew(ctx, q)
}
func (p *partition) LeaseRelease(ctx context.Context, l *store.Lease) error {
	if err := p.err(); err != nil {
		return err
	}
	return p.Store.LeaseRelease(ctx, l)
}
func (p *partition) SchedulePut(ctx context.Context, s *store.Schedule) error {
	if err := p.err(); err != nil {
		return err
	}
	return p.Store.SchedulePut(ctx, s)
}
func (p *partition) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.ScheduleUpdate(ctx, key, update)
}
func (p *partition) OutboxClaim(ctx context.Context, q *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.OutboxClaim(ctx, q)
}
func (p *partition) OutboxSettle(ctx context.Context, q *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	if err := p.err(); err != nil {
		return nil, err
	}
	return p.Store.OutboxSettle(ctx, q)
}
func (p *partition) Signal(ctx context.Context, sig store.Signal) error {
	if err := p.err(); err != nil {
		return err
	}
	if sg, ok := p.Store.(store.Signaler); ok {
		return sg.Signal(ctx, sig)
	}
	return nil
}
func (p *partition) Signals(ctx context.Context) (<-chan store.Signal, error) {
	if sg, ok := p.Store.(store.Signaler); ok {
		return sg.Signals(ctx)
	}
	return nil, nil // none: a nil channel never receives
}

// interval is one run of the ledger sync: which engine ran it for which connection, when.
type interval struct {
	engine     int
	conn       string
	start, end time.Time
	committed  bool
}

// ledger is a sync that takes runTime of (fake) time and then appends one record, numbered
// after its checkpoint, in the same commit as the checkpoint: a lost or duplicated run shows
// as a gap or a repeat in the numbers.
type ledger struct {
	mu        sync.Mutex
	runs      []interval
	runTime   time.Duration
	held      map[int]chan struct{} // engine -> runs of that engine wait for it after runTime
	committed atomic.Int64
}

func (l *ledger) forEngine(i int) nango.Sync {
	return nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
		l.mu.Lock()
		idx := len(l.runs)
		l.runs = append(l.runs, interval{engine: i, conn: n.ConnectionID(), start: time.Now()})
		hold := l.held[i]
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.runs[idx].end = time.Now()
			l.mu.Unlock()
		}()
		var cp struct{ N int }
		if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
			return err
		}
		select {
		case <-time.After(l.runTime):
		case <-ctx.Done():
			return ctx.Err()
		}
		if hold != nil {
			<-hold // a hung engine: it wakes up after others took its work over
		}
		cp.N++
		err := n.BatchSave(ctx, []map[string]any{{"id": fmt.Sprint(cp.N)}}, "Thing", nango.WithCheckpoint(cp))
		if err == nil {
			l.mu.Lock()
			l.runs[idx].committed = true
			l.mu.Unlock()
			l.committed.Add(1)
		}
		return err
	})
}

// receiver is a webhook endpoint in memory: it records the delivery ids it got.
type receiver struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *receiver) RoundTrip(req *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.seen[req.Header.Get(nango.WebhookDeliveryIDHeader)]++
	r.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, nil
}

// Three engines share one store with 200 connections synced every minute. No connection ever
// runs on two engines at once; every slot of every connection runs once, on time. One engine
// then hangs mid-run (it stops renewing its leases and never releases them): the others take
// its runs over within the lease TTL, record its runs as interrupted, and when it wakes up its
// writes are fenced off. Every record is written once (the ledger has no gap and no repeat) and
// every run's webhook is delivered.
func TestReplicasShareTheWorkAndTakeOverFromAHungEngine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memory.New()
		shareAndTakeOver(t, 200, func(int) store.Store { return mem })
	})
}

// shareAndTakeOver runs the test above: handle(i) is engine i's handle on the shared store.
func shareAndTakeOver(t *testing.T, nConns int, handle func(i int) store.Store) {
	{
		const (
			nEngines = 3
			freq     = time.Minute
			ttl      = 30 * time.Second
		)
		mem := handle(0)
		hung := make(chan struct{})
		led := &ledger{runTime: 20 * time.Second, held: map[int]chan struct{}{}}
		hooks := &receiver{seen: map[string]int{}}
		var engines []*nango.Engine
		var parts []*partition
		var stops []func() error
		for i := range nEngines {
			p := &partition{Store: handle(i)}
			eng, err := nango.NewEngine(p, &nango.Config{
				Logger: quiet, InstanceID: fmt.Sprintf("replica-%d", i), LeaseTTL: ttl, MaxConcurrentRuns: 200,
				Webhooks: &nango.WebhookConfig{URLs: []string{"http://backend.test/hooks"}, SigningKeys: [][]byte{[]byte("k")},
					Client: &http.Client{Transport: hooks}},
			})
			require.NoError(t, err)
			require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
				Name: "things", Frequency: "every minute", Models: []nango.Model{{Name: "Thing"}}, Sync: led.forEngine(i),
			}}}))
			engines, parts = append(engines, eng), append(parts, p)
		}
		for c := range nConns {
			require.NoError(t, engines[c%nEngines].AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: fmt.Sprintf("c%03d", c)}))
		}
		t0 := time.Now()
		for _, eng := range engines {
			stops = append(stops, start(t, eng))
		}

		// Five minutes of normal work, then engine 2 hangs in the middle of its runs.
		time.Sleep(5*time.Minute + 5*time.Second)
		led.mu.Lock()
		led.held[2] = hung
		led.mu.Unlock()
		time.Sleep(15 * time.Second) // its runs started since now hold
		killedAt := time.Now()
		parts[2].cut.Store(true)
		led.mu.Lock()
		var inFlight []string
		for _, r := range led.runs {
			if r.engine == 2 && r.end.IsZero() {
				inFlight = append(inFlight, r.conn)
			}
		}
		led.mu.Unlock()
		require.NotEmpty(t, inFlight, "engine 2 was running syncs when it hung")

		// Five more minutes without it; then it wakes up, and its held runs try to commit.
		time.Sleep(5 * time.Minute)
		parts[2].cut.Store(false)
		close(hung)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		end := time.Now()
		for _, stop := range stops {
			require.NoError(t, stop())
		}

		// No (sync, connection) ran on two engines at once.
		led.mu.Lock()
		runs := append([]interval(nil), led.runs...)
		led.mu.Unlock()
		byConn := map[string][]interval{}
		for _, r := range runs {
			byConn[r.conn] = append(byConn[r.conn], r)
		}
		overlaps := 0
		for _, rs := range byConn {
			sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
			for i := 1; i < len(rs); i++ {
				if rs[i].start.Before(rs[i-1].end) && rs[i-1].committed && rs[i].committed {
					overlaps++
				}
			}
		}
		require.Zero(t, overlaps, "runs of one connection that overlapped and both committed")

		// Every connection ran every minute, on time, until engine 2 hung; its in-flight runs
		// were taken over within the lease TTL.
		perEngine := map[int]int{}
		for _, r := range runs {
			perEngine[r.engine]++
		}
		for i := range nEngines {
			require.Positive(t, perEngine[i], "engine %d ran its share", i)
		}
		var maxTakeover time.Duration
		for _, c := range inFlight {
			var next time.Time
			for _, r := range byConn[c] {
				if r.start.After(killedAt) && r.engine != 2 {
					next = r.start
					break
				}
			}
			require.False(t, next.IsZero(), "the run of %s was taken over", c)
			maxTakeover = max(maxTakeover, next.Sub(killedAt))
		}
		require.LessOrEqual(t, maxTakeover, ttl, "taken over within the lease TTL")
		for c, rs := range byConn {
			// Before the hang: one run at the start, then one at each slot of its grid after
			// the run before ended (a slot that comes while the sync runs is skipped), on time
			// to the nanosecond.
			key := store.SyncKey{Integration: "crm", Sync: "things", Connection: c}
			slots := []time.Time{t0}
			for at := scheduler.NextSlot(key, freq, t0.Add(led.runTime)); at.Before(t0.Add(5 * time.Minute)); at = scheduler.NextSlot(key, freq, at.Add(led.runTime)) {
				slots = append(slots, at)
			}
			require.GreaterOrEqual(t, len(rs), len(slots), c)
			for i, at := range slots {
				require.Equal(t, at, rs[i].start, "%s: run %d on time", c, i)
			}
		}

		// The ledger: every committed run added exactly the next number.
		ctx := context.Background()
		total := 0
		for c := range nConns {
			id := fmt.Sprintf("c%03d", c)
			stream := store.Stream{Integration: "crm", Connection: id, Model: "Thing"}
			stats, err := mem.StreamStats(ctx, stream)
			require.NoError(t, err)
			cp, err := mem.CheckpointGet(ctx, store.CheckpointKey{Integration: "crm", Sync: "things", Connection: id})
			require.NoError(t, err)
			require.JSONEq(t, fmt.Sprintf(`{"N":%d}`, stats.Live), string(cp.Data), "%s: one record per committed run, no gap, no repeat", id)
			total += stats.Live
			hist, err := mem.RunList(ctx, &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "things", Connection: id}, Limit: 1000})
			require.NoError(t, err)
			for _, r := range hist {
				require.NotEqual(t, store.RunRunning, r.State, "%s: run %s left RUNNING", id, r.ID)
			}
		}
		require.Equal(t, int(led.committed.Load()), total, "every commit the syncs saw succeed is in the store")

		// Every webhook in the outbox was delivered, and every successful run has one.
		var entries []*store.OutboxEntry
		for after := ""; len(entries) < 1_000_000; {
			page, err := mem.OutboxList(ctx, &store.OutboxListParams{After: after, Limit: store.MaxListLimit})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			entries, after = append(entries, page...), page[len(page)-1].ID
		}
		withHook := map[string]bool{}
		hooks.mu.Lock()
		for _, en := range entries {
			require.Positive(t, hooks.seen[en.ID], "webhook %s delivered", en.ID)
			withHook[en.RunID] = true
		}
		hooks.mu.Unlock()
		succeeded := 0
		for c := range nConns {
			// One successful run per slot from start to end, none lost, none twice.
			key := store.SyncKey{Integration: "crm", Sync: "things", Connection: fmt.Sprintf("c%03d", c)}
			want := 1
			for at := scheduler.NextSlot(key, freq, t0.Add(led.runTime)); !at.After(end.Add(-led.runTime)); at = scheduler.NextSlot(key, freq, at.Add(led.runTime)) {
				want++
			}
			hist, err := mem.RunList(ctx, &store.RunListParams{Key: key, Limit: 1000})
			require.NoError(t, err)
			ok := 0
			for _, r := range hist {
				if r.State == store.RunSucceeded {
					ok++
				}
			}
			if slices.Contains(inFlight, key.Connection) {
				// The run that took over may cover (and so skip) one slot, as any run does.
				require.Contains(t, []int{want - 1, want}, ok, "%s: one successful run per slot but one", key.Connection)
			} else {
				require.Equal(t, want, ok, "%s: one successful run per slot", key.Connection)
			}
		}
		for c := range nConns {
			id := fmt.Sprintf("c%03d", c)
			hist, err := mem.RunList(ctx, &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "things", Connection: id}, Limit: 1000})
			require.NoError(t, err)
			for _, r := range hist {
				if r.State == store.RunSucceeded {
					succeeded++
					require.True(t, withHook[r.ID], "run %s of %s has its webhook", r.ID, id)
				}
			}
		}
		t.Logf("%d engines, %d connections, %s of fake time: %d runs (%v per engine), %d succeeded, %d records; overlaps %d; "+
			"engine 2 hung with %d runs in flight, taken over after at most %s (%.2f lease TTLs)",
			nEngines, nConns, end.Sub(t0), len(runs), perEngine, succeeded, total, overlaps, len(inFlight), maxTakeover, float64(maxTakeover)/float64(ttl))
	}
}
