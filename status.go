package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
)

// Sync statuses, as Nango names them.
const (
	StatusRunning = "RUNNING"
	StatusPaused  = "PAUSED"
	StatusStopped = "STOPPED"
	StatusSuccess = "SUCCESS"
	StatusError   = "ERROR"
)

// Run is a run in the history (the store's record of it). Its fields, with their JSON names:
//
//	ID        string                  "id"          the run's id ("run_...")
//	Key       SyncKey                 "key"         Integration, Sync and Connection
//	Trigger   string                  "trigger"     TriggerManual, TriggerSchedule, TriggerWebhook, TriggerReset
//	State     RunState                "state"       RunRunning, RunSucceeded, RunFailed, RunCancelled, RunTimedOut
//	Initial   bool                    "initial"     no earlier run had succeeded
//	StartedAt time.Time               "started_at"
//	EndedAt   time.Time               "ended_at"    zero while it runs (or when its process died)
//	Results   map[string]ModelResult  "results"     what it did per model
//	Error     string                  "error"       why it failed; empty on success
//	Warnings  []string                "warnings"    such as deletions the DeleteGuard refused
//	Log       []string                "log"         its last log lines (Config.RunLogLines)
type Run = store.Run

// SyncStatus is the state of one sync for one connection.
type SyncStatus struct {
	Integration string
	Sync        string
	Connection  string
	// Status is RUNNING while a run is in progress (on any engine sharing the store), PAUSED
	// when the schedule is paused, else
	// SUCCESS or ERROR after the latest run's outcome, or STOPPED when it has not run yet or its
	// latest run was cancelled.
	Status string
	// Frequency is the effective frequency; FrequencyOverride is the connection's own, if set.
	Frequency         string
	FrequencyOverride string
	// NextScheduledRun is zero while paused, and when the engine has not scheduled it yet.
	NextScheduledRun time.Time
	// LatestRun is nil before the first run.
	LatestRun *Run
	// RecordCounts are the live records per model of the sync.
	RecordCounts map[string]int
	// Checkpoint is the sync's checkpoint for the connection, or nil.
	Checkpoint json.RawMessage
}

// Status reports the selected syncs, in the order of the integration's syncs and then of the
// connection ids.
func (e *Engine) Status(ctx context.Context, sel SyncSelector) ([]SyncStatus, error) {
	keys, err := e.targets(ctx, sel)
	if err != nil {
		return nil, err
	}
	out := make([]SyncStatus, 0, len(keys))
	for _, k := range keys {
		st, err := e.status(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (e *Engine) status(ctx context.Context, k store.SyncKey) (SyncStatus, error) {
	_, sc, err := e.syncConfig(k.Integration, k.Sync)
	if err != nil {
		return SyncStatus{}, err
	}
	st := SyncStatus{Integration: k.Integration, Sync: k.Sync, Connection: k.Connection, Frequency: sc.Frequency, RecordCounts: map[string]int{}}
	saved, err := e.schedule(ctx, k)
	if err != nil {
		return st, err
	}
	paused := saved.Paused
	st.FrequencyOverride = saved.Frequency
	next := saved.NextRunAt
	if ss, ok := e.sched.State(k); ok {
		paused, st.FrequencyOverride, next = ss.Paused, ss.Override, ss.NextRun
	}
	if st.FrequencyOverride != "" {
		st.Frequency = st.FrequencyOverride
	}
	if !paused {
		st.NextScheduledRun = next
	}

	runs, err := e.store.RunList(ctx, &store.RunListParams{Key: k, Limit: 1})
	if err != nil {
		return st, fmt.Errorf("nango: loading runs of %s for %q: %w", k.Sync, k.Connection, err)
	}
	if len(runs) > 0 {
		st.LatestRun = runs[0]
	}
	e.mu.RLock()
	_, running := e.active[k]
	e.mu.RUnlock()
	switch {
	case running || (st.LatestRun != nil && st.LatestRun.State == RunRunning):
		// Running here, or on another engine sharing the store. A run whose engine died stays
		// RUNNING until the next run of the sync takes its lease and records it interrupted.
		st.Status = StatusRunning
	case paused:
		st.Status = StatusPaused
	case st.LatestRun == nil || st.LatestRun.State == RunCancelled:
		st.Status = StatusStopped
	case st.LatestRun.State == RunSucceeded:
		st.Status = StatusSuccess
	default:
		st.Status = StatusError
	}
	for _, m := range sc.Models {
		stats, err := e.store.StreamStats(ctx, store.Stream{Integration: k.Integration, Connection: k.Connection, Model: m.Name})
		if err != nil {
			return st, fmt.Errorf("nango: counting records of %s: %w", m.Name, err)
		}
		st.RecordCounts[m.Name] = stats.Live
	}
	cp, err := e.store.CheckpointGet(ctx, store.CheckpointKey(k))
	switch {
	case err == nil:
		if st.Checkpoint, err = e.openCheckpoint(ctx, store.CheckpointKey(k), cp.Data); err != nil {
			return st, fmt.Errorf("nango: loading checkpoint of %s for %q: %w", k.Sync, k.Connection, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return st, fmt.Errorf("nango: loading checkpoint of %s for %q: %w", k.Sync, k.Connection, err)
	}
	return st, nil
}

// RunHistoryParams page through a sync's runs for a connection, newest first.
type RunHistoryParams struct {
	Integration string
	Sync        string
	Connection  string
	// Limit is the page size, 1 to 10,000. Defaults to 100.
	Limit int
	// Before continues after the run with this id (the last of the previous page).
	Before string
}

// RunHistory lists a sync's runs for a connection, newest first.
func (e *Engine) RunHistory(ctx context.Context, p RunHistoryParams) ([]*Run, error) {
	if _, _, err := e.syncConfig(p.Integration, p.Sync); err != nil {
		return nil, err
	}
	runs, err := e.store.RunList(ctx, &store.RunListParams{
		Key:   store.SyncKey{Integration: p.Integration, Sync: p.Sync, Connection: p.Connection},
		Limit: p.Limit, Before: p.Before,
	})
	if err != nil {
		return nil, fmt.Errorf("nango: listing runs of %s for %q: %w", p.Sync, p.Connection, err)
	}
	return runs, nil
}
