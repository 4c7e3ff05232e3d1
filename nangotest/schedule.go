package nangotest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
)

// Schedule runs an engine's scheduler (Engine.Run) inside a testing/synctest bubble, where time
// is fake: a day of a schedule takes milliseconds, and Advance returns once every run that came
// due has ended. It tests what the scheduler does with a sync's configuration: the first run of
// a new connection, the grid of its frequency (each connection offset by a hash of its key, the
// schedule's jitter), Pause and Start, per-connection SetFrequency, Trigger.
//
// Build the engine inside synctest.Test with the default clock (Config.Clock nil: the bubble
// fakes the system clock) and a store made there too, then call StartSchedule:
//
//	synctest.Test(t, func(t *testing.T) {
//		eng, _ := nango.NewEngine(memory.New(), nil)
//		// RegisterIntegration, AddConnection ...
//		s := nangotest.StartSchedule(t, eng)
//		s.Advance(3 * time.Hour)
//		starts := s.Starts("crm", "contacts", "acme") // when each run started
//	})
//
// Runs started this way reach the sync's provider as RunSync would: give the integration a
// BaseURL served inside the bubble, or a sync that needs no provider.
type Schedule struct {
	tb    testing.TB
	eng   *nango.Engine
	start time.Time
	stop  func() error
}

// StartSchedule runs eng's scheduler until the test ends (or Stop). It must be called inside
// a synctest bubble (synctest.Test), with an engine made there; it returns once the runs due at
// once (new connections) have ended.
func StartSchedule(tb testing.TB, eng *nango.Engine) *Schedule {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	s := &Schedule{tb: tb, eng: eng, start: time.Now()}
	var stopped bool
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("nangotest: stopping the engine: %v", err)
		}
	})
	synctest.Wait()
	return s
}

// Advance moves the bubble's clock on by d and returns once the runs due until then have
// ended (the engine waits for its next due time).
func (s *Schedule) Advance(d time.Duration) {
	s.tb.Helper()
	time.Sleep(d)
	synctest.Wait()
}

// Wait returns once the engine is idle: the effect of a control call (Trigger, Start, ...)
// made without advancing the clock.
func (s *Schedule) Wait() { synctest.Wait() }

// Starts returns when the runs of a sync for a connection started, oldest first (up to
// 10,000), since StartSchedule.
func (s *Schedule) Starts(integration, sync, connection string) []time.Time {
	s.tb.Helper()
	runs, err := s.eng.RunHistory(context.Background(), nango.RunHistoryParams{
		Integration: integration, Sync: sync, Connection: connection, Limit: 10_000,
	})
	if err != nil {
		s.tb.Fatalf("nangotest: %v", err)
	}
	var out []time.Time
	for i := len(runs) - 1; i >= 0; i-- {
		if !runs[i].StartedAt.Before(s.start.Truncate(time.Microsecond)) {
			out = append(out, runs[i].StartedAt)
		}
	}
	return out
}

// Stop stops the engine and returns Run's error; the test's end does it otherwise.
func (s *Schedule) Stop() error { return s.stop() }
