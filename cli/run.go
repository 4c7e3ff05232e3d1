package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango"
)

// pollEvery is how often trigger reads the record counts for its progress line.
const pollEvery = 500 * time.Millisecond

func runTrigger(e *env, args []string) error {
	f := e.flags("trigger", commandArgs("trigger")).withIntegration().withSync(true).withConnection(true).withJSON()
	reset := f.Bool("reset", false, "clear the checkpoint and deletion tracking first: an initial run")
	emptyCache := f.Bool("empty-cache", false, "with -reset, also remove the records for good first")
	confirm := f.Bool("confirm-deletes", false, "let TrackDeletes delete past the DeleteGuard")
	if err := f.parse(args); err != nil {
		return err
	}
	if e.eng == nil {
		return ErrNeedsEngine
	}
	p := e.newProgress()
	p.show("running %s for %q…", f.sync, f.connection)
	done := make(chan struct{})
	var wg sync.WaitGroup
	if p.on {
		wg.Go(func() {
			t := time.NewTicker(pollEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				sts, err := e.eng.Status(e.ctx, nango.SyncSelector{Integration: f.integration, Syncs: []string{f.sync}, Connection: f.connection})
				if err != nil || len(sts) == 0 {
					continue
				}
				var counts []string
				for _, m := range sortedKeys(sts[0].RecordCounts) {
					counts = append(counts, fmt.Sprintf("%s %d records", m, sts[0].RecordCounts[m]))
				}
				p.show("running %s for %q · %s", f.sync, f.connection, strings.Join(counts, " · "))
			}
		})
	}
	res, err := e.eng.RunSync(e.ctx, f.integration, f.sync, f.connection, &nango.RunOptions{Reset: *reset, EmptyCache: *emptyCache, ConfirmDeletes: *confirm})
	close(done)
	wg.Wait()
	p.clear()
	if res == nil {
		return err
	}
	if f.json {
		out := map[string]any{
			"run_id": res.RunID, "state": res.State, "initial": res.Initial, "trigger": res.Trigger,
			"started_at": res.StartedAt.UTC(), "ended_at": res.EndedAt.UTC(), "results": res.Models,
			"warnings": res.Warnings, "refused_deletes": res.RefusedDeletes,
		}
		if res.Err != nil {
			out["error"] = res.Err.Error()
		}
		if werr := writeJSON(e.stdout, out); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintf(e.stdout, "run %s of %s for %q: %s in %s", res.RunID, res.Sync, res.Connection, res.State, res.Duration().Round(time.Millisecond))
		if res.Initial {
			fmt.Fprint(e.stdout, " (initial run)")
		}
		fmt.Fprintln(e.stdout)
		t := newTable(e.stdout, "MODEL", "ADDED", "UPDATED", "DELETED", "UNCHANGED", "DUPLICATES")
		for _, m := range sortedKeys(res.Models) {
			c := res.Models[m]
			t.row(m, fmt.Sprint(c.Added), fmt.Sprint(c.Updated), fmt.Sprint(c.Deleted), fmt.Sprint(c.Unchanged), fmt.Sprint(c.Duplicates))
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(e.stdout, "warning: %s\n", w)
		}
	}
	if err != nil {
		return wrapf(err, "the run failed")
	}
	return nil
}

// dryRunJSON is a dry run's report in -json output.
type dryRunJSON struct {
	Integration       string                  `json:"integration"`
	Sync              string                  `json:"sync"`
	Connection        string                  `json:"connection"`
	State             string                  `json:"state"`
	Error             string                  `json:"error,omitempty"`
	Warnings          []string                `json:"warnings,omitempty"`
	Models            map[string]dryModelJSON `json:"models"`
	CheckpointBefore  json.RawMessage         `json:"checkpoint_before"`
	Checkpoint        json.RawMessage         `json:"checkpoint"`
	CheckpointChanged bool                    `json:"checkpoint_changed"`
	RequestCount      int                     `json:"request_count"`
	Requests          []map[string]any        `json:"requests,omitempty"`
}

type dryModelJSON struct {
	WouldAdd       int               `json:"would_add"`
	WouldUpdate    int               `json:"would_update"`
	WouldDelete    int               `json:"would_delete"`
	Unchanged      int               `json:"unchanged"`
	RefusedDeletes int               `json:"refused_deletes,omitempty"`
	Added          []json.RawMessage `json:"added,omitempty"`
	Updated        []map[string]any  `json:"updated,omitempty"`
	Deleted        []json.RawMessage `json:"deleted,omitempty"`
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if r == nil {
		return json.RawMessage("null")
	}
	return r
}

func runDryRun(e *env, args []string) error {
	f := e.flags("dry-run", commandArgs("dry-run")).withIntegration().withSync(true).withConnection(true).withJSON()
	samples := f.Int("samples", 5, "sample records to show per model and kind of change")
	confirm := f.Bool("confirm-deletes", false, "count the deletions the DeleteGuard would refuse as deletions")
	requests := f.Bool("requests", false, "list the provider requests")
	if err := f.parse(args); err != nil {
		return err
	}
	if e.eng == nil {
		return ErrNeedsEngine
	}
	if *samples == 0 {
		*samples = -1
	}
	p := e.newProgress()
	p.show("dry run of %s for %q…", f.sync, f.connection)
	rep, err := e.eng.DryRun(e.ctx, f.integration, f.sync, f.connection, &nango.DryRunOptions{
		Samples: *samples, ConfirmDeletes: *confirm,
		Progress: func(pr nango.DryRunProgress) {
			var parts []string
			for _, m := range sortedKeys(pr.Models) {
				c := pr.Models[m]
				parts = append(parts, fmt.Sprintf("%s +%d ~%d -%d", m, c.Added, c.Updated, c.Deleted))
			}
			p.show("dry run · %d requests · %s · %s", pr.Requests, orDash(strings.Join(parts, ", ")), pr.LastRequest)
		},
	})
	p.clear()
	if rep == nil {
		return err
	}
	if f.json {
		if werr := writeJSON(e.stdout, dryRunToJSON(rep, *requests)); werr != nil {
			return werr
		}
	} else if werr := printDryRun(e, rep, *requests); werr != nil {
		return werr
	}
	if err != nil {
		return wrapf(err, "the dry run failed")
	}
	return nil
}

