package store

import (
	"fmt"
	"time"
)

// Pruning limits.
const (
	// DefaultPruneLimit is RecordsPruneParams.Limit when it is 0, as in Nango's prune endpoint.
	DefaultPruneLimit = 1000
	// MaxPruneLimit is the largest RecordsPruneParams.Limit.
	MaxPruneLimit = 10000
)

// RecordsPruneParams say which records of a stream RecordsPrune empties. At least one of
// UntilCursor and ModifiedBefore must be set; with both, a record must satisfy both.
type RecordsPruneParams struct {
	Stream Stream
	// UntilCursor prunes the records whose last change is at or before this cursor (inclusive),
	// as Nango's until_cursor does. A cursor taken before the stream was emptied is
	// ErrCursorStale; a malformed or foreign one is a *CursorError.
	UntilCursor string
	// ModifiedBefore prunes the records last modified before it.
	ModifiedBefore time.Time
	// Limit is how many records one call prunes at most, 1 to MaxPruneLimit; 0 means
	// DefaultPruneLimit. One call is one short transaction.
	Limit int
	// Now stamps pruned_at; zero means time.Now().
	Now time.Time
}

// RecordsPruneResult reports what RecordsPrune did.
type RecordsPruneResult struct {
	// Count is the number of records whose payload was removed.
	Count int
	// HasMore is set when the call stopped at its limit: more records may be left to prune, and
	// the same call continues.
	HasMore bool
}

// PrunedQuery is a validated RecordsPruneParams, its cursor decoded.
type PrunedQuery struct {
	RecordsPruneParams
	// Until is the sequence of UntilCursor (0: no bound), and Epoch the stream's epoch when it
	// was taken.
	Until uint64
	Epoch uint32
	// Before is ModifiedBefore at the stores' precision (zero: no bound).
	Before time.Time
}

// PreparePrune validates the parameters of RecordsPrune and applies their defaults.
func PreparePrune(p *RecordsPruneParams) (*PrunedQuery, error) {
	if p == nil {
		return nil, &ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Stream.Validate(); err != nil {
		return nil, err
	}
	q := &PrunedQuery{RecordsPruneParams: *p}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPruneLimit
	case q.Limit < 0 || q.Limit > MaxPruneLimit:
		return nil, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", q.Limit, MaxPruneLimit)}
	}
	if q.UntilCursor == "" && q.ModifiedBefore.IsZero() {
		return nil, &ParamError{Param: "until", Reason: "set an until cursor or a modified-before time"}
	}
	if q.UntilCursor != "" {
		var err error
		if q.Until, q.Epoch, err = NewCursorCodec(q.Stream).Decode(q.UntilCursor); err != nil {
			return nil, err
		}
	}
	if !q.ModifiedBefore.IsZero() {
		q.Before = Timestamp(q.ModifiedBefore)
	}
	q.Now = Timestamp(Clock(q.Now))
	return q, nil
}

// Stale reports whether the query's cursor was taken before the stream, now at epoch, was
// emptied (ErrCursorStale).
func (q *PrunedQuery) Stale(epoch uint32) bool { return q.UntilCursor != "" && q.Epoch != epoch }

// Selects reports whether a record at sequence seq, last modified at modified, is within the
// query's bounds. Bounds grow with the sequence, so a store scanning in sequence order stops
// at the first record outside them.
func (q *PrunedQuery) Selects(seq uint64, modified time.Time) bool {
	if q.Until != 0 && seq > q.Until {
		return false
	}
	return q.Before.IsZero() || modified.Before(q.Before)
}

// RunsPruneParams say which finished runs of one sync on one connection RunsPrune removes:
// those beyond the newest Keep finished runs, and those that ended before EndedBefore. At least
// one rule must be set. A running run, and the newest successful run (RunLastSuccess), are never
// removed.
type RunsPruneParams struct {
	Key SyncKey
	// Keep, when positive, keeps the newest Keep finished runs.
	Keep int
	// EndedBefore, when set, removes runs that ended before it.
	EndedBefore time.Time
	// Limit is how many runs one call removes at most, 1 to MaxPruneLimit; 0 means
	// DefaultPruneLimit.
	Limit int
}

// RunsPruneResult reports what RunsPrune did.
type RunsPruneResult struct {
	Count int
	// HasMore is set when the call stopped at its limit.
	HasMore bool
}

// PrepareRunsPrune validates the parameters of RunsPrune and applies their defaults.
func PrepareRunsPrune(p *RunsPruneParams) (RunsPruneParams, error) {
	if p == nil {
		return RunsPruneParams{}, &ParamError{Param: "params", Reason: "nil"}
	}
	q := *p
	if err := q.Key.Validate(); err != nil {
		return q, err
	}
	switch {
	case q.Keep < 0:
		return q, &ParamError{Param: "keep", Reason: fmt.Sprintf("%d is negative", q.Keep)}
	case q.Keep == 0 && q.EndedBefore.IsZero():
		return q, &ParamError{Param: "keep", Reason: "set a number of runs to keep or an end time"}
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPruneLimit
	case q.Limit < 0 || q.Limit > MaxPruneLimit:
		return q, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", q.Limit, MaxPruneLimit)}
	}
	return q, nil
}

// RunsPruneWalk decides which runs RunsPrune removes; a store shows it a sync key's runs
// newest first.
type RunsPruneWalk struct {
	p        RunsPruneParams
	finished int
	sawOK    bool
}

// NewRunsPruneWalk starts a walk with validated parameters.
func NewRunsPruneWalk(p RunsPruneParams) *RunsPruneWalk { return &RunsPruneWalk{p: p} }

// Prunes reports whether r, the next run newest first, is removed.
func (w *RunsPruneWalk) Prunes(r *Run) bool {
	if r.State == RunRunning {
		return false
	}
	w.finished++
	if r.State == RunSucceeded && !w.sawOK {
		w.sawOK = true
		return false
	}
	return (w.p.Keep > 0 && w.finished > w.p.Keep) || (!w.p.EndedBefore.IsZero() && r.EndedAt.Before(w.p.EndedBefore))
}
