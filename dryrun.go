package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gonango/nango/internal/overlay"
	"github.com/gonango/nango/store"
)

// TriggerDryRun is the trigger of the runs of Engine.DryRun.
const TriggerDryRun = "dry_run"

// DryRunOptions adjust Engine.DryRun. A nil *DryRunOptions means the defaults.
type DryRunOptions struct {
	// Samples is how many records of each kind (added, updated, deleted) the report keeps per
	// model. Defaults to 5; a negative value keeps none.
	Samples int
	// Progress, when set, is called while the run goes, after each provider request and each
	// write, with the totals so far. Calls come one at a time from the run's goroutines; keep
	// them short.
	Progress func(DryRunProgress)
	// ConfirmDeletes makes the report show the deletions that the DeleteGuard would refuse as
	// deletions, as RunOptions.ConfirmDeletes would make them happen.
	ConfirmDeletes bool
	// MaxRequests bounds the requests listed in the report (they are all counted). Defaults to
	// 1,000.
	MaxRequests int
}

// DryRunProgress is what a dry run has done so far.
type DryRunProgress struct {
	// Requests is the number of provider requests sent, retries included.
	Requests int
	// LastRequest describes the latest request ("GET https://api.example.com/v1/contacts 200"),
	// with secrets redacted.
	LastRequest string
	// Models counts what the run's writes did so far, per model.
	Models map[string]ModelResult
}

// DryRunReport is what a sync would change if it ran now.
type DryRunReport struct {
	Integration string
	Sync        string
	Connection  string
	// Run is the run as it went in the sandbox: its state, error, warnings and counts per
	// write (a record saved twice counts twice; Models below counts each record once).
	Run *RunResult
	// Models says, per model of the sync, what the run would change in the store.
	Models map[string]*DryRunModel
	// CheckpointBefore is the stored checkpoint, and Checkpoint the one the run would leave;
	// nil means none. CheckpointChanged tells whether they differ.
	CheckpointBefore  json.RawMessage
	Checkpoint        json.RawMessage
	CheckpointChanged bool
	// Requests lists the provider requests the run sent (at most DryRunOptions.MaxRequests);
	// RequestCount counts them all.
	Requests     []DryRunRequest
	RequestCount int
}

// DryRunModel is what a run would change in one model, each record counted once by comparing
// its final state in the sandbox with the stored one.
type DryRunModel struct {
	WouldAdd    int
	WouldUpdate int
	WouldDelete int
	// Unchanged counts the records the run saved exactly as they are stored.
	Unchanged int
	// RefusedDeletes counts the TrackDeletes deletions the DeleteGuard would refuse.
	RefusedDeletes int
	// Samples of each kind, at most DryRunOptions.Samples.
	Added   []DryRunRecord
	Updated []DryRunChange
	Deleted []DryRunRecord
}

// DryRunRecord is a sample record: its id and its payload as canonical JSON.
type DryRunRecord struct {
	ID   string
	Data json.RawMessage
}

// DryRunChange is a sample update: the stored payload and the one the run would store.
type DryRunChange struct {
	ID     string
	Before json.RawMessage
	After  json.RawMessage
}

// DryRunRequest is a provider request of a dry run. URL has its secrets redacted.
type DryRunRequest struct {
	Method   string
	URL      string
	Status   int
	Err      string
	Duration time.Duration
}

