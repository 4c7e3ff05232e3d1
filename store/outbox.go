package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Errors of the outbox and of consumer cursors. Implementations wrap them, so test with
// errors.Is.
var (
	// ErrClaimLost is returned by OutboxSettle when the entry was claimed again since (its claim
	// expired and another worker took it, or it was requeued), or is no longer pending: the
	// outcome of the attempt is not recorded.
	ErrClaimLost = errors.New("store: outbox claim lost: the entry was claimed again or is no longer pending")
	// ErrConsumerConflict is returned by ConsumerCursorPut when the cursor is not the one the
	// writer read: another instance of the consumer moved it.
	ErrConsumerConflict = errors.New("store: consumer cursor changed since it was read")
)

// OutboxState is where an outbox entry stands.
type OutboxState string

// The outbox states.
const (
	// OutboxPending entries wait for their next attempt (or are being attempted).
	OutboxPending OutboxState = "pending"
	// OutboxDelivered entries were accepted by their endpoint.
	OutboxDelivered OutboxState = "delivered"
	// OutboxDead entries were given up: refused by their endpoint, or out of attempts or time.
	// They stay until they are requeued or pruned.
	OutboxDead OutboxState = "dead"
)

// OutboxEntry is one webhook to deliver to one endpoint. The body is kept byte for byte: it is
// what is signed and sent, on every attempt.
type OutboxEntry struct {
	// ID identifies the entry; the caller chooses it (unique, 1 to 255 bytes). It is sent with
	// every attempt so that receivers can drop duplicates.
	ID       string
	Endpoint string
	Body     []byte
	// RunID and Key say which run made the webhook; Model which model it is about (a failure
	// webhook names every model of the sync, joined by commas).
	RunID string
	Key   SyncKey
	Model string

	State    OutboxState
	Attempts int
	// CreatedAt is when the run wrote the entry; QueuedAt when its current round of attempts
	// began (CreatedAt, or the last OutboxRequeue).
	CreatedAt time.Time
	QueuedAt  time.Time
	// NextAttemptAt is when a pending entry is due; while it is claimed, when the claim
	// expires.
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	DeliveredAt   time.Time
	// LastStatus is the HTTP status of the last attempt (0 when it got no response);
	// LastError why it failed ("" when it succeeded).
	LastStatus int
	LastError  string
	// ClaimToken grows with every claim, settle and requeue; OutboxSettle must carry the one its
	// claim returned.
	ClaimToken uint64
	ClaimedBy  string
}

// Clone returns a deep copy of the entry.
func (e *OutboxEntry) Clone() *OutboxEntry {
	out := *e
	out.Body = append([]byte(nil), e.Body...)
	return &out
}

// RunFinishParams are the parameters of RunFinish.
type RunFinishParams struct {
	// Run replaces the stored run with the same ID, as in RunUpdate.
	Run *Run
	// Outbox entries are added in the same transaction. Their State must be empty or
	// OutboxPending; CreatedAt, QueuedAt and NextAttemptAt default to the run's end (or now).
	Outbox []*OutboxEntry
}

// Outbox limits.
const (
	DefaultClaimLimit = 100
	MaxClaimLimit     = 1000
)

// OutboxClaimParams are the parameters of OutboxClaim.
type OutboxClaimParams struct {
	// Owner names the worker, for diagnostics.
	Owner string
	// Now is the current time; entries with NextAttemptAt at or before it are due. Zero means
	// time.Now().
	Now time.Time
	// Limit caps the entries claimed, 1 to MaxClaimLimit; 0 means DefaultClaimLimit.
	Limit int
	// TTL is how long a claim lasts: a claimed entry is due again after Now+TTL unless it is
	// settled before. It must be positive.
	TTL time.Duration
	// SkipEndpoints passes over the due entries of these endpoints (those the worker has as
	// many attempts in flight for as it allows), so that a slow endpoint does not hold up the
	// others. A store looks at no more than MaxClaimScan due entries per claim, and may return
	// fewer than Limit when the skipped ones come first. At most MaxClaimLimit endpoints.
	SkipEndpoints []string
}