func dryRunToJSON(rep *nango.DryRunReport, requests bool) *dryRunJSON {
	out := &dryRunJSON{
		Integration: rep.Integration, Sync: rep.Sync, Connection: rep.Connection, State: string(rep.Run.State),
		Warnings: rep.Run.Warnings, Models: map[string]dryModelJSON{}, CheckpointBefore: rawOrNull(rep.CheckpointBefore),
		Checkpoint: rawOrNull(rep.Checkpoint), CheckpointChanged: rep.CheckpointChanged, RequestCount: rep.RequestCount,
	}
	if rep.Run.Err != nil {
		out.Error = rep.Run.Err.Error()
	}
	for name, m := range rep.Models {
		dm := dryModelJSON{WouldAdd: m.WouldAdd, WouldUpdate: m.WouldUpdate, WouldDelete: m.WouldDelete, Unchanged: m.Unchanged, RefusedDeletes: m.RefusedDeletes}
		for _, r := range m.Added {
			dm.Added = append(dm.Added, r.Data)
		}
		for _, c := range m.Updated {
			dm.Updated = append(dm.Updated, map[string]any{"id": c.ID, "before": rawOrNull(c.Before), "after": rawOrNull(c.After)})
		}
		for _, r := range m.Deleted {
			dm.Deleted = append(dm.Deleted, r.Data)
		}
		out.Models[name] = dm
	}
	if requests {
		for _, r := range rep.Requests {
			q := map[string]any{"method": r.Method, "url": r.URL, "duration_ms": r.Duration.Milliseconds()}
			if r.Status != 0 {
				q["status"] = r.Status
			}
			if r.Err != "" {
				q["error"] = r.Err
			}
			out.Requests = append(out.Requests, q)
		}
	}
	return out
}

func printDryRun(e *env, rep *nango.DryRunReport, requests bool) error {
	w := e.stdout
	fmt.Fprintf(w, "dry run of %s for %q: %s, %d requests; nothing was written\n\n", rep.Sync, rep.Connection, rep.Run.State, rep.RequestCount)
	t := newTable(w, "MODEL", "WOULD ADD", "WOULD UPDATE", "WOULD DELETE", "UNCHANGED", "REFUSED DELETES")
	for _, name := range sortedKeys(rep.Models) {
		m := rep.Models[name]
		t.row(name, fmt.Sprint(m.WouldAdd), fmt.Sprint(m.WouldUpdate), fmt.Sprint(m.WouldDelete), fmt.Sprint(m.Unchanged), fmt.Sprint(m.RefusedDeletes))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, name := range sortedKeys(rep.Models) {
		m := rep.Models[name]
		if len(m.Added) > 0 {
			fmt.Fprintf(w, "\n%s, would add (%d of %d):\n", name, len(m.Added), m.WouldAdd)
			for _, r := range m.Added {
				fmt.Fprintf(w, "  + %s\n", clip(string(r.Data), 150))
			}
		}
		if len(m.Updated) > 0 {
			fmt.Fprintf(w, "\n%s, would update (%d of %d):\n", name, len(m.Updated), m.WouldUpdate)
			for _, c := range m.Updated {
				fmt.Fprintf(w, "  ~ %s\n    was %s\n", clip(string(c.After), 150), clip(string(c.Before), 150))
			}
		}
		if len(m.Deleted) > 0 {
			fmt.Fprintf(w, "\n%s, would delete (%d of %d):\n", name, len(m.Deleted), m.WouldDelete)
			for _, r := range m.Deleted {
				fmt.Fprintf(w, "  - %s\n", clip(string(r.Data), 150))
			}
		}
	}
	fmt.Fprintln(w)
	switch {
	case !rep.CheckpointChanged:
		fmt.Fprintf(w, "checkpoint: unchanged (%s)\n", orDash(string(rep.CheckpointBefore)))
	default:
		fmt.Fprintf(w, "checkpoint: %s -> %s\n", orDash(string(rep.CheckpointBefore)), orDash(string(rep.Checkpoint)))
	}
	for _, warn := range rep.Run.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if requests && len(rep.Requests) > 0 {
		fmt.Fprintln(w, "\nrequests:")
		for _, r := range rep.Requests {
			res := fmt.Sprint(r.Status)
			if r.Err != "" {
				res = r.Err
			}
			fmt.Fprintf(w, "  %s %s -> %s (%s)\n", r.Method, r.URL, res, r.Duration.Round(time.Millisecond))
		}
		if rep.RequestCount > len(rep.Requests) {
			fmt.Fprintf(w, "  … and %d more\n", rep.RequestCount-len(rep.Requests))
		}
	}
	return nil
}
