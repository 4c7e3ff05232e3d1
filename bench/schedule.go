package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/internal/scheduler"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/postgres"
)

// ScheduleResult is the measurement of the scheduler workload.
type ScheduleResult struct {
	Store       string  `json:"store"`
	Workload    string  `json:"workload"`
	Engines     int     `json:"engines"`
	Connections int     `json:"connections"`
	Frequency   string  `json:"frequency"`
	Runs        int     `json:"runs"`
	RunsPerSec  float64 `json:"runs_per_sec"`
	LagP50MS    float64 `json:"lag_p50_ms"`
	LagP95MS    float64 `json:"lag_p95_ms"`
	LagP99MS    float64 `json:"lag_p99_ms"`
	LagMaxMS    float64 `json:"lag_max_ms"`
	// RunsPerEngine counts the runs each engine started, in the order of the engines.
	RunsPerEngine []int `json:"runs_per_engine"`
	// Repeated counts the runs of a connection that started before its next slot (its slot
	// run twice); Overlaps the runs that started while another run of the same connection was
	// in progress. Both must be 0.
	Repeated int `json:"repeated"`
	Overlaps int `json:"overlaps"`
	// CPUPerRunUS is the process's CPU time (user and system) per run, in microseconds; on
	// PostgreSQL the server's time is not in it.
	CPUPerRunUS   float64 `json:"cpu_per_run_us"`
	MaxConcurrent int     `json:"max_concurrent"`
	Concurrency   int     `json:"concurrency_limit"`
	Target        string  `json:"target"`
	TargetMet     bool    `json:"target_met"`
}

// scheduleRecorder is the no-op sync of every engine: it notes when and where each run
// started, and whether another run of the same connection was in progress then.
type scheduleRecorder struct {
	mu        sync.Mutex
	want      int
	next      map[string]time.Time // the slot after each connection's first
	started   map[string]time.Time // the first start of each connection
	byEngine  []int
	running   map[string]int
	repeated  int
	overlaps  int
	active    int
	maxActive int
	done      chan struct{}
}

func (r *scheduleRecorder) sync(engine int) nango.SyncFunc {
	return func(ctx context.Context, n *nango.Nango) error {
		now := time.Now()
		id := n.ConnectionID()
		r.mu.Lock()
		r.byEngine[engine]++
		if r.running[id] > 0 {
			r.overlaps++
		}
		r.running[id]++
		if _, ok := r.started[id]; ok {
			if now.Before(r.next[id]) {
				r.repeated++
			}
		} else {
			r.started[id] = now
			if len(r.started) == r.want {
				close(r.done)
			}
		}
		r.active++
		r.maxActive = max(r.maxActive, r.active)
		r.mu.Unlock()
		r.mu.Lock()
		r.active--
		r.running[id]--
		r.mu.Unlock()
		return nil
	}
}