// MaxClaimScan bounds the due entries one claim looks at when it skips endpoints.
const MaxClaimScan = 10 * MaxClaimLimit

// OutboxSettleParams record the outcome of one delivery attempt.
type OutboxSettleParams struct {
	ID         string
	ClaimToken uint64
	Now        time.Time
	// State is OutboxDelivered, OutboxDead, or OutboxPending to try again at NextAttemptAt.
	State         OutboxState
	NextAttemptAt time.Time
	Status        int
	Error         string
}

// OutboxRequeueParams are the parameters of OutboxRequeue.
type OutboxRequeueParams struct {
	ID  string
	Now time.Time
}

// OutboxListParams select outbox entries, in ID order.
type OutboxListParams struct {
	// State keeps the entries in this state; empty keeps all.
	State OutboxState
	// RunID keeps the entries of this run; empty keeps all.
	RunID string
	// After continues after the entry with this ID.
	After string
	// Limit is the page size, 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
}

// OutboxStats counts the outbox's entries.
type OutboxStats struct {
	Pending   int
	Delivered int
	Dead      int
	// NextAttemptAt is the earliest NextAttemptAt of the pending entries; zero when there are
	// none.
	NextAttemptAt time.Time
}

// OutboxPruneParams say which finished (delivered or dead) entries OutboxPrune removes: those
// older than a time, and those beyond a count of the newest. Zero values remove nothing.
type OutboxPruneParams struct {
	// DeliveredBefore removes delivered entries delivered before it.
	DeliveredBefore time.Time
	// DeadBefore removes dead entries whose last attempt was before it.
	DeadBefore time.Time
	// KeepDelivered, when above zero, removes the delivered entries beyond the newest
	// KeepDelivered (by delivery time, then id).
	KeepDelivered int
	// KeepDead, when above zero, removes the dead entries beyond the newest KeepDead (by last
	// attempt, then id).
	KeepDead int
	// Limit is how many entries one call removes at most, 1 to MaxPruneLimit; 0 means
	// DefaultPruneLimit. One call is one short write; a caller repeats while a call removes
	// Limit entries.
	Limit int
}

// PrepareOutboxPrune validates the parameters of OutboxPrune and returns the limit to apply.
func PrepareOutboxPrune(p *OutboxPruneParams) (int, error) {
	if p == nil {
		return 0, &ParamError{Param: "params", Reason: "nil"}
	}
	if p.KeepDelivered < 0 {
		return 0, &ParamError{Param: "keep delivered", Reason: fmt.Sprintf("%d is negative", p.KeepDelivered)}
	}
	if p.KeepDead < 0 {
		return 0, &ParamError{Param: "keep dead", Reason: fmt.Sprintf("%d is negative", p.KeepDead)}
	}
	switch {
	case p.Limit == 0:
		return DefaultPruneLimit, nil
	case p.Limit < 0 || p.Limit > MaxPruneLimit:
		return 0, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", p.Limit, MaxPruneLimit)}
	}
	return p.Limit, nil
}

// PruneCandidate is a finished outbox entry as OutboxPrune weighs it: At is its delivery time
// (delivered) or last attempt (dead).
type PruneCandidate struct {
	ID    string
	State OutboxState
	At    time.Time
}

// Candidate returns e as a prune candidate, and false for an entry that is not finished.
func (e *OutboxEntry) Candidate() (PruneCandidate, bool) {
	switch e.State {
	case OutboxDelivered:
		return PruneCandidate{ID: e.ID, State: e.State, At: e.DeliveredAt}, true
	case OutboxDead:
		return PruneCandidate{ID: e.ID, State: e.State, At: e.LastAttemptAt}, true
	}
	return PruneCandidate{}, false
}

