package postgres

import (
	"github.com/gonango/nango/store"
)

// prior is what a stream holds for a record before a write.
type prior struct {
	exists bool
	live   bool
	seq    uint64
	hash   uint64
	data   []byte // read for merges only
	pruned bool   // the payload was removed by RecordsPrune
}

// verdict is what a write does to one record.
type verdict uint8

const (
	vUnchanged verdict = iota // nothing written
	vRestored                 // unchanged, and the pruned payload is put back in place
	vIgnored                  // merge or delete of an unknown or deleted id
	vSkipped                  // changed after the writer's snapshot by another writer
	vAdded                    // a new row
	vReadded                  // a deleted record saved again
	vUpdated
	vDeleted
)

// decide classifies one record of a batch against what the stream holds; for vAdded, vReadded
// and vUpdated it returns the payload to store and its hash. newer is the IgnoreModifiedAfter
// check of an existing record's sequence number (nil when the write has none).
func decide(mode store.WriteMode, model string, r *store.PreparedRecord, old *prior, newer func(seq uint64) bool) (verdict, []byte, uint64, error) {
	if old.exists && newer != nil && newer(old.seq) {
		return vSkipped, nil, 0, nil
	}
	switch mode {
	case store.WriteSave:
		switch {
		case !old.exists:
			return vAdded, r.Data, r.Hash, nil
		case !old.live:
			return vReadded, r.Data, r.Hash, nil
		case old.hash != r.Hash:
			return vUpdated, r.Data, r.Hash, nil
		case old.pruned:
			return vRestored, r.Data, r.Hash, nil
		}
		return vUnchanged, nil, 0, nil
	case store.WriteMerge:
		if !old.live {
			return vIgnored, nil, 0, nil
		}
		base := old.data
		if old.pruned {
			base = []byte("{}")
		}
		merged, err := store.Merge(base, r.Data)
		if err != nil {
			return 0, nil, 0, &store.RecordError{Model: model, Index: r.Index, ID: r.ID, Reason: err.Error(), Err: err}
		}
		switch h := store.Hash(merged); {
		case h != old.hash:
			return vUpdated, merged, h, nil
		case old.pruned:
			return vRestored, merged, h, nil
		}
		return vUnchanged, nil, 0, nil
	default: // store.WriteDelete
		if !old.live {
			return vIgnored, nil, 0, nil
		}
		return vDeleted, nil, old.hash, nil
	}
}

// joinsWindow reports whether a record joins the deletion-tracking window of a write with
// TrackSeen: every record of a save (unchanged and skipped ones too), the live records of a
// merge, nothing of a delete.
func joinsWindow(mode store.WriteMode, old *prior) bool {
	switch mode {
	case store.WriteSave:
		return true
	case store.WriteMerge:
		return old.live
	}
	return false
}
