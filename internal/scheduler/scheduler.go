// Package scheduler runs every sync of every connection at its frequency.
//
// It owns the schedule entries (one per sync and connection), the heap of their due times
// behind a single timer, the grid that spreads connections over a period, the queues per
// integration that start due runs round-robin within the concurrency limits, the retries of
// failed runs and of triggers that found their sync busy, and the schedules it persists
// (pause, frequency override, next run). It runs nothing itself: the engine's Runner does.
//
// It may import the standard library, package store and the internal packages clock and
// backoff; never package nango, which reaches it through Scheduler's methods and implements
// Runner.
package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/internal/clock"
	"github.com/gonango/nango/store"
)

// Errors of the scheduler.
var (
	// ErrNotRunning is returned by the calls that need Run to be running.
	ErrNotRunning = errors.New("scheduler: not running")
	// ErrRunning is returned by Run when it is running already.
	ErrRunning = errors.New("scheduler: already running")
)

// Triggers the scheduler starts runs with; the engine's constants have the same values.
const (
	TriggerSchedule = "schedule"
	TriggerWebhook  = "webhook"
	TriggerManual   = "manual"
	TriggerReset    = "reset"
)

// triggerRetryDelay is how long a triggered run that found its sync busy waits to try again.
const triggerRetryDelay = 5 * time.Second

// Key names one sync on one connection.
type Key = store.SyncKey

// Job is one run the scheduler asks for.
type Job struct {
	Trigger    string
	Reset      bool
	EmptyCache bool
	// Due is the slot a scheduled run is for: the run does not start when a run of the sync
	// started at or after it (another engine sharing the store ran it). Zero for the other
	// triggers, and for a scheduled run asked for now (Start), which runs in any case.
	Due time.Time
	// TriggerID names the trigger saved in the sync's schedule (store.ScheduleTrigger) that the
	// job runs: the run does not start when that schedule holds no trigger any more (another
	// engine sharing the store ran it), and clears it when it ends. Empty for other jobs.
	TriggerID string
}

// TriggerJob returns the job that runs a trigger saved in a schedule.
func TriggerJob(t store.ScheduleTrigger) Job {
	job := Job{Trigger: TriggerManual, Reset: t.Reset, EmptyCache: t.EmptyCache, TriggerID: t.ID}
	if t.Reset {
		job.Trigger = TriggerReset
	}
	return job
}

// Outcome is how a run went, as far as the scheduler cares.
type Outcome int

// The outcomes.
const (
	// NotStarted: the run could not start (an error, or a RunSync of the same sync in this
	// process).
	NotStarted Outcome = iota
	Succeeded
	Cancelled
	Failed
	// Busy: another engine sharing the store holds the sync's lease until Result.RetryAt. A
	// scheduled job looks again then (the owner may have died, leaving its run interrupted),
	// or at its next slot if that comes first; it is not a failure.
	Busy
	// Skipped: another engine already ran the job's slot (Job.Due) or its trigger
	// (Job.TriggerID); the entry moves on to its next slot.
	Skipped
)

// Result is what the Runner reports of one job.
type Result struct {
	Outcome Outcome
	// RetryAt is when a Busy sync's lease expires (zero: unknown).
	RetryAt time.Time
}

// Runner runs the syncs. Run must return when ctx is done.
type Runner interface {
	Run(ctx context.Context, key Key, job Job) Result
}

// Sync is what the scheduler needs of a sync's configuration.
type Sync struct {
	Name        string
	Frequency   string
	ManualStart bool
}

// Integration is an integration's key and syncs.
type Integration struct {
	Key   string
	Syncs []Sync
}

// Retry retries failed scheduled runs: at most MaxRetries in a row, waiting as Backoff says.
type Retry struct {
	MaxRetries int
	Backoff    backoff.Backoff
}

