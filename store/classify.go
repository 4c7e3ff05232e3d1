package store

import "fmt"

// This file is the one place that decides what a write does to a record. Every store calls
// PreparedWrite.Classify for each record of a batch and only persists the Decision.

// Held is what a stream holds for an id when a write reaches it.
type Held struct {
	// Exists is false when the stream never held the id, or lost it with StreamDelete.
	Exists bool
	// Deleted is set when the record's last action is DELETED.
	Deleted bool
	// Hash is the change-detection hash of the stored payload.
	Hash uint64
	// Data is the stored canonical payload. Stores load it only when NeedsData says so.
	Data []byte
	// Newer is set when the record's last change is after the writer's IgnoreModifiedAfter
	// snapshot and not one of the writer's own (see CursorSnapshot.ModifiedAfter).
	Newer bool
	// Pruned is set when the record's payload was removed by RecordsPrune: Data is then empty.
	Pruned bool
}

// NeedsData reports whether Classify uses h.Data for a write in this mode: to merge into a
// live record, or to pass on the payload of a record it deletes as Decision.Data. A store that
// keeps a deleted record's payload in place may leave Data nil for WriteDelete.
func (h Held) NeedsData(mode WriteMode) bool {
	return h.Exists && !h.Deleted && !h.Newer && (mode == WriteMerge || mode == WriteDelete)
}

// Verdict is what a write does to one record.
type Verdict uint8

// The verdicts. Those from VerdictAdded on change the record; the others write nothing.
const (
	// VerdictUnchanged: the payload is the one stored (a save or merge of a live record).
	VerdictUnchanged Verdict = iota
	// VerdictIgnored: a merge or delete of an id that is unknown or deleted.
	VerdictIgnored
	// VerdictSkipped: the record changed after the writer's snapshot (IgnoreModifiedAfter).
	VerdictSkipped
	// VerdictAdded: a save of a new id.
	VerdictAdded
	// VerdictReadded: a save of a deleted id, which is ADDED again with first_seen_at reset.
	VerdictReadded
	// VerdictUpdated: a save or merge that changed a live record's payload; first_seen_at stays.
	VerdictUpdated
	// VerdictDeleted: a delete of a live record; payload and first_seen_at stay.
	VerdictDeleted
)

// Writes reports whether the record changes: a new log entry, cursor and change time.
func (v Verdict) Writes() bool { return v >= VerdictAdded }

// Action is the record's last action after a write that changes it, or "" for a verdict that
// writes nothing.
func (v Verdict) Action() Action {
	switch v {
	case VerdictAdded, VerdictReadded:
		return ActionAdded
	case VerdictUpdated:
		return ActionUpdated
	case VerdictDeleted:
		return ActionDeleted
	}
	return ""
}

// KeepsFirstSeen reports whether the record keeps its first_seen_at; otherwise it is the change
// time.
func (v Verdict) KeepsFirstSeen() bool { return v == VerdictUpdated || v == VerdictDeleted }

// StatsDelta is how the verdict moves the stream's live and deleted counts.
func (v Verdict) StatsDelta() (live, deleted int) {
	switch v {
	case VerdictAdded:
		return 1, 0
	case VerdictReadded:
		return 1, -1
	case VerdictDeleted:
		return -1, 1
	}
	return 0, 0
}

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case VerdictUnchanged:
		return "unchanged"
	case VerdictIgnored:
		return "ignored"
	case VerdictSkipped:
		return "skipped"
	case VerdictAdded:
		return "added"
	case VerdictReadded:
		return "readded"
	case VerdictUpdated:
		return "updated"
	case VerdictDeleted:
		return "deleted"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Decision is what Classify decided for one record.
type Decision struct {
	Verdict Verdict
	// Data and Hash are the record's payload, in its stored form (sealed by the write's
	// PayloadCodec, if it has one), and hash after a write that changes it: the incoming record,
	// the merge, or (deleted) the held payload. Data may alias the prepared record or Held.Data:
	// a store copies it before the memory it points into changes.
	Data []byte
	Hash uint64
	// Seen is set when the id joins the write's deletion-tracking window (if it has one): every
	// id of a save, and the ids of a merge that are live, skipped ones included.
	Seen bool
	// Restore is set on an unchanged save of a pruned live record: the store puts Data back
	// as the record's payload and clears its pruned_at, in place, without a change (the cursor,
	// the last action and the times stay).
	Restore bool
	// Reseal is set when the write keeps the record as it is but its stored payload and hash
	// change form: a payload kept in the clear before the write had a PayloadCodec is sealed.
	// The store replaces the record's payload and hash with Data and Hash in place, without a
	// change: the cursor, the last action, the times, deleted_at and pruned_at stay (unless
	// Restore is set too).
	Reseal bool
}

