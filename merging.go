package nango

import (
	"context"
	"fmt"

	"github.com/gonango/nango/store"
)

// MergingStrategy says what a run's writes do to records that someone else changed while it
// ran (Nango's setMergingStrategy).
type MergingStrategy string

// The merging strategies.
const (
	// MergeOverride writes every record, whoever changed it meanwhile. The default.
	MergeOverride MergingStrategy = "override"
	// MergeIgnoreIfModifiedAfter leaves alone the records changed after the strategy was set
	// by another writer (a webhook run, typically): a polling run that fetched them earlier
	// holds older data. The run's own changes never block it: it can save a record and then
	// update it. Skipped records are counted in ModelResult.Skipped.
	MergeIgnoreIfModifiedAfter MergingStrategy = "ignore_if_modified_after"
)

// mergeSnapshot is the position of a model's stream before which the run may overwrite, and
// the ranges of the run's own changes after it.
type mergeSnapshot struct {
	cursor string
	own    []store.CursorRange
}

// SetMergingStrategy sets how the run's later writes to model treat records that another
// writer changed in the meantime. With MergeIgnoreIfModifiedAfter it takes a snapshot of the
// model's stream now: a write of this run skips any record changed after the snapshot by
// someone else. Set it at the start of the run, before fetching. As in Nango it can be set
// once per model and run; a second call is ignored with a warning.
func (n *Nango) SetMergingStrategy(ctx context.Context, strategy MergingStrategy, model string) error {
	if err := n.usable(); err != nil {
		return err
	}
	if _, err := n.model(model); err != nil {
		return err
	}
	switch strategy {
	case MergeOverride, MergeIgnoreIfModifiedAfter:
	default:
		return fmt.Errorf("nango: unknown merging strategy %q: want %q or %q", strategy, MergeOverride, MergeIgnoreIfModifiedAfter)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, set := n.merging[model]; set {
		n.logger.Warn("merging strategy already set for this run; ignoring the new one", "model", model, "strategy", string(strategy))
		return nil
	}
	if n.merging == nil {
		n.merging = map[string]*mergeSnapshot{}
	}
	if strategy == MergeOverride || n.run.Trigger == TriggerDryRun {
		// A dry run has no other writer: its sandbox needs no guard.
		n.merging[model] = nil
		return nil
	}
	cur, err := n.engine.store.StreamCursor(ctx, n.stream(model))
	if err != nil {
		return fmt.Errorf("nango: taking the merging snapshot of %s: %w", model, err)
	}
	n.merging[model] = &mergeSnapshot{cursor: cur}
	return nil
}

// mergeGuard returns the IgnoreModifiedAfter of a write to model. Callers hold n.mu.
func (n *Nango) mergeGuard(model string) *store.CursorSnapshot {
	if s := n.merging[model]; s != nil {
		return &store.CursorSnapshot{Cursor: s.cursor, Own: s.own}
	}
	return nil
}

// afterGuardedWrite records the range of the run's own changes in a write: the snapshot moves
// past it when nobody else wrote to the stream since, else the range is kept apart. It logs
// what was skipped. Callers hold n.mu.
func (n *Nango) afterGuardedWrite(model string, res *store.RecordsWriteResult) {
	s := n.merging[model]
	if s == nil {
		return
	}
	switch last := len(s.own) - 1; {
	case res.Cursor == res.PrevCursor: // nothing changed
	case last < 0 && res.PrevCursor == s.cursor:
		s.cursor = res.Cursor
	case last >= 0 && res.PrevCursor == s.own[last].Through:
		s.own[last].Through = res.Cursor
	default:
		s.own = append(s.own, store.CursorRange{After: res.PrevCursor, Through: res.Cursor})
	}
	if res.Skipped > 0 {
		n.logger.Info("records changed by another writer since the merging snapshot were left alone",
			"model", model, "skipped", res.Skipped, "ids", res.SkippedIDs)
	}
}