// Plan returns the ids among cands (every finished entry of the outbox) that the prune removes,
// oldest first, at most limit of them. It reorders cands.
func (p *OutboxPruneParams) Plan(cands []PruneCandidate, limit int) []string {
	// Newest first within each state, so that an entry's index is its rank.
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.State != b.State {
			return a.State < b.State
		}
		if !a.At.Equal(b.At) {
			return a.At.After(b.At)
		}
		return a.ID > b.ID
	})
	var doomed []PruneCandidate
	rank := 0
	for i, c := range cands {
		if i == 0 || c.State != cands[i-1].State {
			rank = 0
		}
		rank++
		before, keep := p.DeliveredBefore, p.KeepDelivered
		if c.State == OutboxDead {
			before, keep = p.DeadBefore, p.KeepDead
		}
		if (!before.IsZero() && c.At.Before(before)) || (keep > 0 && rank > keep) {
			doomed = append(doomed, c)
		}
	}
	sort.Slice(doomed, func(i, j int) bool {
		if !doomed[i].At.Equal(doomed[j].At) {
			return doomed[i].At.Before(doomed[j].At)
		}
		return doomed[i].ID < doomed[j].ID
	})
	if len(doomed) > limit {
		doomed = doomed[:limit]
	}
	ids := make([]string, len(doomed))
	for i, c := range doomed {
		ids[i] = c.ID
	}
	return ids
}

// PrepareRunFinish validates the parameters of RunFinish and returns the entries to add, copied
// and completed with their defaults.
func PrepareRunFinish(p *RunFinishParams) ([]*OutboxEntry, error) {
	if p == nil {
		return nil, &ParamError{Param: "params", Reason: "nil"}
	}
	if err := ValidateRun(p.Run); err != nil {
		return nil, err
	}
	now := Timestamp(p.Run.EndedAt)
	if now.IsZero() {
		now = Clock(time.Time{})
	}
	out := make([]*OutboxEntry, len(p.Outbox))
	ids := make(map[string]bool, len(p.Outbox))
	for i, e := range p.Outbox {
		if e == nil {
			return nil, &ParamError{Param: "outbox entry", Reason: fmt.Sprintf("entry %d is nil", i)}
		}
		if err := ValidateName("outbox entry id", e.ID); err != nil {
			return nil, err
		}
		if ids[e.ID] {
			return nil, &ParamError{Param: "outbox entry id", Reason: fmt.Sprintf("%q appears twice", e.ID)}
		}
		ids[e.ID] = true
		if strings.TrimSpace(e.Endpoint) == "" {
			return nil, &ParamError{Param: "outbox endpoint", Reason: fmt.Sprintf("entry %q has none", e.ID)}
		}
		if e.State != "" && e.State != OutboxPending {
			return nil, &ParamError{Param: "outbox state", Reason: fmt.Sprintf("entry %q is %s; new entries are pending", e.ID, e.State)}
		}
		c := e.Clone()
		c.State = OutboxPending
		c.Attempts, c.ClaimToken, c.ClaimedBy = 0, 0, ""
		c.CreatedAt = Timestamp(c.CreatedAt)
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.QueuedAt = Timestamp(c.QueuedAt)
		if c.QueuedAt.IsZero() {
			c.QueuedAt = c.CreatedAt
		}
		c.NextAttemptAt = Timestamp(c.NextAttemptAt)
		if c.NextAttemptAt.IsZero() {
			c.NextAttemptAt = c.QueuedAt
		}
		c.LastAttemptAt, c.DeliveredAt = Timestamp(c.LastAttemptAt), Timestamp(c.DeliveredAt)
		out[i] = c
	}
	return out, nil
}