// Config configures a Scheduler. Every field is required but Retry and
// MaxConcurrentRunsPerIntegration.
type Config struct {
	Store  store.Store
	Clock  clock.Clock
	Logger *slog.Logger
	Runner Runner
	// ParseFrequency turns a frequency string into its period (with the engine's minimum).
	ParseFrequency func(string) (time.Duration, error)
	// MaxConcurrentRuns caps the runs started at once; MaxConcurrentRunsPerIntegration caps
	// them per integration (0: no cap).
	MaxConcurrentRuns               int
	MaxConcurrentRunsPerIntegration int
	// ShutdownTimeout is how long Run waits for its runs once its context is done.
	ShutdownTimeout time.Duration
	// Retry, when set, retries failed runs before their next slot.
	Retry *Retry
}

// entryState says where a schedule entry is.
type entryState int

const (
	entryIdle    entryState = iota // waiting for its due time (in the heap unless paused)
	entryQueued                    // due, waiting for a free run slot
	entryRunning                   // its run is in progress
)

// entry is one sync for one connection.
type entry struct {
	key      Key
	sync     Sync
	freq     time.Duration
	override string // per-connection frequency, "" for the sync's
	paused   bool
	due      time.Time
	heapIdx  int // -1 when not in the heap
	state    entryState
	failures int // consecutive failed runs, for retries
	// The run that is queued.
	job Job
	// A triggered run to try again at due, when it could not start; nil for none.
	retryJob *Job
	// startNow asks for a run as soon as the current one ends (Start while it ran).
	startNow bool
	cancel   context.CancelFunc // of the running run
	// followUp: provider webhook events came while the entry ran; one more run follows.
	followUp bool
	// triggerID is the saved trigger (store.ScheduleTrigger) this engine last took up, so that
	// a reload does not queue it twice; nextTrigger a saved trigger found while the entry was
	// queued or running, run once that run ends.
	triggerID   string
	nextTrigger *Job
	gen         uint64 // when it was added, for Resync
}

// Scheduler keeps one timer for a heap of due times, not a goroutine per schedule; due entries
// wait in a queue per integration and start round-robin across integrations within the
// concurrency limits. It is safe for concurrent use.
type Scheduler struct {
	cfg Config

	saveMu   sync.Mutex // serialises persist
	mu       sync.Mutex
	running  bool
	entries  map[Key]*entry
	heap     entryHeap
	queues   map[string][]*entry
	order    []string // integrations in round-robin order
	rr       int
	active   int
	activeBy map[string]int
	wake     chan struct{}
	runCtx   context.Context
	wg       sync.WaitGroup
	gen      uint64 // entries added so far
}

// New returns a scheduler; it does nothing until Run.
func New(cfg Config) *Scheduler {
	return &Scheduler{cfg: cfg, wake: make(chan struct{}, 1), activeBy: map[string]int{}}
}

// Run loads the entries of the integrations that integrations returns, calls started with the
// context its runs get (the function started returns is called once the runs were cancelled),
// and starts due runs until ctx is done. It then cancels the runs and waits for them up to
// ShutdownTimeout, and returns an error when some did not stop in time.
func (s *Scheduler) Run(ctx context.Context, integrations func() []Integration, started func(runCtx context.Context) (stop func())) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	s.runCtx = runCtx
	// Runs left over from an earlier Run that outlived its ShutdownTimeout still count against
	// the limits (active, activeBy), but their entries are not these.
	s.entries = map[Key]*entry{}
	s.heap = nil
	s.queues = map[string][]*entry{}
	s.order = nil
	s.mu.Unlock()
	defer cancelRuns()

	var err error
	for _, in := range integrations() {
		if err = s.AddIntegration(ctx, in); err != nil {
			break
		}
	}
	stop := func() {}
	if err == nil {
		stop = started(runCtx)
		s.loop(ctx)
	}
	cancelRuns()
	stop()
	stopped := make(chan struct{})
	go func() { s.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-s.cfg.Clock.After(s.cfg.ShutdownTimeout):
		s.mu.Lock()
		n := s.active
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("%d runs did not stop within %s", n, s.cfg.ShutdownTimeout)
		}
	}
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	return err
}

