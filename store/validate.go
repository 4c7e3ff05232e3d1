package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/gonango/nango/internal/jsonc"
)

// ValidateName checks one part of a stream, checkpoint or connection key.
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return &ParamError{Param: what, Reason: "must not be empty"}
	case len(name) > 255:
		return &ParamError{Param: what, Reason: fmt.Sprintf("%d bytes long, more than 255", len(name))}
	case strings.IndexByte(name, 0) >= 0:
		return &ParamError{Param: what, Reason: "contains a NUL byte"}
	}
	return nil
}

// Validate checks the stream's names.
func (s Stream) Validate() error {
	if err := ValidateName("integration", s.Integration); err != nil {
		return err
	}
	if err := ValidateName("connection", s.Connection); err != nil {
		return err
	}
	return ValidateName("model", s.Model)
}

// Validate checks the key's names.
func (k CheckpointKey) Validate() error {
	return SyncKey(k).Validate()
}

// Validate checks the key's names.
func (k SyncKey) Validate() error {
	if err := ValidateName("integration", k.Integration); err != nil {
		return err
	}
	if err := ValidateName("sync", k.Sync); err != nil {
		return err
	}
	return ValidateName("connection", k.Connection)
}

// ValidateID checks a record id.
func ValidateID(id string) string {
	switch {
	case id == "":
		return "empty id"
	case len(id) > MaxIDLength:
		return fmt.Sprintf("id is %d bytes long, more than %d", len(id), MaxIDLength)
	case strings.IndexByte(id, 0) >= 0:
		return "id contains a NUL byte"
	}
	return ""
}

// Timestamp truncates t to the store's precision (microseconds) in UTC; zero stays zero.
func Timestamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Hash is the change-detection hash of a canonical payload.
func Hash(canonical []byte) uint64 { return xxhash.Sum64(canonical) }

// PreparedRecord is a validated, deduplicated record ready to be applied.
type PreparedRecord struct {
	ID    string
	Data  []byte // canonical JSON; nil for deletes without payload
	Hash  uint64
	Index int // position in the caller's batch
}

// PreparedWrite is a validated RecordsWriteParams.
type PreparedWrite struct {
	*RecordsWriteParams
	Records      []PreparedRecord
	Duplicates   int
	DuplicateIDs []string
	// SeenIDs are the ids in byte order, for the deletion-tracking window.
	SeenIDs []string
}

// maxDuplicateIDs bounds RecordsWriteResult.DuplicateIDs.
const maxDuplicateIDs = 10

