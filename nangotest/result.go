package nangotest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// Result is what one run did. Its embedded *nango.RunResult has the engine's report: State,
// Initial, Models (counts per model), Warnings.
type Result struct {
	*nango.RunResult
	// Number counts the harness's runs from 1.
	Number int
	// Err is why the run failed (nil on success): the run's error, or one wrapping ErrCrashed
	// when a failpoint crashed the process.
	Err error
	// Crashed is set when the run ended in a CrashAfterCommit or CrashAfterBatchSave
	// failpoint.
	Crashed bool
	// Saves counts the run's BatchSave calls (each committed chunk of a very large one).
	Saves int
	// Commits describes the run's commits in order ("the run's start", "BatchSave of Contact
	// with the checkpoint", "the TrackDeletes sweep of Contact", ...): commit n is where
	// CrashAfterCommit(n) and FailCommit(n) strike.
	Commits []string
	// Requests are the provider requests the run sent, retries and failpoints included.
	Requests []Request
	// Logs are the lines the engine and the sync logged during the run (info and above), as
	// "LEVEL message key=value ...", without times and without the run's own attributes.
	Logs []string
	// Checkpoint is the sync's checkpoint after the run, or nil when it has none.
	Checkpoint json.RawMessage
	// Webhooks are the webhooks the run's changes would send (nango.WebhookPayloads).
	Webhooks []nango.WebhookPayload

	h         *Harness
	changes   map[string]*modelChanges
	unmatched bool // the test was told of requests no fixture answers
}

// errText is the run's error for a failure message: its first line when the harness has
// already reported the unmatched request with its closest fixtures.
func (r *Result) errText() string {
	s := r.Err.Error()
	if r.unmatched {
		s = firstLine(s) + " (closest fixtures above)"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// modelChanges are the records a run changed in one model, in the change feed's order, each at
// its last change.
type modelChanges struct {
	added, updated, deleted []nango.Record
}

func (r *Result) model(name string) *modelChanges {
	r.h.tb.Helper()
	mc := r.changes[name]
	if mc == nil {
		names := make([]string, 0, len(r.h.sync.Models))
		for _, m := range r.h.sync.Models {
			names = append(names, m.Name)
		}
		r.h.tb.Fatalf("nangotest: sync %s has no model %q (it has %s)", r.h.sync.Name, name, strings.Join(names, ", "))
	}
	return mc
}

// Changed returns the records of a model that the run added, updated or deleted (by action),
// in the order of the change feed. A record the run added and then changed counts as added;
// one it added and deleted does not count. Records are compared with the store as it was
// before the run, so a crashed run's committed changes count too.
func (r *Result) Changed(model string, action nango.Action) []nango.Record {
	r.h.tb.Helper()
	mc := r.model(model)
	switch action {
	case nango.ActionAdded:
		return mc.added
	case nango.ActionUpdated:
		return mc.updated
	case nango.ActionDeleted:
		return mc.deleted
	}
	r.h.tb.Fatalf("nangotest: unknown action %q", action)
	return nil
}

func ids(recs []nango.Record) []string {
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = rec.ID
	}
	return out
}

// AddedIDs returns the ids of the records of a model the run added, in feed order.
func (r *Result) AddedIDs(model string) []string {
	r.h.tb.Helper()
	return ids(r.Changed(model, nango.ActionAdded))
}

// UpdatedIDs returns the ids of the records of a model the run updated, in feed order.
func (r *Result) UpdatedIDs(model string) []string {
	r.h.tb.Helper()
	return ids(r.Changed(model, nango.ActionUpdated))
}

// DeletedIDs returns the ids of the records of a model the run deleted, in feed order.
func (r *Result) DeletedIDs(model string) []string {
	r.h.tb.Helper()
	return ids(r.Changed(model, nango.ActionDeleted))
}

func decodeAll[T any](h *Harness, model string, recs []nango.Record) []T {
	h.tb.Helper()
	out := make([]T, len(recs))
	for i, rec := range recs {
		if err := json.Unmarshal(rec.Data, &out[i]); err != nil {
			h.tb.Fatalf("nangotest: record %q of model %s does not decode into %T: %v", rec.ID, model, out[i], err)
		}
	}
	return out
}

// Added returns the records of a model the run added, decoded into T, in feed order.
func Added[T any](r *Result, model string) []T {
	r.h.tb.Helper()
	return decodeAll[T](r.h, model, r.Changed(model, nango.ActionAdded))
}

// Updated returns the records of a model the run updated, decoded into T, in feed order.
func Updated[T any](r *Result, model string) []T {
	r.h.tb.Helper()
	return decodeAll[T](r.h, model, r.Changed(model, nango.ActionUpdated))
}

// Deleted returns the records of a model the run deleted (their last payload), decoded into
// T, in feed order.
func Deleted[T any](r *Result, model string) []T {
	r.h.tb.Helper()
	return decodeAll[T](r.h, model, r.Changed(model, nango.ActionDeleted))
}

// Saved returns the records of a model the run added or updated, decoded into T.
func Saved[T any](r *Result, model string) []T {
	r.h.tb.Helper()
	return append(Added[T](r, model), Updated[T](r, model)...)
}

// Records returns the live records of a model in the store now, decoded into T, in the order
// of the change feed.
func Records[T any](h *Harness, model string) []T {
	h.tb.Helper()
	var recs []nango.Record
	h.scan(model, "", func(r store.Record) {
		if r.LastAction != store.ActionDeleted {
			recs = append(recs, nango.Record{ID: r.ID, Data: r.Data, Metadata: nango.RecordMetadata(r.Metadata)})
		}
	})
	return decodeAll[T](h, model, recs)
}

// CheckpointAs decodes the checkpoint the run left into T; ok is false when there is none.
func CheckpointAs[T any](r *Result) (cp T, ok bool) {
	r.h.tb.Helper()
	if r.Checkpoint == nil {
		return cp, false
	}
	if err := json.Unmarshal(r.Checkpoint, &cp); err != nil {
		r.h.tb.Fatalf("nangotest: the checkpoint %s does not decode into %T: %v", r.Checkpoint, cp, err)
	}
	return cp, true
}

// describe formats the requests and logs of the run for failure messages.
func (r *Result) describe() string {
	var b strings.Builder
	if len(r.Requests) > 0 {
		b.WriteString("requests:\n")
		for i, q := range r.Requests {
			fmt.Fprintf(&b, "  %d. %s\n", i+1, q)
		}
	}
	if len(r.Logs) > 0 {
		b.WriteString("log:\n")
		for _, l := range r.Logs {
			b.WriteString("  " + firstLine(l) + "\n")
		}
	}
	return b.String()
}
