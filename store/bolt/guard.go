package bolt

import (
	"context"
	"slices"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// maxSkippedIDs bounds RecordsWriteResult.SkippedIDs.
const maxSkippedIDs = 10

// head is the cursor of a stream's newest change, or "".
func head(tx *bbolt.Tx, s store.Stream) string {
	sb := openStream(tx, s)
	if sb == nil {
		return ""
	}
	seq := sb.log.Sequence()
	if seq == 0 {
		return ""
	}
	return store.NewCursorCodec(s).Encode(seq, sb.state.epoch)
}

// StreamCursor implements store.Store.
func (s *Store) StreamCursor(ctx context.Context, stream store.Stream) (string, error) {
	if err := stream.Validate(); err != nil {
		return "", err
	}
	var out string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = head(tx, stream)
		return nil
	})
	return out, err
}

// recordsWriteGuarded is RecordsWrite with IgnoreModifiedAfter: in the same transaction, the
// records that changed after the snapshot are dropped from the batch before it is applied.
func (s *Store) recordsWriteGuarded(ctx context.Context, p *store.RecordsWriteParams, pw *store.PreparedWrite) (*store.RecordsWriteResult, error) {
	newer, err := p.IgnoreModifiedAfter.ModifiedAfter(p.Stream)
	if err != nil {
		return nil, err
	}
	var res *store.RecordsWriteResult
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		res = &store.RecordsWriteResult{Duplicates: pw.Duplicates, DuplicateIDs: pw.DuplicateIDs}
		if err := checkFence(tx, p.Fence); err != nil {
			return err
		}
		if p.Checkpoint != nil {
			if err := checkVersion(tx, p.Checkpoint.Key, p.Checkpoint.ExpectedVersion); err != nil {
				return err
			}
		}
		res.PrevCursor = head(tx, p.Stream)
		kept := *pw
		// Skipped records still join the deletion-tracking window as the write would have
		// added them: they are in the provider, only their data is older.
		var seen []string
		if sb := openStream(tx, p.Stream); sb != nil {
			kept.Records = make([]store.PreparedRecord, 0, len(pw.Records))
			for _, r := range pw.Records {
				iv := sb.index.Get(idBytes(r.ID))
				if len(iv) == indexLen && newer(decodeIndex(iv).seq, sb.state.epoch) {
					res.Skipped++
					if len(res.SkippedIDs) < maxSkippedIDs {
						res.SkippedIDs = append(res.SkippedIDs, r.ID)
					}
					if p.Mode == store.WriteMerge && !decodeIndex(iv).deleted {
						seen = append(seen, r.ID)
					}
					continue
				}
				kept.Records = append(kept.Records, r)
			}
		}
		if err := writeRecords(tx, &kept, res); err != nil {
			return err
		}
		if p.Mode == store.WriteSave && len(kept.Records) == 0 {
			seen = pw.SeenIDs // writeRecords skips an empty batch, window included
		}
		if p.TrackSeen != "" && len(seen) > 0 {
			slices.Sort(seen)
			if err := appendWindow(tx, p.Stream, p.TrackSeen, seen); err != nil {
				return err
			}
		}
		if p.Checkpoint != nil {
			cp, err := putCheckpoint(tx, p.Checkpoint)
			if err != nil {
				return err
			}
			res.Checkpoint = cp
		}
		res.Cursor = head(tx, p.Stream)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