// PrepareWrite validates a write (its checkpoint included, as PrepareCheckpoint does),
// canonicalises the payloads, and drops earlier duplicates (the last record with an id wins).
// Every store calls it first; the returned error is a *ParamError or a *RecordError, or the
// error of the write's Encode, which it calls once the parameters are checked.
func PrepareWrite(p *RecordsWriteParams) (*PreparedWrite, error) {
	if p == nil {
		return nil, &ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Stream.Validate(); err != nil {
		return nil, err
	}
	if p.Mode < WriteSave || p.Mode > WriteReseal {
		return nil, &ParamError{Param: "mode", Reason: fmt.Sprintf("unknown write mode %d", p.Mode)}
	}
	if p.Mode == WriteReseal && p.Codec == nil {
		return nil, &ParamError{Param: "codec", Reason: "a reseal write needs a payload codec"}
	}
	if p.TrackSeen != "" {
		if err := ValidateName("sync", p.TrackSeen); err != nil {
			return nil, err
		}
	}
	if p.Checkpoint != nil {
		if err := p.Checkpoint.Key.Validate(); err != nil {
			return nil, err
		}
	}
	if p.Encode != nil {
		encode := p.Encode
		p.Encode = nil
		if err := encode(); err != nil {
			return nil, err
		}
	}
	pw := &PreparedWrite{RecordsWriteParams: p}
	recs := make([]PreparedRecord, 0, len(p.Records))
	size := 0
	for _, r := range p.Records {
		size += len(r.Data)
	}
	buf := make([]byte, 0, size)
	var shapes jsonc.Shapes // records of a batch mostly share their keys' order
	for i, r := range p.Records {
		pr := PreparedRecord{ID: r.ID, Index: i}
		if r.Data != nil || p.Mode != WriteDelete {
			if r.Data == nil {
				return nil, &RecordError{Model: p.Stream.Model, Index: i, ID: r.ID, Reason: "no payload"}
			}
			start := len(buf)
			out, id, err := shapes.Record(buf, r.Data)
			if err != nil {
				return nil, &RecordError{Model: p.Stream.Model, Index: i, ID: r.ID, Reason: err.Error(), Err: err}
			}
			if r.ID != "" && id != r.ID {
				return nil, &RecordError{Model: p.Stream.Model, Index: i, ID: r.ID,
					Reason: fmt.Sprintf("payload id %q differs from the record id", id)}
			}
			pr.ID = id
			buf = out
			pr.Data = buf[start:len(buf):len(buf)]
			pr.Hash = pw.hash(pr.Data)
		}
		if reason := ValidateID(pr.ID); reason != "" {
			return nil, &RecordError{Model: p.Stream.Model, Index: i, ID: pr.ID, Reason: reason}
		}
		recs = append(recs, pr)
	}
	// Keep the last record of each id, in the order of those last occurrences.
	if len(recs) > 1 {
		last := make(map[string]int, len(recs))
		for i, r := range recs {
			last[r.ID] = i
		}
		if len(last) != len(recs) {
			kept := recs[:0:0]
			for i, r := range recs {
				if last[r.ID] == i {
					kept = append(kept, r)
					continue
				}
				pw.Duplicates++
				if len(pw.DuplicateIDs) < maxDuplicateIDs && !slices.Contains(pw.DuplicateIDs, r.ID) {
					pw.DuplicateIDs = append(pw.DuplicateIDs, r.ID)
				}
			}
			recs = kept
		}
	}
	pw.Records = recs
	if p.Checkpoint != nil {
		if err := PrepareCheckpoint(p.Checkpoint); err != nil {
			return nil, err
		}
	}
	if p.TrackSeen != "" && (p.Mode == WriteSave || p.Mode == WriteMerge) {
		pw.SeenIDs = make([]string, len(recs))
		for i, r := range recs {
			pw.SeenIDs[i] = r.ID
		}
		slices.Sort(pw.SeenIDs)
	}
	return pw, nil
}

// PrepareList validates a listing and applies its defaults.
func PrepareList(p *RecordsListParams) (RecordsListParams, error) {
	if p == nil {
		return RecordsListParams{}, &ParamError{Param: "params", Reason: "nil"}
	}
	q := *p
	if err := q.Stream.Validate(); err != nil {
		return q, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return q, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", q.Limit, MaxListLimit)}
	}
	if len(q.IDs) > MaxListIDs {
		return q, &ParamError{Param: "ids", Reason: fmt.Sprintf("%d ids, more than %d", len(q.IDs), MaxListIDs)}
	}
	for _, id := range q.IDs {
		if reason := ValidateID(id); reason != "" {
			return q, &ParamError{Param: "ids", Reason: fmt.Sprintf("%q: %s", id, reason)}
		}
	}
	if q.Filter > FilterAdded|FilterUpdated|FilterDeleted {
		return q, &ParamError{Param: "filter", Reason: fmt.Sprintf("unknown filter bits %#x", uint8(q.Filter))}
	}
	q.ModifiedAfter = Timestamp(q.ModifiedAfter)
	return q, nil
}

// ListQuery is a validated RecordsListParams with its cursor decoded, as a store runs it.
type ListQuery struct {
	RecordsListParams
	// Codec encodes the cursors of the stream's records.
	Codec CursorCodec
	// After is the sequence the listing starts after (0: from the beginning), and Epoch the
	// stream's epoch when the cursor was taken.
	After uint64
	Epoch uint32
}

// PrepareListQuery validates a listing, applies its defaults and decodes its cursor (a
// *CursorError when it is malformed or another stream's).
func PrepareListQuery(p *RecordsListParams) (*ListQuery, error) {
	q, err := PrepareList(p)
	if err != nil {
		return nil, err
	}
	lq := &ListQuery{RecordsListParams: q, Codec: NewCursorCodec(q.Stream)}
	if q.Cursor != "" {
		if lq.After, lq.Epoch, err = lq.Codec.Decode(q.Cursor); err != nil {
			return nil, err
		}
	}
	return lq, nil
}

// Stale reports whether the query's cursor was taken before the stream, now at epoch, was
// emptied (ErrCursorStale).
func (q *ListQuery) Stale(epoch uint32) bool { return q.Cursor != "" && q.Epoch != epoch }

// PrepareCheckpoint validates a checkpoint write.
func PrepareCheckpoint(p *CheckpointPutParams) error {
	if p == nil {
		return &ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return err
	}
	if p.ExpectedVersion < 0 {
		return &ParamError{Param: "expected version", Reason: "must be 0 (absent) or a version"}
	}
	if _, err := jsonc.Canonical(nil, p.Data); err != nil {
		return &ParamError{Param: "checkpoint", Reason: err.Error()}
	}
	return nil
}

// Merge deep-merges a canonical patch into a canonical record (see WriteMerge).
func Merge(base, patch []byte) ([]byte, error) {
	return jsonc.Merge(make([]byte, 0, len(base)+len(patch)), base, patch)
}

// Clock returns t, or the current time when t is zero, at the store's precision.
func Clock(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return Timestamp(t)
}

// ValidateRun checks a run before it is stored.
func ValidateRun(r *Run) error {
	if r == nil {
		return &ParamError{Param: "run", Reason: "nil"}
	}
	if err := ValidateName("run id", r.ID); err != nil {
		return err
	}
	if err := r.Key.Validate(); err != nil {
		return err
	}
	if r.StartedAt.IsZero() {
		return &ParamError{Param: "run started at", Reason: "must be set"}
	}
	return nil
}

// PrepareRunList validates a run listing and returns its limit.
func PrepareRunList(p *RunListParams) (int, error) {
	if p == nil {
		return 0, &ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return 0, err
	}
	switch {
	case p.Limit == 0:
		return DefaultListLimit, nil
	case p.Limit < 0 || p.Limit > MaxListLimit:
		return 0, &ParamError{Param: "limit", Reason: fmt.Sprintf("%d is outside 1..%d", p.Limit, MaxListLimit)}
	}
	return p.Limit, nil
}

// ValidateConnection checks a connection before it is stored.
func ValidateConnection(c *Connection) error {
	if c == nil {
		return &ParamError{Param: "connection", Reason: "nil"}
	}
	if err := ValidateName("integration", c.Integration); err != nil {
		return err
	}
	if err := ValidateName("connection id", c.ID); err != nil {
		return err
	}
	if c.Metadata != nil {
		if _, err := jsonc.Canonical(nil, c.Metadata); err != nil {
			return &ParamError{Param: "connection metadata", Reason: err.Error()}
		}
	}
	for _, u := range c.WebhookURLs {
		if strings.TrimSpace(u) == "" || len(u) > 4096 || strings.IndexByte(u, 0) >= 0 {
			return &ParamError{Param: "connection webhook url", Reason: fmt.Sprintf("%q is empty, longer than 4096 bytes or has a NUL byte", u)}
		}
	}
	return nil
}

// PrepareLease validates a lease acquisition and returns its expiry.
func PrepareLease(p *LeaseAcquireParams) (time.Time, error) {
	if p == nil {
		return time.Time{}, &ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return time.Time{}, err
	}
	if err := ValidateName("lease owner", p.Owner); err != nil {
		return time.Time{}, err
	}
	if p.TTL <= 0 {
		return time.Time{}, &ParamError{Param: "lease ttl", Reason: fmt.Sprintf("%s is not positive", p.TTL)}
	}
	return Clock(p.Now).Add(p.TTL), nil
}

// PrepareLeaseRenew validates a lease renewal and returns the new expiry.
func PrepareLeaseRenew(p *LeaseRenewParams) (time.Time, error) {
	if p == nil || p.Lease == nil {
		return time.Time{}, &ParamError{Param: "lease", Reason: "nil"}
	}
	if err := p.Lease.Key.Validate(); err != nil {
		return time.Time{}, err
	}
	if p.TTL <= 0 {
		return time.Time{}, &ParamError{Param: "lease ttl", Reason: fmt.Sprintf("%s is not positive", p.TTL)}
	}
	return Clock(p.Now).Add(p.TTL), nil
}

// ValidateSchedule checks a schedule before it is stored.
func ValidateSchedule(s *Schedule) error {
	if s == nil {
		return &ParamError{Param: "schedule", Reason: "nil"}
	}
	if err := s.Key.Validate(); err != nil {
		return err
	}
	switch t := s.Trigger; {
	case !t.IsZero() && t.ID == "":
		return &ParamError{Param: "schedule.Trigger.ID", Reason: fmt.Sprintf("empty in a trigger of %s for %q", s.Key.Sync, s.Key.Connection)}
	case t.EmptyCache && !t.Reset:
		return &ParamError{Param: "schedule.Trigger.EmptyCache", Reason: fmt.Sprintf("needs Reset (trigger of %s for %q)", s.Key.Sync, s.Key.Connection)}
	}
	return nil
}

// ApplyScheduleUpdate calls update on sc (a copy the caller owns) and checks the result, for
// the stores' ScheduleUpdate.
func ApplyScheduleUpdate(sc *Schedule, update func(*Schedule) error) error {
	key := sc.Key
	if err := update(sc); err != nil {
		return err
	}
	if sc.Key != key {
		return &ParamError{Param: "schedule", Reason: fmt.Sprintf("an update may not change its key (%s for %q)", key.Sync, key.Connection)}
	}
	return ValidateSchedule(sc)
}

// LeaseHeldError returns ErrLeaseHeld with who holds the lease and until when, as a
// *LeaseHeld.
func LeaseHeldError(key SyncKey, owner string, until time.Time) error {
	return &LeaseHeld{Key: key, Owner: owner, Until: until}
}

// LeaseHeld is ErrLeaseHeld with who holds the lease and until when: an engine that finds a
// sync running elsewhere looks again once the lease would expire.
type LeaseHeld struct {
	Key   SyncKey
	Owner string
	Until time.Time
}

func (e *LeaseHeld) Error() string {
	return fmt.Sprintf("%v: sync %q for connection %q is leased to %q until %s",
		ErrLeaseHeld, e.Key.Sync, e.Key.Connection, e.Owner, e.Until.Format(time.RFC3339Nano))
}

// Unwrap makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeld) Unwrap() error { return ErrLeaseHeld }

// LeaseLostError formats ErrLeaseLost for a lease.
func LeaseLostError(l *Lease) error {
	return fmt.Errorf("%w (sync %q, connection %q, token %d)", ErrLeaseLost, l.Key.Sync, l.Key.Connection, l.Token)
}

// ApplyConnectionUpdate calls update on c (a copy the caller owns) and checks the result, for
// the stores' ConnectionUpdate.
func ApplyConnectionUpdate(c *Connection, update func(*Connection) error) error {
	integration, id := c.Integration, c.ID
	if err := update(c); err != nil {
		return err
	}
	if c.Integration != integration || c.ID != id {
		return &ParamError{Param: "connection", Reason: fmt.Sprintf("an update may not change its integration or id (%q of %q)", id, integration)}
	}
	return ValidateConnection(c)
}
