package nango

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/store"
)

// triggerRetryDelay is how long a triggered run that found its sync busy waits to try again.
const triggerRetryDelay = 5 * time.Second

// entryState says where a schedule entry is.
type entryState int

const (
	entryIdle    entryState = iota // waiting for its due time (in the heap unless paused)
	entryQueued                    // due, waiting for a free run slot
	entryRunning                   // its run is in progress
)

// entry is one sync for one connection in the scheduler.
type entry struct {
	key      store.SyncKey
	sync     *SyncConfig
	freq     time.Duration
	override string // per-connection frequency, "" for the sync's
	paused   bool
	due      time.Time
	heapIdx  int // -1 when not in the heap
	state    entryState
	failures int // consecutive failed runs, for retries
	// The run that is queued.
	trigger string
	opts    RunOptions
	// A triggered run to try again at due, when it could not start.
	retryTrigger string
	retryOpts    RunOptions
	// startNow asks for a run as soon as the current one ends (Start while it ran).
	startNow bool
	cancel   context.CancelFunc // of the running run
	// followUp: provider webhook events came while the entry ran; one more run follows.
	followUp bool
}

// scheduler runs every sync of every connection at its frequency. It keeps one timer for a heap
// of due times, not a goroutine per schedule; due entries wait in a queue per integration and
// start round-robin across integrations within the concurrency limits.
type scheduler struct {
	e *Engine

	saveMu   sync.Mutex // serialises persist
	mu       sync.Mutex
	running  bool
	entries  map[store.SyncKey]*entry
	heap     entryHeap
	queues   map[string][]*entry
	order    []string // integrations in round-robin order
	rr       int
	active   int
	activeBy map[string]int
	wake     chan struct{}
	runCtx   context.Context
	wg       sync.WaitGroup
}

func newScheduler(e *Engine) *scheduler {
	return &scheduler{e: e, wake: make(chan struct{}, 1), activeBy: map[string]int{}}
}

// Run runs the scheduler until ctx is done: every registered sync of every connection runs at
// its frequency, and Trigger, Pause, Start, SetFrequency and provider webhook triggers take
// effect. With Config.Webhooks it also runs the webhook delivery worker (see WebhookConfig).
// When ctx is done, Run cancels the runs in progress, waits for them up to
// Config.ShutdownTimeout (they release their leases as they stop), and returns nil, or an error
// if some did not stop in time. A later Run resumes from the last committed checkpoints, and
// delivers the webhooks left in the outbox.
func (e *Engine) Run(ctx context.Context) error {
	s := e.sched
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrEngineRunning
	}
	s.running = true
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	s.runCtx = runCtx
	// Runs left over from an earlier Run that outlived its ShutdownTimeout still count against
	// the limits (active, activeBy), but their entries are not these.
	s.entries = map[store.SyncKey]*entry{}
	s.heap = nil
	s.queues = map[string][]*entry{}
	s.order = nil
	s.mu.Unlock()
	defer cancelRuns()

	err := s.load(ctx)
	waitHooks := func() {}
	if err == nil {
		waitHooks = e.hooks.start(runCtx) // the webhook delivery worker (webhook_delivery.go)
		e.logger.Info("engine started", "schedules", len(s.entries), "instance", e.cfg.InstanceID)
		s.loop(ctx)
	}
	cancelRuns()
	waitHooks()
	stopped := make(chan struct{})
	go func() { s.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-e.cfg.Clock.After(e.cfg.ShutdownTimeout):
		s.mu.Lock()
		n := s.active
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("nango: %d runs did not stop within %s", n, e.cfg.ShutdownTimeout)
		}
	}
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	if err == nil {
		e.logger.Info("engine stopped")
	}
	return err
}