// runSchedule measures the scheduler: N connections of a no-op sync, each with a due time
// spread over one period, as after the engines have been running a while, on a real bbolt file
// (fsync on) or a PostgreSQL schema shared by several engines, each with its own pool (as
// replicas of a service). It reports the lag between each run's due time and the start of its
// sync code, the runs of each engine, and the process's CPU time per run; it checks that no
// connection ran twice, or on two engines at once.
//
//	go run ./bench schedule -connections 10000 -frequency "every minute"
//	go run ./bench schedule -store postgres -engines 3 -connections 10000
func runSchedule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench schedule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("connections", 10000, "number of connections")
	freq := fs.String("frequency", "every minute", "the sync's frequency; every connection runs once, spread over one period")
	limit := fs.Int("concurrency", 64, "MaxConcurrentRuns of each engine")
	engines := fs.Int("engines", 1, "number of engines sharing the store (each with its own pool on PostgreSQL)")
	storeName := fs.String("store", "bolt", "store to measure: bolt or postgres")
	fs.StringVar(&pgURL, "db", os.Getenv("NANGO_TEST_POSTGRES_URL"), "the PostgreSQL database of -store postgres (a fresh schema, dropped after); defaults to $NANGO_TEST_POSTGRES_URL")
	dir := fs.String("dir", os.TempDir(), "where to create the temporary database file")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	minFreq := fs.Duration("min-frequency", nango.MinFrequency, "the engine's MinFrequency (lower it to measure short frequencies)")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the measured period to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case *conns < 1:
		return fmt.Errorf("-connections must be positive")
	case *minFreq <= 0:
		return fmt.Errorf("-min-frequency must be positive")
	case *engines < 1:
		return fmt.Errorf("-engines must be positive")
	case *limit < 1:
		return fmt.Errorf("-concurrency must be positive")
	case *storeName != "bolt" && *storeName != "postgres":
		return fmt.Errorf("-store %q: bolt or postgres", *storeName)
	}
	period, err := time.ParseDuration(*freq)
	if err != nil || period < *minFreq {
		if period, err = nango.ParseFrequency(*freq); err != nil {
			return err
		}
	}
	stores, closeStores, err := scheduleStores(ctx, *storeName, *dir, *engines)
	if err != nil {
		return err
	}
	defer closeStores()
	st := stores[0]

	rec := &scheduleRecorder{want: *conns, started: make(map[string]time.Time, *conns), byEngine: make([]int, *engines),
		running: map[string]int{}, done: make(chan struct{})}
	var engs []*nango.Engine
	for i, est := range stores {
		eng, err := nango.NewEngine(est, &nango.Config{
			Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
			InstanceID:        fmt.Sprintf("bench-%d", i),
			MaxConcurrentRuns: *limit,
			MinFrequency:      *minFreq,
		})
		if err != nil {
			return err
		}
		err = eng.RegisterIntegration(nango.Integration{Key: "bench", Syncs: []nango.SyncConfig{{
			Name: "noop", Frequency: *freq, Models: []nango.Model{{Name: "Thing"}}, Sync: rec.sync(i),
		}}})
		if err != nil {
			return err
		}
		engs = append(engs, eng)
	}
	// Connections and their schedules, due at their slots over the next period (the grid the
	// scheduler keeps them on), starting a little after the engines have started (so that
	// their start-up does not count as lag): the schedules are written in about the time the
	// connections took.
	ids := make([]string, *conns)
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%05d", i)
	}
	t0 := time.Now()
	err = parallel(ctx, ids, func(ctx context.Context, id string) error {
		return st.ConnectionPut(ctx, &store.Connection{Integration: "bench", ID: id, CreatedAt: time.Now()})
	})
	if err != nil {
		return err
	}
	first := time.Now().Add(min(5*time.Second, period/2) + 2*time.Since(t0))
	due := make(map[string]time.Time, *conns)
	rec.next = make(map[string]time.Time, *conns)
	for _, id := range ids {
		key := store.SyncKey{Integration: "bench", Sync: "noop", Connection: id}
		due[id] = scheduler.NextSlot(key, period, first)
		rec.next[id] = due[id].Add(period)
	}
	err = parallel(ctx, ids, func(ctx context.Context, id string) error {
		return st.SchedulePut(ctx, &store.Schedule{Key: store.SyncKey{Integration: "bench", Sync: "noop", Connection: id}, NextRunAt: due[id]})
	})
	if err != nil {
		return err
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	runCtx, stop := context.WithCancel(ctx)
	runErrs := make(chan error, len(engs))
	for _, eng := range engs {
		go func() { runErrs <- eng.Run(runCtx) }()
	}
	stopAll := func() error {
		stop()
		var errs []error
		for range engs {
			errs = append(errs, <-runErrs)
		}
		return errors.Join(errs...)
	}
	select {
	case <-rec.done:
	case <-time.After(time.Until(first) + period + 5*time.Minute):
		_ = stopAll()
		return fmt.Errorf("not every connection ran within the period and 5 minutes")
	}
	cpu := cpuTime() - cpu0
	if err := stopAll(); err != nil {
		return err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	lags := make([]float64, 0, *conns)
	for id, at := range rec.started {
		lags = append(lags, float64(at.Sub(due[id]))/float64(time.Millisecond))
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	res := ScheduleResult{
		Store: *storeName, Workload: "schedule-lag", Engines: *engines, Connections: *conns, Frequency: *freq, Runs: len(lags),
		RunsPerSec: float64(len(lags)) / period.Seconds(), LagP50MS: q(0.50), LagP95MS: q(0.95), LagP99MS: q(0.99), LagMaxMS: lags[len(lags)-1],
		RunsPerEngine: slices.Clone(rec.byEngine), Repeated: rec.repeated, Overlaps: rec.overlaps,
		CPUPerRunUS: float64(cpu) / float64(time.Microsecond) / float64(len(lags)), MaxConcurrent: rec.maxActive,
		Concurrency: *limit, Target: "p99 lag < 1000 ms",
	}
	res.TargetMet = res.LagP99MS < 1000
	if *jsonOut {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	where := "bolt (fsync on)"
	if res.Store == "postgres" {
		where = "postgres"
	}
	fmt.Fprintf(stdout, "scheduler on %s: %d engines, %d connections, %s (%.0f runs/s), concurrency limit %d per engine\n",
		where, res.Engines, res.Connections, res.Frequency, res.RunsPerSec, res.Concurrency)
	fmt.Fprintf(stdout, "lag from due time to sync start: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 < 1 s: %v)\n",
		res.LagP50MS, res.LagP95MS, res.LagP99MS, res.LagMaxMS, res.TargetMet)
	fmt.Fprintf(stdout, "runs per engine: %v; slots run twice: %d; runs overlapping another of the same connection: %d\n",
		res.RunsPerEngine, res.Repeated, res.Overlaps)
	fmt.Fprintf(stdout, "CPU per run (this process): %.0f µs; most runs in progress at once: %d\n", res.CPUPerRunUS, res.MaxConcurrent)
	if res.Repeated > 0 || res.Overlaps > 0 {
		return fmt.Errorf("%d slots ran twice and %d runs overlapped", res.Repeated, res.Overlaps)
	}
	return nil
}

// scheduleStores opens the store of each engine: one bbolt file shared by all of them, or a
// fresh PostgreSQL schema with a store and a pool for each, dropped when closed.
func scheduleStores(ctx context.Context, name, dir string, engines int) ([]store.Store, func(), error) {
	if name == "bolt" {
		tmp, err := os.MkdirTemp(dir, "nango-bench-schedule-")
		if err != nil {
			return nil, nil, err
		}
		st, err := bolt.Open(filepath.Join(tmp, "schedule.db"), nil)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, nil, err
		}
		stores := make([]store.Store, engines)
		for i := range stores {
			stores[i] = st
		}
		return stores, func() { _ = st.Close(); _ = os.RemoveAll(tmp) }, nil
	}
	admin, schema, err := pgSchema(ctx)
	if err != nil {
		return nil, nil, err
	}
	var stores []store.Store
	closeAll := func() {
		for _, st := range stores {
			_ = st.Close()
		}
		dropSchema(admin, schema)
	}
	for range engines {
		st, err := postgres.Open(ctx, pgURL, &postgres.Options{Schema: schema})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		stores = append(stores, st)
	}
	return stores, closeAll, nil
}

// parallel calls fn for each id, a few at a time, and returns the first error.
func parallel(ctx context.Context, ids []string, fn func(ctx context.Context, id string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := fn(ctx, id); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