// PrepareOutboxClaim validates a claim and returns its limit and time.
func PrepareOutboxClaim(p *OutboxClaimParams) (int, time.Time, error) {
	if p == nil {
		return 0, time.Time{}, &ParamError{Param: "params", Reason: "nil"}
	}
	if p.TTL <= 0 {
		return 0, time.Time{}, &ParamError{Param: "claim ttl", Reason: fmt.Sprintf("%s is not positive", p.TTL)}
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultClaimLimit
	case limit < 0 || limit > MaxClaimLimit:
		return 0, time.Time{}, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", limit, MaxClaimLimit)}
	}
	if len(p.SkipEndpoints) > MaxClaimLimit {
		return 0, time.Time{}, &ParamError{Param: "skip endpoints", Reason: fmt.Sprintf("%d endpoints, more than %d", len(p.SkipEndpoints), MaxClaimLimit)}
	}
	return limit, Clock(p.Now), nil
}

// ClaimSkipper returns whether a claim passes over an endpoint's entries.
func ClaimSkipper(p *OutboxClaimParams) func(endpoint string) bool {
	if len(p.SkipEndpoints) == 0 {
		return func(string) bool { return false }
	}
	skip := make(map[string]bool, len(p.SkipEndpoints))
	for _, e := range p.SkipEndpoints {
		skip[e] = true
	}
	return func(endpoint string) bool { return skip[endpoint] }
}

// ApplyClaim marks a due entry claimed by p at now.
func ApplyClaim(e *OutboxEntry, p *OutboxClaimParams, now time.Time) {
	e.ClaimToken++
	e.ClaimedBy = p.Owner
	e.NextAttemptAt = Timestamp(now.Add(p.TTL))
}

// ValidateOutboxSettle checks the parameters of OutboxSettle.
func ValidateOutboxSettle(p *OutboxSettleParams) error {
	if p == nil {
		return &ParamError{Param: "params", Reason: "nil"}
	}
	if err := ValidateName("outbox entry id", p.ID); err != nil {
		return err
	}
	switch p.State {
	case OutboxPending, OutboxDelivered, OutboxDead:
	default:
		return &ParamError{Param: "outbox state", Reason: fmt.Sprintf("unknown state %q", p.State)}
	}
	return nil
}

// ApplySettle records an attempt's outcome in e, whose claim it checks first.
func ApplySettle(e *OutboxEntry, p *OutboxSettleParams) error {
	if e.State != OutboxPending || e.ClaimToken != p.ClaimToken {
		return fmt.Errorf("%w (entry %q is %s with claim %d, the attempt had claim %d)", ErrClaimLost, e.ID, e.State, e.ClaimToken, p.ClaimToken)
	}
	now := Clock(p.Now)
	e.ClaimToken++ // the claim is spent
	e.Attempts++
	e.LastAttemptAt = now
	e.LastStatus, e.LastError = p.Status, p.Error
	e.State = p.State
	switch p.State {
	case OutboxPending:
		e.NextAttemptAt = Timestamp(p.NextAttemptAt)
		if e.NextAttemptAt.IsZero() {
			e.NextAttemptAt = now
		}
	case OutboxDelivered:
		e.DeliveredAt = now
		e.NextAttemptAt = time.Time{}
	case OutboxDead:
		e.NextAttemptAt = time.Time{}
	}
	return nil
}

// ApplyRequeue makes e pending again with a fresh round of attempts, due at now.
func ApplyRequeue(e *OutboxEntry, now time.Time) {
	now = Clock(now)
	e.State = OutboxPending
	e.Attempts = 0
	e.QueuedAt, e.NextAttemptAt = now, now
	e.DeliveredAt = time.Time{}
	e.ClaimToken++
	e.ClaimedBy = ""
}

// PrepareOutboxList validates a listing and returns its limit.
func PrepareOutboxList(p *OutboxListParams) (int, error) {
	if p == nil {
		return 0, &ParamError{Param: "params", Reason: "nil"}
	}
	switch p.State {
	case "", OutboxPending, OutboxDelivered, OutboxDead:
	default:
		return 0, &ParamError{Param: "outbox state", Reason: fmt.Sprintf("unknown state %q", p.State)}
	}
	switch {
	case p.Limit == 0:
		return DefaultListLimit, nil
	case p.Limit < 0 || p.Limit > MaxListLimit:
		return 0, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", p.Limit, MaxListLimit)}
	}
	return p.Limit, nil
}