// load builds the schedule entries of every registered integration from the store.
func (s *scheduler) load(ctx context.Context) error {
	s.e.mu.RLock()
	var ins []*Integration
	for _, in := range s.e.integrations {
		ins = append(ins, in)
	}
	s.e.mu.RUnlock()
	for _, in := range ins {
		if err := s.addIntegration(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// addIntegration adds the entries of an integration's connections.
func (s *scheduler) addIntegration(ctx context.Context, in *Integration) error {
	conns, err := s.e.store.ConnectionList(ctx, in.Key)
	if err != nil {
		return fmt.Errorf("nango: loading connections of %s: %w", in.Key, err)
	}
	scheds, err := s.e.store.ScheduleList(ctx, in.Key)
	if err != nil {
		return fmt.Errorf("nango: loading schedules of %s: %w", in.Key, err)
	}
	byKey := make(map[store.SyncKey]*store.Schedule, len(scheds))
	for _, sc := range scheds {
		byKey[sc.Key] = sc
	}
	for _, c := range conns {
		for i := range in.Syncs {
			sc := &in.Syncs[i]
			key := store.SyncKey{Integration: in.Key, Sync: sc.Name, Connection: c.ID}
			if err := s.addEntry(ctx, key, sc, byKey[key]); err != nil {
				return err
			}
		}
	}
	return nil
}

// addConnection adds the entries of a new connection, if the scheduler runs.
func (s *scheduler) addConnection(ctx context.Context, in *Integration, id string) error {
	for i := range in.Syncs {
		sc := &in.Syncs[i]
		key := store.SyncKey{Integration: in.Key, Sync: sc.Name, Connection: id}
		saved, err := s.e.store.ScheduleGet(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("nango: loading schedule of %s: %w", sc.Name, err)
		}
		if err := s.addEntry(ctx, key, sc, saved); err != nil {
			return err
		}
	}
	return nil
}

// addEntry creates the entry of key from its saved schedule (nil for a new one), and saves the
// schedule of a new one so that a ManualStart sync stays paused across restarts.
func (s *scheduler) addEntry(ctx context.Context, key store.SyncKey, sc *SyncConfig, saved *store.Schedule) error {
	en := &entry{key: key, sync: sc, heapIdx: -1, paused: sc.ManualStart}
	if saved != nil {
		en.paused, en.override, en.due = saved.Paused, saved.Frequency, saved.NextRunAt
	} else {
		if err := s.e.store.SchedulePut(ctx, &store.Schedule{Key: key, Paused: en.paused, UpdatedAt: s.e.now()}); err != nil {
			return fmt.Errorf("nango: saving schedule of %s: %w", sc.Name, err)
		}
	}
	freq, err := s.e.frequency(sc, en.override)
	if err != nil {
		return err
	}
	en.freq = freq
	now := s.e.cfg.Clock.Now()
	if en.due.IsZero() || en.due.Before(now) {
		// New, or missed while the engine was down: run once soon, then back to the grid.
		en.due = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if old, ok := s.entries[key]; ok {
		// Re-added (AddConnection on an existing connection): keep its state.
		old.sync = sc
		return nil
	}
	s.entries[key] = en
	if _, ok := s.queues[key.Integration]; !ok {
		s.queues[key.Integration] = nil
		s.order = append(s.order, key.Integration)
	}
	if !en.paused {
		heap.Push(&s.heap, en)
	}
	s.signal()
	return nil
}

// removeConnection drops a connection's entries and cancels its runs. It returns with schedule
// saves held off; the caller calls the returned function once the connection is deleted from the
// store, so that no save writes its schedule back.
func (s *scheduler) removeConnection(integration, id string) (resume func()) {
	s.saveMu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, en := range s.entries {
		if key.Integration != integration || key.Connection != id {
			continue
		}
		s.unschedule(en)
		if en.cancel != nil {
			en.cancel()
		}
		delete(s.entries, key)
	}
	return s.saveMu.Unlock
}

// unschedule takes an entry out of the heap and its queue. Callers hold s.mu.
func (s *scheduler) unschedule(en *entry) {
	if en.heapIdx >= 0 {
		heap.Remove(&s.heap, en.heapIdx)
	}
	if en.state == entryQueued {
		q := s.queues[en.key.Integration]
		for i, x := range q {
			if x == en {
				s.queues[en.key.Integration] = append(q[:i], q[i+1:]...)
				break
			}
		}
		en.state = entryIdle
	}
}

func (s *scheduler) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop moves due entries to their queues and starts runs, until ctx is done.
func (s *scheduler) loop(ctx context.Context) {
	clk := s.e.cfg.Clock
	for {
		s.mu.Lock()
		now := clk.Now()
		for len(s.heap) > 0 && !s.heap[0].due.After(now) {
			en := heap.Pop(&s.heap).(*entry)
			trigger, opts := TriggerSchedule, RunOptions{}
			if en.retryTrigger != "" {
				trigger, opts = en.retryTrigger, en.retryOpts
				en.retryTrigger, en.retryOpts = "", RunOptions{}
			}
			s.enqueue(en, trigger, opts)
		}
		s.dispatch()
		wait := time.Hour
		if len(s.heap) > 0 {
			wait = s.heap[0].due.Sub(now)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-clk.After(wait):
		case <-s.wake:
		}
	}
}

// enqueue puts an idle entry in its integration's queue. Callers hold s.mu.
func (s *scheduler) enqueue(en *entry, trigger string, opts RunOptions) {
	if en.heapIdx >= 0 {
		heap.Remove(&s.heap, en.heapIdx)
	}
	en.state, en.trigger, en.opts = entryQueued, trigger, opts
	s.queues[en.key.Integration] = append(s.queues[en.key.Integration], en)
}

// dispatch starts queued runs while there is room, taking integrations in turn. Callers hold
// s.mu.
func (s *scheduler) dispatch() {
	limit, perIntegration := s.e.cfg.MaxConcurrentRuns, s.e.cfg.MaxConcurrentRunsPerIntegration
	for s.active < limit {
		var picked *entry
		for i := range s.order {
			integ := s.order[(s.rr+i)%len(s.order)]
			q := s.queues[integ]
			if len(q) == 0 || (perIntegration > 0 && s.activeBy[integ] >= perIntegration) {
				continue
			}
			picked = q[0]
			q[0] = nil
			s.queues[integ] = q[1:]
			s.rr = (s.rr + i + 1) % len(s.order)
			break
		}
		if picked == nil {
			return
		}
		s.start(picked)
	}
}

// start runs an entry in its own goroutine. Callers hold s.mu.
func (s *scheduler) start(en *entry) {
	en.state = entryRunning
	s.active++
	s.activeBy[en.key.Integration]++
	ctx, cancel := context.WithCancel(s.runCtx)
	en.cancel = cancel
	due, trigger, opts := en.due, en.trigger, en.opts
	opts.Trigger = trigger
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		if trigger == TriggerSchedule {
			s.e.metrics.scheduleLag(ctx, en.key.Integration, s.e.cfg.Clock.Now().Sub(due))
		}
		res, err := s.e.runOnce(ctx, en.key, opts)
		if err != nil && res == nil && !errors.Is(err, ErrRunActive) {
			s.e.logger.Error("scheduled run could not start", "integration", en.key.Integration, "sync", en.key.Sync,
				"connection_id", en.key.Connection, "error", err)
		}
		s.finished(en, res)
	}()
}

// finished puts an entry back on the grid after its run (res is nil when it did not start).
func (s *scheduler) finished(en *entry, res *RunResult) {
	s.mu.Lock()
	s.active--
	s.activeBy[en.key.Integration]--
	en.state, en.cancel = entryIdle, nil
	now := s.e.cfg.Clock.Now()
	failed := res != nil && res.State != RunSucceeded && res.State != RunCancelled
	retry := s.e.cfg.Retry
	switch {
	case failed && retry != nil && en.failures < retry.MaxRetries:
		en.failures++
		en.due = now.Add(retry.backoff(en.failures))
	case res == nil && en.trigger != TriggerSchedule:
		// A triggered run that could not start (RunSync held the sync): try again shortly
		// rather than drop what was asked for.
		en.due = now.Add(triggerRetryDelay)
		en.retryTrigger, en.retryOpts = en.trigger, en.opts
	default:
		en.failures = 0 // a success, or retries used up: the next slot starts afresh
		en.due = nextSlot(en.key, en.freq, now)
	}
	if en.startNow {
		// Started while it ran: starting means running now.
		en.startNow = false
		en.due = now
	}
	if en.followUp {
		en.followUp = false
		en.due = now
		if en.retryTrigger == "" {
			en.retryTrigger, en.retryOpts = TriggerWebhook, RunOptions{}
		}
	}
	// The entry may have been replaced (its connection deleted and added again) or dropped
	// while it ran; only the current entry goes back on the grid.
	cur, ok := s.entries[en.key]
	live := ok && cur == en
	if live && !en.paused && s.running {
		heap.Push(&s.heap, en)
	}
	s.signal()
	s.mu.Unlock()
	if live {
		if err := s.persist(context.Background(), en.key); err != nil {
			s.e.logger.Error("saving schedule failed", "integration", en.key.Integration, "sync", en.key.Sync,
				"connection_id", en.key.Connection, "error", err)
		}
	}
}

// webhookTrigger runs key because of provider webhook events, debounced: an idle entry runs
// within debounce (events until then are part of that run), a queued one takes the events into
// its run, and a running one runs once more after it. It reports false when the scheduler is
// not running.
func (s *scheduler) webhookTrigger(key store.SyncKey, debounce time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return false
	}
	en := s.entries[key]
	if en == nil || en.paused {
		return true // a sync that is paused, or a connection being deleted, takes no trigger
	}
	switch en.state {
	case entryIdle:
		if due := s.e.cfg.Clock.Now().Add(debounce); due.Before(en.due) {
			en.due = due
		}
		if en.retryTrigger == "" {
			// A pending trigger (a reset waiting for a RunSync to end) keeps its options: it
			// syncs what the events changed all the same.
			en.retryTrigger, en.retryOpts = TriggerWebhook, RunOptions{}
		}
		s.pushLocked(en)
		s.signal()
	case entryRunning:
		en.followUp = true
	}
	return true
}

// persist saves the current state of a scheduled entry. Saves are serialised and each one reads
// the entry's latest state, so the last save always holds the latest state.
func (s *scheduler) persist(ctx context.Context, key store.SyncKey) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	en := s.entries[key]
	if en == nil {
		s.mu.Unlock()
		return nil
	}
	sc := &store.Schedule{Key: key, Paused: en.paused, Frequency: en.override, NextRunAt: en.due, UpdatedAt: s.e.now()}
	if en.state != entryIdle {
		sc.NextRunAt = time.Time{} // due now: it is queued or running
	}
	s.mu.Unlock()
	if err := s.e.store.SchedulePut(ctx, sc); err != nil {
		return fmt.Errorf("nango: saving schedule of %s for %q: %w", key.Sync, key.Connection, err)
	}
	return nil
}

func (r *RetryPolicy) backoff(n int) time.Duration {
	return backoff.Backoff{Initial: r.InitialBackoff, Max: r.MaxBackoff}.Delay(n)
}

// nextSlot returns the first time after now on the grid of key: multiples of freq offset by a
// hash of the key, so that connections with the same frequency spread over the period instead
// of starting in the same second, and each keeps its place on the grid run after run.
func nextSlot(key store.SyncKey, freq time.Duration, now time.Time) time.Time {
	h := xxhash.New()
	_, _ = h.WriteString(key.Integration + "\x00" + key.Sync + "\x00" + key.Connection)
	offset := int64(h.Sum64() % uint64(freq))
	t := now.UnixNano()
	k := (t - offset) / int64(freq)
	slot := k*int64(freq) + offset
	for slot <= t {
		slot += int64(freq)
	}
	return time.Unix(0, slot)
}

// frequency resolves the frequency of a sync for a connection.
func (e *Engine) frequency(sc *SyncConfig, override string) (time.Duration, error) {
	f := sc.Frequency
	if override != "" {
		f = override
	}
	return parseFrequencyMin(f, e.cfg.MinFrequency)
}

// entryHeap orders entries by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *entryHeap) Push(x any) {
	en := x.(*entry)
	en.heapIdx = len(*h)
	*h = append(*h, en)
}
func (h *entryHeap) Pop() any {
	old := *h
	en := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	en.heapIdx = -1
	return en
}
