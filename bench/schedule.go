package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// ScheduleResult is the measurement of the scheduler workload.
type ScheduleResult struct {
	Store       string  `json:"store"`
	Workload    string  `json:"workload"`
	Connections int     `json:"connections"`
	Frequency   string  `json:"frequency"`
	Runs        int     `json:"runs"`
	RunsPerSec  float64 `json:"runs_per_sec"`
	LagP50MS    float64 `json:"lag_p50_ms"`
	LagP99MS    float64 `json:"lag_p99_ms"`
	LagMaxMS    float64 `json:"lag_max_ms"`
	// CPUPerRunUS is the process's CPU time (user and system) per run, in microseconds.
	CPUPerRunUS   float64 `json:"cpu_per_run_us"`
	MaxConcurrent int     `json:"max_concurrent"`
	Concurrency   int     `json:"concurrency_limit"`
	Target        string  `json:"target"`
	TargetMet     bool    `json:"target_met"`
}

// runSchedule measures the scheduler: N connections of a no-op sync on a real bbolt file (fsync
// on), each with a due time spread over one period, as after the engine has been running a
// while; it reports the lag between each run's due time and the start of its sync code, and the
// engine's CPU time per run.
//
//	go run ./bench schedule -connections 10000 -frequency "every minute"
func runSchedule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench schedule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("connections", 10000, "number of connections")
	freq := fs.String("frequency", "every minute", "the sync's frequency; every connection runs once, spread over one period")
	limit := fs.Int("concurrency", 64, "MaxConcurrentRuns")
	dir := fs.String("dir", os.TempDir(), "where to create the temporary database file")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	minFreq := fs.Duration("min-frequency", nango.MinFrequency, "the engine's MinFrequency (lower it to measure short frequencies)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 {
		return fmt.Errorf("-connections must be positive")
	}
	if *minFreq <= 0 {
		return fmt.Errorf("-min-frequency must be positive")
	}
	period, err := time.ParseDuration(*freq)
	if err != nil || period < *minFreq {
		if period, err = nango.ParseFrequency(*freq); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(*dir, "nango-bench-schedule-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	st, err := bolt.Open(filepath.Join(tmp, "schedule.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()

	var mu sync.Mutex
	started := make(map[string]time.Time, *conns)
	active, maxActive := 0, 0
	done := make(chan struct{})
	noop := nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
		now := time.Now()
		mu.Lock()
		if _, ok := started[n.ConnectionID()]; !ok {
			started[n.ConnectionID()] = now
			if len(started) == *conns {
				close(done)
			}
		}
		active++
		maxActive = max(maxActive, active)
		mu.Unlock()
		mu.Lock()
		active--
		mu.Unlock()
		return nil
	})
	eng, err := nango.NewEngine(st, &nango.Config{
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxConcurrentRuns: *limit,
		MinFrequency:      *minFreq,
	})
	if err != nil {
		return err
	}
	err = eng.RegisterIntegration(nango.Integration{Key: "bench", Syncs: []nango.SyncConfig{{
		Name: "noop", Frequency: *freq, Models: []nango.Model{{Name: "Thing"}}, Sync: noop,
	}}})
	if err != nil {
		return err
	}
	// Connections and their schedules, due over the next period (starting a little ahead, so
	// that the engine's start-up does not count as lag).
	first := time.Now().Add(min(5*time.Second, period/2))
	due := make(map[string]time.Time, *conns)
	for i := 0; i < *conns; i++ {
		id := fmt.Sprintf("conn-%05d", i)
		if err := st.ConnectionPut(ctx, &store.Connection{Integration: "bench", ID: id, CreatedAt: time.Now()}); err != nil {
			return err
		}
		at := first.Add(time.Duration(rand.Int64N(int64(period))))
		due[id] = at
		if err := st.SchedulePut(ctx, &store.Schedule{Key: store.SyncKey{Integration: "bench", Sync: "noop", Connection: id}, NextRunAt: at}); err != nil {
			return err
		}
	}
	cpu0 := cpuTime()
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- eng.Run(runCtx) }()
	select {
	case <-done:
	case <-time.After(period + 5*time.Minute):
		stop()
		<-runErr
		return fmt.Errorf("not every connection ran within the period and 5 minutes")
	}
	cpu := cpuTime() - cpu0
	stop()
	if err := <-runErr; err != nil {
		return err
	}
	lags := make([]float64, 0, *conns)
	for id, at := range started {
		lags = append(lags, float64(at.Sub(due[id]))/float64(time.Millisecond))
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	res := ScheduleResult{
		Store: "bolt", Workload: "schedule-lag", Connections: *conns, Frequency: *freq, Runs: len(lags),
		RunsPerSec: float64(len(lags)) / period.Seconds(), LagP50MS: q(0.50), LagP99MS: q(0.99), LagMaxMS: lags[len(lags)-1],
		CPUPerRunUS: float64(cpu) / float64(time.Microsecond) / float64(len(lags)), MaxConcurrent: maxActive,
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
	fmt.Fprintf(stdout, "scheduler on bolt (fsync on): %d connections, %s (%.0f runs/s), concurrency limit %d\n",
		res.Connections, res.Frequency, res.RunsPerSec, res.Concurrency)
	fmt.Fprintf(stdout, "lag from due time to sync start: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 < 1 s: %v)\n",
		res.LagP50MS, res.LagP99MS, res.LagMaxMS, res.TargetMet)
	fmt.Fprintf(stdout, "CPU per run: %.0f µs; most runs in progress at once: %d\n", res.CPUPerRunUS, res.MaxConcurrent)
	return nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
