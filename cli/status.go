package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// statusJSON is a sync's status in -json output.
type statusJSON struct {
	Integration       string          `json:"integration"`
	Sync              string          `json:"sync"`
	Connection        string          `json:"connection"`
	Status            string          `json:"status"`
	Frequency         string          `json:"frequency,omitempty"`
	FrequencyOverride string          `json:"frequency_override,omitempty"`
	NextScheduledRun  *time.Time      `json:"next_scheduled_run,omitempty"`
	Paused            bool            `json:"paused,omitempty"`
	LatestRun         *runJSON        `json:"latest_run,omitempty"`
	RecordCounts      map[string]int  `json:"record_counts"`
	Checkpoint        json.RawMessage `json:"checkpoint,omitempty"`
}

// runJSON is a run in -json output.
type runJSON struct {
	ID        string                       `json:"id"`
	Trigger   string                       `json:"trigger"`
	State     string                       `json:"state"`
	Initial   bool                         `json:"initial"`
	StartedAt time.Time                    `json:"started_at"`
	EndedAt   *time.Time                   `json:"ended_at,omitempty"`
	Results   map[string]nango.ModelResult `json:"results,omitempty"`
	Error     string                       `json:"error,omitempty"`
	Warnings  []string                     `json:"warnings,omitempty"`
	Log       []string                     `json:"log,omitempty"`
}

func toRunJSON(r *store.Run, withLog bool) *runJSON {
	if r == nil {
		return nil
	}
	out := &runJSON{ID: r.ID, Trigger: r.Trigger, State: string(r.State), Initial: r.Initial, StartedAt: r.StartedAt.UTC(),
		Results: r.Results, Error: r.Error, Warnings: r.Warnings}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt.UTC()
		out.EndedAt = &t
	}
	if withLog {
		out.Log = r.Log
	}
	return out
}

