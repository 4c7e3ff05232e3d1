package nango

import (
	"sync"
	"time"
)

// RunProgress is what a run in progress has done so far.
type RunProgress struct {
	RunID       string
	Integration string
	Sync        string
	Connection  string
	Trigger     string
	StartedAt   time.Time
	// Elapsed is the time since the run started, on the engine's clock.
	Elapsed time.Duration
	// Models counts, per model of the sync, the changes its committed writes made so far.
	Models map[string]ModelResult
	// Log is the run's log so far: its newest Config.RunLogLines lines.
	Log []string
}

// RunProgress reports a run in progress in this engine: the changes of the batches it has
// committed so far, and its log. It reports false when no run with this id is in progress in
// this engine (it has ended, or runs in another replica): Store().RunGet has its record then.
func (e *Engine) RunProgress(runID string) (*RunProgress, bool) {
	v, ok := e.progress.runs.Load(runID)
	if !ok {
		return nil, false
	}
	n := v.(*Nango)
	run := n.run
	return &RunProgress{
		RunID: run.ID, Integration: run.Key.Integration, Sync: run.Key.Sync, Connection: run.Key.Connection,
		Trigger: run.Trigger, StartedAt: run.StartedAt, Elapsed: e.cfg.Clock.Now().Sub(run.StartedAt),
		Models: n.modelResults(), Log: n.logs.lines(),
	}, true
}

// progressRuns holds the runs in progress of an engine by id. Its zero value is ready.
type progressRuns struct {
	runs sync.Map // run id -> *Nango
}

// track makes n's progress visible until the returned function is called.
func (p *progressRuns) track(n *Nango) (untrack func()) {
	p.runs.Store(n.run.ID, n)
	return func() { p.runs.Delete(n.run.ID) }
}