// DryRun runs a sync for a connection as RunSync would, against the provider's real API, and
// writes nothing: every write goes to a sandbox over the engine's store (reads come from the
// store, writes stay in memory), and the report says what the run would change against the
// stored state: records that would be added, updated or deleted per model, with samples; the
// checkpoint it would leave; the requests it sent. It works over any store and may run while
// the engine runs, including while the same sync runs for real.
//
// Two things differ from a real run. An OAuth token refreshed during the dry run is stored with
// the connection (the provider may have invalidated the old refresh token). A TrackDeletes sync
// counts as deleted the live records the dry run did not save, without the ids that failed runs
// since the last successful one may have seen. The sandbox holds the records the run writes in
// memory.
//
// The error is the run's error (also in DryRunReport.Run.Err), or why it could not start:
// ErrUnknownIntegration, ErrUnknownSync, ErrUnknownConnection. The report is nil only when the
// run could not start.
func (e *Engine) DryRun(ctx context.Context, integration, syncName, connection string, opts *DryRunOptions) (*DryRunReport, error) {
	var o DryRunOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Samples == 0:
		o.Samples = 5
	case o.Samples < 0:
		o.Samples = 0
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 1000
	}
	in, sc, err := e.syncConfig(integration, syncName)
	if err != nil {
		return nil, err
	}
	if _, err := e.store.ConnectionGet(ctx, integration, connection); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, integration)
		}
		return nil, fmt.Errorf("nango: loading connection %q: %w", connection, err)
	}
	key := store.CheckpointKey{Integration: integration, Sync: syncName, Connection: connection}
	var before json.RawMessage
	if cp, err := e.store.CheckpointGet(ctx, key); err == nil {
		if before, err = e.openCheckpoint(ctx, key, cp.Data); err != nil {
			return nil, fmt.Errorf("nango: loading checkpoint of %s for %q: %w", syncName, connection, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("nango: loading checkpoint of %s for %q: %w", syncName, connection, err)
	}

	sandbox := overlay.New(e.store)
	defer sandbox.Close()
	cfg := e.cfg
	cfg.Logger = e.logger.With("dry_run", true)
	cfg.MeterProvider = nil
	cfg.Retry = nil
	cfg.InstanceID = e.cfg.InstanceID + "-dry-run"
	cfg.DataKeyStore = newSandboxKeys(e.cfg.DataKeyStore) // a key made or moved stays in the sandbox
	dry, err := NewEngine(sandbox, &cfg)
	if err != nil {
		return nil, err
	}
	rec := &dryRecorder{engine: dry, key: connKey{integration, connection}, max: o.MaxRequests, progress: o.Progress, models: map[string]ModelResult{}}
	sandbox.OnWrite(rec.write)
	din := *in
	hc := HTTPConfig{}
	if in.HTTP != nil {
		hc = *in.HTTP
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &dryTransport{next: next, rec: rec}
	din.HTTP = &hc
	dry.integrations[din.Key] = &din

	res, runErr := dry.RunSync(ctx, integration, syncName, connection, &RunOptions{ConfirmDeletes: o.ConfirmDeletes, Trigger: TriggerDryRun})
	if res == nil {
		return nil, runErr
	}
	report := &DryRunReport{
		Integration: integration, Sync: syncName, Connection: connection, Run: res,
		Models: map[string]*DryRunModel{}, CheckpointBefore: before,
	}
	rec.mu.Lock()
	report.Requests, report.RequestCount = rec.requests, rec.count
	rec.mu.Unlock()
	for _, m := range sc.Models {
		diff, err := sandbox.Diff(ctx, store.Stream{Integration: integration, Connection: connection, Model: m.Name}, o.Samples)
		if err != nil {
			return report, fmt.Errorf("nango: dry run of %s: %w", syncName, err)
		}
		if err := dry.openDiff(ctx, store.Stream{Integration: integration, Connection: connection, Model: m.Name}, diff); err != nil {
			return report, fmt.Errorf("nango: dry run of %s: %w", syncName, err)
		}
		report.Models[m.Name] = dryRunModel(diff)
	}
	after, err := sandbox.CheckpointGet(ctx, key)
	switch {
	case err == nil:
		if report.Checkpoint, err = dry.openCheckpoint(ctx, key, after.Data); err != nil {
			return report, fmt.Errorf("nango: dry run of %s: loading checkpoint: %w", syncName, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return report, fmt.Errorf("nango: dry run of %s: loading checkpoint: %w", syncName, err)
	}
	report.CheckpointChanged = string(report.Checkpoint) != string(before)
	return report, runErr
}

// openDiff decrypts the samples of a dry run's diff that come from the store (the sandbox holds
// payloads in the clear).
func (e *Engine) openDiff(ctx context.Context, st store.Stream, d *overlay.Diff) error {
	var recs []store.Record
	for _, s := range d.AddedSamples {
		recs = append(recs, store.Record{ID: s.ID, Data: s.Data})
	}
	for _, s := range d.DeletedSamples {
		recs = append(recs, store.Record{ID: s.ID, Data: s.Data})
	}
	for _, c := range d.UpdatedSamples {
		recs = append(recs, store.Record{ID: c.ID, Data: c.Before}, store.Record{ID: c.ID, Data: c.After})
	}
	if err := e.keys.openRecords(ctx, st, recs); err != nil {
		return err
	}
	i := 0
	for j := range d.AddedSamples {
		d.AddedSamples[j].Data, i = recs[i].Data, i+1
	}
	for j := range d.DeletedSamples {
		d.DeletedSamples[j].Data, i = recs[i].Data, i+1
	}
	for j := range d.UpdatedSamples {
		d.UpdatedSamples[j].Before, d.UpdatedSamples[j].After, i = recs[i].Data, recs[i+1].Data, i+2
	}
	return nil
}

// dryRunModel is the report of one model from the sandbox's diff.
func dryRunModel(d *overlay.Diff) *DryRunModel {
	dm := &DryRunModel{WouldAdd: d.Added, WouldUpdate: d.Updated, WouldDelete: d.Deleted, Unchanged: d.Unchanged,
		RefusedDeletes: d.RefusedDeletes}
	for _, r := range d.AddedSamples {
		dm.Added = append(dm.Added, DryRunRecord{ID: r.ID, Data: r.Data})
	}
	for _, c := range d.UpdatedSamples {
		dm.Updated = append(dm.Updated, DryRunChange{ID: c.ID, Before: c.Before, After: c.After})
	}
	for _, r := range d.DeletedSamples {
		dm.Deleted = append(dm.Deleted, DryRunRecord{ID: r.ID, Data: r.Data})
	}
	return dm
}

// dryRecorder collects a dry run's requests and reports its progress.
type dryRecorder struct {
	engine   *Engine
	key      connKey
	max      int
	progress func(DryRunProgress)

	mu       sync.Mutex
	requests []DryRunRequest
	count    int
	last     string
	models   map[string]ModelResult
}

func (r *dryRecorder) request(req DryRunRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if len(r.requests) < r.max {
		r.requests = append(r.requests, req)
	}
	r.last = req.Method + " " + req.URL
	if req.Status != 0 {
		r.last += fmt.Sprintf(" %d", req.Status)
	}
	if req.Err != "" {
		r.last += ": " + req.Err
	}
	r.report()
}

func (r *dryRecorder) write(model string, res *store.RecordsWriteResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[model]
	m.Added += res.Added
	m.Updated += res.Updated
	m.Deleted += res.Deleted
	m.Unchanged += res.Unchanged
	m.Duplicates += res.Duplicates
	m.Ignored += res.Ignored
	r.models[model] = m
	r.report()
}

// report calls the progress function; callers hold r.mu.
func (r *dryRecorder) report() {
	if r.progress == nil {
		return
	}
	models := make(map[string]ModelResult, len(r.models))
	for k, v := range r.models {
		models[k] = v
	}
	r.progress(DryRunProgress{Requests: r.count, LastRequest: r.last, Models: models})
}

// display returns u and err's message without the connection's secrets.
func (r *dryRecorder) display(u *url.URL, err error) (string, string) {
	r.engine.http.mu.Lock()
	c := r.engine.http.conns[r.key]
	r.engine.http.mu.Unlock()
	msg := ""
	if c == nil {
		v := *u
		v.User, v.RawQuery = nil, ""
		if err != nil {
			msg = "request failed"
		}
		return v.String(), msg
	}
	if err != nil {
		msg = c.secrets.Redact(err.Error())
	}
	return c.displayURL(u), msg
}

// dryTransport records the requests of a dry run, after authentication.
type dryTransport struct {
	next http.RoundTripper
	rec  *dryRecorder
}

func (t *dryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.rec.engine.cfg.Clock.Now()
	resp, err := t.next.RoundTrip(req)
	dr := DryRunRequest{Method: req.Method, Duration: t.rec.engine.cfg.Clock.Now().Sub(start)}
	if resp != nil {
		dr.Status = resp.StatusCode
	}
	var ue *url.Error
	shown := err
	if errors.As(err, &ue) {
		shown = ue.Err // its message holds the whole URL
	}
	dr.URL, dr.Err = t.rec.display(req.URL, shown)
	t.rec.request(dr)
	return resp, err
}
