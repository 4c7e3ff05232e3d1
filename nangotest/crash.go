package nangotest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gonango/nango/store"
)

// CheckCrashRecovery proves that a sync loses nothing and duplicates nothing when its process
// dies, or its store fails, at any commit of a run.
//
// It runs the sync once on a harness from newHarness to learn the outcome and the commits the
// run makes (Result.Commits: its start, every BatchSave, BatchUpdate, BatchDelete,
// SaveCheckpoint and ClearCheckpoint, the TrackDeletes sweeps, its end). Then, for each
// commit n, on a fresh harness, it runs the sync with CrashAfterCommit(n) and once more
// without failpoints (the restarted process resumes from the checkpoint), and the same with
// FailCommit(n). After each pair of runs:
//
//   - the store must hold exactly the records of the clean run, with the same payloads, live
//     or deleted alike: nothing lost, nothing extra;
//   - the changes of the two runs must add up to the clean run's: each record added once and
//     no update or deletion the clean run did not make, so a backend reading the change feed
//     sees nothing twice.
//
// Every discrepancy is reported with tb.Errorf, naming the commit. newHarness must return a
// harness on a new store, each time the same; opts apply to every run. The runs that recover
// send requests the clean run did not: an incremental sync resumes from its checkpoint, and
// after a crash that follows the last commit the next run is the next incremental run. A
// stateful fake of the provider (Options.Provider, a new one for each harness) answers them
// as the real API would; fixtures must be written for each. Runs may leave fixtures unused.
//
// To check an incremental run rather than the initial one, let newHarness make the initial
// run (h.Run()) and change the fake's data before it returns the harness.
func CheckCrashRecovery(tb testing.TB, newHarness func(tb testing.TB) *Harness, opts ...RunOption) {
	tb.Helper()
	opts = append(slices.Clone(opts), AllowUnusedFixtures())
	clean := newHarness(tb)
	want := clean.Run(opts...)
	wantState := clean.state()
	for n := 1; n <= len(want.Commits); n++ {
		for _, fp := range []Failpoint{CrashAfterCommit(n), FailCommit(n)} {
			what := fmt.Sprintf("%s (%s)", fp, want.Commits[n-1])
			h := newHarness(tb)
			first := h.run(append(slices.Clone(opts), WithFailpoints(fp)))
			if first.Err == nil {
				tb.Errorf("nangotest: %s: the run succeeded; the sync ignores the error the write returned", what)
				continue
			}
			second := h.run(opts)
			if second.Err != nil {
				tb.Errorf("nangotest: %s: the next run failed: %s\n%s", what, second.errText(), second.describe())
				continue
			}
			compareRecovery(tb, what, want, wantState, []*Result{first, second}, h.state())
		}
	}
}

// recordState is a record as the recovery check compares it.
type recordState struct {
	data    string
	deleted bool
}

// state returns every record of every model of the sync.
func (h *Harness) state() map[string]map[string]recordState {
	h.tb.Helper()
	out := map[string]map[string]recordState{}
	for _, m := range h.sync.Models {
		recs := map[string]recordState{}
		h.scan(m.Name, "", func(r store.Record) {
			recs[r.ID] = recordState{data: string(r.Data), deleted: r.LastAction == store.ActionDeleted}
		})
		out[m.Name] = recs
	}
	return out
}

func compareRecovery(tb testing.TB, what string, want *Result, wantState map[string]map[string]recordState, runs []*Result, got map[string]map[string]recordState) {
	tb.Helper()
	const maxReports = 10
	for _, m := range want.h.sync.Models {
		var problems []string
		w, g := wantState[m.Name], got[m.Name]
		for _, id := range sortedIDs(w) {
			gs, ok := g[id]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("record %q is lost", id))
			case gs.deleted != w[id].deleted:
				problems = append(problems, fmt.Sprintf("record %q is deleted=%v, after a clean run deleted=%v", id, gs.deleted, w[id].deleted))
			case gs.data != w[id].data:
				problems = append(problems, fmt.Sprintf("record %q is %s, after a clean run %s", id, excerpt(gs.data, 120), excerpt(w[id].data, 120)))
			}
		}
		for _, id := range sortedIDs(g) {
			if _, ok := w[id]; !ok {
				problems = append(problems, fmt.Sprintf("record %q is extra (a clean run does not save it)", id))
			}
		}
		var added, updated, deleted int
		for _, r := range runs {
			mc := r.changes[m.Name]
			added, updated, deleted = added+len(mc.added), updated+len(mc.updated), deleted+len(mc.deleted)
		}
		wc := want.changes[m.Name]
		if added != len(wc.added) || updated != len(wc.updated) || deleted != len(wc.deleted) {
			why := "changes are missing"
			if added > len(wc.added) || updated > len(wc.updated) || deleted > len(wc.deleted) {
				why = "the change feed shows records twice"
			}
			problems = append(problems, fmt.Sprintf("the two runs made %d additions, %d updates and %d deletions; a clean run makes %d, %d and %d (%s)",
				added, updated, deleted, len(wc.added), len(wc.updated), len(wc.deleted), why))
		}
		for i, p := range problems {
			if i == maxReports {
				tb.Errorf("nangotest: %s, then a run to recover: model %s: %d more problems", what, m.Name, len(problems)-maxReports)
				break
			}
			tb.Errorf("nangotest: %s, then a run to recover: model %s: %s", what, m.Name, p)
		}
	}
}

func sortedIDs(m map[string]recordState) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