// Match reports whether e is selected by the listing (After excepted).
func (p *OutboxListParams) Match(e *OutboxEntry) bool {
	return (p.State == "" || e.State == p.State) && (p.RunID == "" || e.RunID == p.RunID)
}

// ConsumerKey names the cursor of one durable consumer in one stream.
type ConsumerKey struct {
	Consumer string
	Stream   Stream
}

// Validate checks the key's names.
func (k ConsumerKey) Validate() error {
	if err := ValidateName("consumer", k.Consumer); err != nil {
		return err
	}
	return k.Stream.Validate()
}

// ConsumerCursor is where a durable consumer stands in a stream: it has processed every change
// up to Cursor.
type ConsumerCursor struct {
	Key       ConsumerKey
	Cursor    string
	UpdatedAt time.Time
}

// ConsumerCursorPutParams are the parameters of ConsumerCursorPut.
type ConsumerCursorPutParams struct {
	Key ConsumerKey
	// Cursor is the new position; Expected the one the consumer read ("" when it had none). A
	// mismatch is ErrConsumerConflict and writes nothing.
	Cursor   string
	Expected string
	Now      time.Time
}

// ConsumerConflictError formats ErrConsumerConflict for a key.
func ConsumerConflictError(k ConsumerKey, cur, expected string) error {
	return fmt.Errorf("%w (consumer %q in %s is at %q, expected %q)", ErrConsumerConflict, k.Consumer, k.Stream, cur, expected)
}

// CursorSnapshot is a stream position taken with StreamCursor, with the changes its writer made
// since; see RecordsWriteParams.IgnoreModifiedAfter.
type CursorSnapshot struct {
	// Cursor is the position; "" is the beginning of the stream (it had no change then).
	Cursor string
	// Own are the writer's own changes since Cursor, which do not count as newer: each write
	// with IgnoreModifiedAfter reports its range as (PrevCursor, Cursor].
	Own []CursorRange
}

// CursorRange is the range of changes after After up to and including Through.
type CursorRange struct {
	After   string
	Through string
}

// ModifiedAfter returns a function that reports whether a record whose last change is at seq
// in a stream at epoch was changed after the snapshot by someone other than its writer. A
// snapshot from another epoch of the stream (it was emptied since) makes every record newer.
func (c *CursorSnapshot) ModifiedAfter(s Stream) (func(seq uint64, epoch uint32) bool, error) {
	codec := NewCursorCodec(s)
	decode := func(cursor string) (uint64, uint32, bool, error) {
		if cursor == "" {
			return 0, 0, false, nil
		}
		seq, epoch, err := codec.Decode(cursor)
		return seq, epoch, true, err
	}
	after, snapEpoch, hasEpoch, err := decode(c.Cursor)
	if err != nil {
		return nil, err
	}
	type span struct {
		lo, hi uint64
		epoch  uint32
	}
	own := make([]span, 0, len(c.Own))
	for _, r := range c.Own {
		lo, e1, ok1, err := decode(r.After)
		if err != nil {
			return nil, err
		}
		hi, e2, ok2, err := decode(r.Through)
		if err != nil {
			return nil, err
		}
		if !ok2 || (ok1 && e1 != e2) {
			continue // an empty range, or one across an emptying: nothing of it is left
		}
		own = append(own, span{lo, hi, e2})
	}
	return func(seq uint64, epoch uint32) bool {
		if hasEpoch && epoch != snapEpoch {
			return true
		}
		if seq <= after {
			return false
		}
		for _, o := range own {
			if o.epoch == epoch && seq > o.lo && seq <= o.hi {
				return false
			}
		}
		return true
	}, nil
}