// Len returns the number of schedule entries.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Running reports whether Run is running.
func (s *Scheduler) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// AddIntegration adds the entries of an integration's connections, as the store lists them.
func (s *Scheduler) AddIntegration(ctx context.Context, in Integration) error {
	conns, err := s.cfg.Store.ConnectionList(ctx, in.Key)
	if err != nil {
		return fmt.Errorf("loading connections of %s: %w", in.Key, err)
	}
	scheds, err := s.cfg.Store.ScheduleList(ctx, in.Key)
	if err != nil {
		return fmt.Errorf("loading schedules of %s: %w", in.Key, err)
	}
	byKey := make(map[Key]*store.Schedule, len(scheds))
	for _, sc := range scheds {
		byKey[sc.Key] = sc
	}
	for _, c := range conns {
		for _, sc := range in.Syncs {
			key := Key{Integration: in.Key, Sync: sc.Name, Connection: c.ID}
			if err := s.addEntry(ctx, key, sc, byKey[key]); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddConnection adds the entries of a new connection.
func (s *Scheduler) AddConnection(ctx context.Context, in Integration, id string) error {
	for _, sc := range in.Syncs {
		key := Key{Integration: in.Key, Sync: sc.Name, Connection: id}
		saved, err := s.cfg.Store.ScheduleGet(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("loading schedule of %s: %w", sc.Name, err)
		}
		if err := s.addEntry(ctx, key, sc, saved); err != nil {
			return err
		}
	}
	return nil
}

// addEntry creates the entry of key from its saved schedule (nil for a new one), and saves the
// schedule of a new one so that a ManualStart sync stays paused across restarts.
func (s *Scheduler) addEntry(ctx context.Context, key Key, sc Sync, saved *store.Schedule) error {
	en := &entry{key: key, sync: sc, heapIdx: -1, paused: sc.ManualStart}
	now := s.cfg.Clock.Now()
	if saved != nil {
		en.paused, en.override, en.due = saved.Paused, saved.Frequency, saved.NextRunAt
		if t := saved.Trigger; !t.IsZero() {
			// A trigger no engine has run yet (the one asked stopped first): due now.
			job := TriggerJob(t)
			en.retryJob, en.triggerID, en.due = &job, t.ID, store.Timestamp(now)
		}
	} else {
		// New: due now. The time is saved so that every engine sharing the store runs the
		// same first slot, and only one of them runs it.
		en.due = store.Timestamp(now)
		if err := s.cfg.Store.SchedulePut(ctx, &store.Schedule{Key: key, Paused: en.paused, NextRunAt: en.due, UpdatedAt: en.due}); err != nil {
			return fmt.Errorf("saving schedule of %s: %w", sc.Name, err)
		}
	}
	freq, err := s.frequency(sc, en.override)
	if err != nil {
		return err
	}
	en.freq = freq
	if en.due.IsZero() {
		en.due = now
	}
	// A due time in the past (missed while the engines were down, or a run cut short) is kept:
	// the entry runs at once, for that slot, and an engine that finds the slot run already
	// by another moves on to the next.
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
	s.gen++
	en.gen = s.gen
	s.entries[key] = en
	if _, ok := s.queues[key.Integration]; !ok {
		s.queues[key.Integration] = nil
		s.order = append(s.order, key.Integration)
	}
	if !en.paused || en.retryJob != nil {
		heap.Push(&s.heap, en)
	}
	s.signal()
	return nil
}

// frequency resolves the period of a sync for a connection with an override ("" for none).
func (s *Scheduler) frequency(sc Sync, override string) (time.Duration, error) {
	f := sc.Frequency
	if override != "" {
		f = override
	}
	return s.cfg.ParseFrequency(f)
}

// RemoveConnection drops a connection's entries and cancels its runs. It returns with schedule
// saves held off; the caller calls the returned function once the connection is deleted from
// the store, so that no save writes its schedule back.
func (s *Scheduler) RemoveConnection(integration, id string) (resume func()) {
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
func (s *Scheduler) unschedule(en *entry) {
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

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop moves due entries to their queues and starts runs, until ctx is done.
func (s *Scheduler) loop(ctx context.Context) {
	clk := s.cfg.Clock
	for {
		s.mu.Lock()
		now := clk.Now()
		for len(s.heap) > 0 && !s.heap[0].due.After(now) {
			en := heap.Pop(&s.heap).(*entry)
			job := Job{Trigger: TriggerSchedule, Due: en.due}
			if en.retryJob != nil {
				job, en.retryJob = *en.retryJob, nil
			}
			s.enqueue(en, job)
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
func (s *Scheduler) enqueue(en *entry, job Job) {
	if en.heapIdx >= 0 {
		heap.Remove(&s.heap, en.heapIdx)
	}
	en.state, en.job = entryQueued, job
	s.queues[en.key.Integration] = append(s.queues[en.key.Integration], en)
}

// dispatch starts queued runs while there is room, taking integrations in turn. Callers hold
// s.mu.
func (s *Scheduler) dispatch() {
	limit, perIntegration := s.cfg.MaxConcurrentRuns, s.cfg.MaxConcurrentRunsPerIntegration
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
func (s *Scheduler) start(en *entry) {
	en.state = entryRunning
	s.active++
	s.activeBy[en.key.Integration]++
	ctx, cancel := context.WithCancel(s.runCtx)
	en.cancel = cancel
	job := en.job
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.finished(en, s.run(ctx, en.key, job))
	}()
}

// run calls the Runner; a panic there fails the run instead of the process.
func (s *Scheduler) run(ctx context.Context, key Key, job Job) (res Result) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logger.Error("scheduled run panicked", "integration", key.Integration, "sync", key.Sync,
				"connection_id", key.Connection, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = Result{Outcome: Failed}
		}
	}()
	return s.cfg.Runner.Run(ctx, key, job)
}

// finished puts an entry back on the grid after its run.
func (s *Scheduler) finished(en *entry, res Result) {
	out := res.Outcome
	s.mu.Lock()
	s.active--
	s.activeBy[en.key.Integration]--
	en.state, en.cancel = entryIdle, nil
	now := s.cfg.Clock.Now()
	retry := s.cfg.Retry
	ran := out == Succeeded || out == Failed || out == Cancelled
	switch {
	case out == Busy && en.job.Trigger == TriggerSchedule:
		// Running on another engine: look again when its lease expires, for the same slot (if
		// the owner died its run is interrupted and this engine takes over), unless the next
		// slot comes first.
		en.due = NextSlot(en.key, en.freq, now)
		if at := res.RetryAt; !at.IsZero() && at.Before(en.due) && !en.job.Due.IsZero() {
			en.due = at
			job := en.job
			en.retryJob = &job
		}
	case out == Skipped:
		en.due = NextSlot(en.key, en.freq, now)
	case out == Cancelled && s.runCtx.Err() != nil:
		// Cut short by the shutdown: due again as soon as an engine runs (this one, restarted,
		// or another sharing the store).
		en.due = now
	case out == Failed && retry != nil && en.failures < retry.MaxRetries:
		en.failures++
		en.due = now.Add(retry.Backoff.Delay(en.failures))
	case (out == NotStarted || out == Busy) && en.job.Trigger != TriggerSchedule:
		// A triggered run that could not start (RunSync held the sync): try again shortly
		// rather than drop what was asked for.
		en.due = now.Add(triggerRetryDelay)
		job := en.job
		en.retryJob = &job
	default:
		en.failures = 0 // a success, or retries used up: the next slot starts afresh
		en.due = NextSlot(en.key, en.freq, now)
	}
	if en.nextTrigger != nil {
		// A trigger saved by another engine while this one ran: it runs now.
		en.due, en.retryJob, en.nextTrigger = now, en.nextTrigger, nil
	}
	if en.startNow {
		// Started while it ran: starting means running now.
		en.startNow = false
		en.due = now
		if en.retryJob == nil {
			en.retryJob = &Job{Trigger: TriggerSchedule}
		}
	}
	if en.followUp {
		en.followUp = false
		en.due = now
		if en.retryJob == nil {
			en.retryJob = &Job{Trigger: TriggerWebhook}
		}
	}
	// The entry may have been replaced (its connection deleted and added again) or dropped
	// while it ran; only the current entry goes back on the grid.
	cur, ok := s.entries[en.key]
	live := ok && cur == en
	if live && (!en.paused || triggered(en.retryJob)) && s.running {
		// A paused entry waits only for a trigger to try again.
		heap.Push(&s.heap, en)
	}
	s.signal()
	s.mu.Unlock()
	if live && ran {
		// Only the engine that ran it moves the saved schedule: the others follow the same grid.
		if err := s.persistNext(context.Background(), en.key); err != nil {
			s.cfg.Logger.Error("saving schedule failed", "integration", en.key.Integration, "sync", en.key.Sync,
				"connection_id", en.key.Connection, "error", err)
		}
	}
}

// persist saves the current state of a scheduled entry. Saves are serialised and each one reads
// the entry's latest state, so the last save always holds the latest state.
func (s *Scheduler) persist(ctx context.Context, key Key) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	return s.persistLocked(ctx, key)
}

// persistLocked is persist with s.saveMu held.
func (s *Scheduler) persistLocked(ctx context.Context, key Key) error {
	s.mu.Lock()
	en := s.entries[key]
	if en == nil {
		s.mu.Unlock()
		return nil
	}
	// A queued or running entry keeps the due time of its run: due at once after a restart.
	paused, override, due := en.paused, en.override, en.due
	s.mu.Unlock()
	err := s.update(ctx, key, func(sc *store.Schedule) {
		sc.Paused, sc.Frequency, sc.NextRunAt = paused, override, due
		sc.UpdatedAt = store.Timestamp(s.cfg.Clock.Now())
	})
	if err != nil {
		return fmt.Errorf("saving schedule of %s for %q: %w", key.Sync, key.Connection, err)
	}
	return nil
}

// update changes key's saved schedule in one step, keeping what set does not change (a
// trigger saved meanwhile); a schedule not saved yet is created from a blank one.
func (s *Scheduler) update(ctx context.Context, key Key, set func(*store.Schedule)) error {
	_, err := s.cfg.Store.ScheduleUpdate(ctx, key, func(sc *store.Schedule) error { set(sc); return nil })
	if errors.Is(err, store.ErrNotFound) {
		sc := &store.Schedule{Key: key}
		set(sc)
		err = s.cfg.Store.SchedulePut(ctx, sc)
	}
	return err
}

// triggered reports whether job runs a trigger (manual, reset or webhook) rather than a slot.
func triggered(job *Job) bool { return job != nil && job.Trigger != TriggerSchedule }

// persistNext saves when a scheduled entry runs next after its run, keeping the pause and the
// frequency override as the store has them: those belong to the control calls, which another
// engine sharing the store may have made while the run went on. When such a call changed the
// frequency, the next run it saved stands.
func (s *Scheduler) persistNext(ctx context.Context, key Key) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	en := s.entries[key]
	if en == nil {
		s.mu.Unlock()
		return nil
	}
	due, override := en.due, en.override
	s.mu.Unlock()
	_, err := s.cfg.Store.ScheduleUpdate(ctx, key, func(sc *store.Schedule) error {
		if sc.Frequency == override {
			sc.NextRunAt, sc.UpdatedAt = due, store.Timestamp(s.cfg.Clock.Now())
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.persistLocked(ctx, key)
	case err != nil:
		return fmt.Errorf("saving schedule of %s for %q: %w", key.Sync, key.Connection, err)
	}
	return nil
}

// NextSlot returns the first time after now on the grid of key: multiples of freq offset by a
// hash of the key, so that connections with the same frequency spread over the period instead
// of starting in the same second, and each keeps its place on the grid run after run.
func NextSlot(key Key, freq time.Duration, now time.Time) time.Time {
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