// Classify decides what the write does to rec given what the stream holds for its id. It
// reads held.Data only when held.NeedsData(pw.Mode). The only error is a *RecordError for a
// merge that cannot be applied, or for a payload the write's PayloadCodec cannot seal or open.
//
// With a PayloadCodec, hashes are the codec's and Decision.Data is sealed. A record kept in the
// clear before (its hash is Hash) that the write leaves as it is gets Reseal: it is sealed in
// place, without a change.
//
//	save,   nothing held              -> added
//	save,   deleted                   -> readded (ADDED, first_seen_at reset)
//	save,   live, same hash           -> unchanged (a pruned payload is restored in place)
//	save,   live, other hash          -> updated
//	merge,  live                      -> updated with the deep merge, or unchanged
//	merge,  live and pruned           -> the merge onto an empty object: updated, or restored
//	merge,  nothing held or deleted   -> ignored
//	delete, live                      -> deleted, payload kept
//	delete, nothing held or deleted   -> ignored
//	reseal, held in the clear, same   -> unchanged, sealed in place (Reseal)
//	reseal, anything else             -> ignored
//	any,    held and Newer            -> skipped
func (pw *PreparedWrite) Classify(held Held, rec PreparedRecord) (Decision, error) {
	live := held.Exists && !held.Deleted
	if held.Exists && held.Newer {
		return Decision{Verdict: VerdictSkipped, Seen: pw.Mode == WriteSave || (pw.Mode == WriteMerge && live)}, nil
	}
	switch pw.Mode {
	case WriteSave:
		d := Decision{Hash: rec.Hash, Seen: true}
		switch {
		case !held.Exists:
			d.Verdict = VerdictAdded
		case held.Deleted:
			d.Verdict = VerdictReadded
		case held.Hash == rec.Hash:
			d.Verdict = VerdictUnchanged
			d.Restore = held.Pruned
		case pw.plainHeld(held, rec.Data):
			d.Verdict = VerdictUnchanged
			d.Restore, d.Reseal = held.Pruned, true
		default:
			d.Verdict = VerdictUpdated
		}
		if d.Verdict.Writes() || d.Restore || d.Reseal {
			var err error
			if d.Data, err = pw.seal(rec, rec.Data); err != nil {
				return Decision{}, err
			}
		}
		return d, nil
	case WriteMerge:
		if !live {
			return Decision{Verdict: VerdictIgnored}, nil
		}
		base := []byte("{}")
		if !held.Pruned {
			var err error
			if base, err = pw.open(rec, held.Data); err != nil {
				return Decision{}, err
			}
		}
		merged, err := Merge(base, rec.Data)
		if err != nil {
			return Decision{}, &RecordError{Model: pw.Stream.Model, Index: rec.Index, ID: rec.ID, Reason: err.Error(), Err: err}
		}
		h := pw.hash(merged)
		d := Decision{Verdict: VerdictUnchanged, Hash: h, Seen: true}
		switch {
		case h != held.Hash && pw.plainHeld(held, merged):
			d.Restore, d.Reseal = held.Pruned, true
		case h != held.Hash:
			d.Verdict = VerdictUpdated
		default:
			d.Restore = held.Pruned
		}
		if d.Verdict.Writes() || d.Restore || d.Reseal {
			if d.Data, err = pw.seal(rec, merged); err != nil {
				return Decision{}, err
			}
		} else {
			d.Hash = 0
		}
		return d, nil
	case WriteReseal:
		if !held.Exists || held.Newer || held.Pruned || held.Hash == rec.Hash || !pw.plainHeld(held, rec.Data) {
			return Decision{Verdict: VerdictIgnored}, nil
		}
		data, err := pw.seal(rec, rec.Data)
		if err != nil {
			return Decision{}, err
		}
		return Decision{Verdict: VerdictUnchanged, Data: data, Hash: rec.Hash, Reseal: true}, nil
	case WriteDelete:
		if !live {
			return Decision{Verdict: VerdictIgnored}, nil
		}
		return Decision{Verdict: VerdictDeleted, Data: held.Data, Hash: held.Hash}, nil
	}
	return Decision{}, &ParamError{Param: "mode", Reason: fmt.Sprintf("unknown write mode %d", pw.Mode)}
}

// maxSkippedIDs bounds RecordsWriteResult.SkippedIDs.
const maxSkippedIDs = 10

// Tally counts a decision for the record with this id in the result.
func (r *RecordsWriteResult) Tally(id string, d Decision) {
	switch d.Verdict {
	case VerdictUnchanged:
		r.Unchanged++
		if d.Reseal {
			r.Resealed++
		}
	case VerdictIgnored:
		r.Ignored++
	case VerdictSkipped:
		r.Skipped++
		if len(r.SkippedIDs) < maxSkippedIDs {
			r.SkippedIDs = append(r.SkippedIDs, id)
		}
	case VerdictAdded, VerdictReadded:
		r.Added++
	case VerdictUpdated:
		r.Updated++
	case VerdictDeleted:
		r.Deleted++
	}
}