func runStatus(e *env, args []string) error {
	f := e.flags("status", commandArgs("status")).withIntegrationOptional().withConnection(false).withSync(false).withJSON()
	if err := f.parse(args); err != nil {
		return err
	}
	var rows []statusJSON
	var err error
	if e.eng != nil {
		rows, err = e.engineStatus(f)
	} else {
		rows, err = e.storeStatus(f)
	}
	if err != nil {
		return err
	}
	if f.json {
		if rows == nil {
			rows = []statusJSON{}
		}
		return writeJSON(e.stdout, map[string]any{"syncs": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "no syncs found")
		if e.eng == nil {
			fmt.Fprintln(e.stdout, "(without the service's engine, syncs are found by their schedules; name one with -sync and -connection)")
		}
		return nil
	}
	t := newTable(e.stdout, "SYNC", "CONNECTION", "STATUS", "FREQUENCY", "NEXT RUN", "LATEST RUN", "STATE", "RECORDS", "CHECKPOINT")
	for _, r := range rows {
		next := "-"
		if r.NextScheduledRun != nil {
			next = timeText(*r.NextScheduledRun)
		}
		latest, state := "-", "-"
		if r.LatestRun != nil {
			latest, state = timeText(r.LatestRun.StartedAt), r.LatestRun.State
			if r.LatestRun.Error != "" {
				state += ": " + clip(r.LatestRun.Error, 60)
			}
		}
		var counts []string
		for _, m := range sortedKeys(r.RecordCounts) {
			counts = append(counts, fmt.Sprintf("%s=%d", m, r.RecordCounts[m]))
		}
		t.row(r.Sync, r.Connection, r.Status, orDash(r.Frequency), next, latest, state, orDash(strings.Join(counts, " ")), clip(orDash(string(r.Checkpoint)), 40))
	}
	return t.flush()
}

func (e *env) engineStatus(f *flags) ([]statusJSON, error) {
	integrations := []string{f.integration}
	if f.integration == "" {
		// Every integration of the engine that has connections in the store.
		keys, err := e.storeIntegrations()
		if err != nil {
			return nil, err
		}
		integrations = keys
	}
	var sts []nango.SyncStatus
	for _, in := range integrations {
		sel := nango.SyncSelector{Integration: in, Connection: f.connection}
		if f.sync != "" {
			sel.Syncs = []string{f.sync}
		}
		part, err := e.eng.Status(e.ctx, sel)
		if f.integration == "" && (errors.Is(err, nango.ErrUnknownIntegration) || errors.Is(err, nango.ErrUnknownSync) || errors.Is(err, nango.ErrUnknownConnection)) {
			continue // connections of an integration this binary does not register, or without this sync
		}
		if err != nil {
			return nil, err
		}
		sts = append(sts, part...)
	}
	rows := make([]statusJSON, 0, len(sts))
	for _, s := range sts {
		r := statusJSON{Integration: s.Integration, Sync: s.Sync, Connection: s.Connection, Status: s.Status,
			Frequency: s.Frequency, FrequencyOverride: s.FrequencyOverride, LatestRun: toRunJSON(s.LatestRun, false),
			RecordCounts: s.RecordCounts, Checkpoint: s.Checkpoint}
		if !s.NextScheduledRun.IsZero() {
			t := s.NextScheduledRun.UTC()
			r.NextScheduledRun = &t
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// storeIntegrations lists the integrations that have connections in the store, in order.
func (e *env) storeIntegrations() ([]string, error) {
	conns, err := e.st.ConnectionList(e.ctx, "")
	if err != nil {
		return nil, wrapf(err, "listing connections")
	}
	var keys []string
	for _, c := range conns {
		if !slices.Contains(keys, c.Integration) {
			keys = append(keys, c.Integration)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// storeStatus reports from the store alone: the syncs it knows of are those with a schedule
// (saved by a running engine) and the one the flags name. The models are those of the latest
// run's results.
func (e *env) storeStatus(f *flags) ([]statusJSON, error) {
	scheds, err := e.st.ScheduleList(e.ctx, f.integration)
	if err != nil {
		return nil, wrapf(err, "listing schedules")
	}
	var keys []store.SyncKey
	paused := map[store.SyncKey]*store.Schedule{}
	for _, s := range scheds {
		if (f.sync == "" || s.Key.Sync == f.sync) && (f.connection == "" || s.Key.Connection == f.connection) {
			keys = append(keys, s.Key)
			paused[s.Key] = s
		}
	}
	if f.sync != "" && f.connection != "" && len(keys) == 0 {
		keys = append(keys, f.syncKey())
	}
	var rows []statusJSON
	for _, k := range keys {
		r := statusJSON{Integration: k.Integration, Sync: k.Sync, Connection: k.Connection, RecordCounts: map[string]int{}}
		if s := paused[k]; s != nil {
			r.Paused, r.FrequencyOverride = s.Paused, s.Frequency
			r.Frequency = s.Frequency
			if !s.NextRunAt.IsZero() && !s.Paused {
				t := s.NextRunAt.UTC()
				r.NextScheduledRun = &t
			}
		}
		runs, err := e.st.RunList(e.ctx, &store.RunListParams{Key: k, Limit: 1})
		if err != nil {
			return nil, wrapf(err, "listing runs of %s for %q", k.Sync, k.Connection)
		}
		var latest *store.Run
		if len(runs) > 0 {
			latest = runs[0]
			r.LatestRun = toRunJSON(latest, false)
		}
		switch {
		case r.Paused:
			r.Status = nango.StatusPaused
		case latest == nil || latest.State == store.RunCancelled:
			r.Status = nango.StatusStopped
		case latest.State == store.RunSucceeded:
			r.Status = nango.StatusSuccess
		case latest.State == store.RunRunning:
			r.Status = nango.StatusRunning + "?" // or left running by a process that stopped
		default:
			r.Status = nango.StatusError
		}
		if latest != nil {
			for model := range latest.Results {
				stats, err := e.st.StreamStats(e.ctx, store.Stream{Integration: k.Integration, Connection: k.Connection, Model: model})
				if err != nil {
					return nil, wrapf(err, "counting records of %s", model)
				}
				r.RecordCounts[model] = stats.Live
			}
		}
		cp, err := e.st.CheckpointGet(e.ctx, store.CheckpointKey(k))
		switch {
		case err == nil:
			r.Checkpoint, err = e.opener.OpenCheckpoint(e.ctx, store.CheckpointKey(k), cp.Data)
			switch {
			case errors.Is(err, nango.ErrNoEncryptionKey):
				r.Checkpoint = cp.Data // shown sealed, as stored
			case err != nil:
				return nil, wrapf(err, "reading checkpoint of %s for %q", k.Sync, k.Connection)
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, wrapf(err, "loading checkpoint of %s for %q", k.Sync, k.Connection)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func runHistory(e *env, args []string) error {
	f := e.flags("history", commandArgs("history")).withIntegration().withSync(true).withConnection(true).withJSON()
	limit := f.Int("limit", 20, "how many runs, 1 to 10,000")
	before := f.String("before", "", "list the runs older than this run id")
	withLog := f.Bool("log", false, "show each run's log")
	if err := f.parse(args); err != nil {
		return err
	}
	var runs []*store.Run
	var err error
	if e.eng != nil {
		runs, err = e.eng.RunHistory(e.ctx, nango.RunHistoryParams{Integration: f.integration, Sync: f.sync, Connection: f.connection, Limit: *limit, Before: *before})
	} else {
		runs, err = e.st.RunList(e.ctx, &store.RunListParams{Key: f.syncKey(), Limit: *limit, Before: *before})
	}
	if err != nil {
		return err
	}
	if f.json {
		out := make([]*runJSON, len(runs))
		for i, r := range runs {
			out[i] = toRunJSON(r, *withLog)
		}
		return writeJSON(e.stdout, map[string]any{"runs": out})
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no runs")
		return nil
	}
	if *withLog {
		for _, r := range runs {
			fmt.Fprintf(e.stdout, "%s  %s  %s  started %s  %s\n", r.ID, r.Trigger, r.State, timeText(r.StartedAt), runChanges(r.Results))
			if r.Error != "" {
				fmt.Fprintf(e.stdout, "  error: %s\n", r.Error)
			}
			for _, l := range r.Log {
				fmt.Fprintf(e.stdout, "  | %s\n", l)
			}
			fmt.Fprintln(e.stdout)
		}
		return nil
	}
	t := newTable(e.stdout, "RUN", "TRIGGER", "STATE", "STARTED", "DURATION", "CHANGES", "ERROR")
	for _, r := range runs {
		d := "-"
		if !r.EndedAt.IsZero() {
			d = r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		t.row(r.ID, r.Trigger, string(r.State), timeText(r.StartedAt), d, orDash(runChanges(r.Results)), orDash(clip(r.Error, 80)))
	}
	return t.flush()
}

// runChanges formats a run's counts: "Contact +3 ~1 -0".
func runChanges(results map[string]nango.ModelResult) string {
	var parts []string
	for _, m := range sortedKeys(results) {
		c := results[m]
		parts = append(parts, fmt.Sprintf("%s +%d ~%d -%d", m, c.Added, c.Updated, c.Deleted))
	}
	return strings.Join(parts, ", ")
}
