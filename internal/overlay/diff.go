package overlay

import (
	"context"
	"fmt"

	"github.com/gonango/nango/store"
)

// Diff is what the run changed in one stream, each record counted once: its final state in the
// sandbox against its state in the base.
type Diff struct {
	Added, Updated, Deleted int
	// Unchanged counts the records the run saved exactly as the base holds them.
	Unchanged int
	// RefusedDeletes counts the sweep's deletions the DeleteGuard refused.
	RefusedDeletes int
	// Samples of each kind, at most the number Diff was asked for (deletions by a sweep come
	// after those the run wrote).
	AddedSamples   []Sample
	UpdatedSamples []Change
	DeletedSamples []Sample
}

// Sample is a record's id and canonical payload.
type Sample struct {
	ID   string
	Data []byte
}

// Change is an updated record: the base's payload and the sandbox's.
type Change struct {
	ID            string
	Before, After []byte
}

// Diff compares the final state of the records the run wrote to st with the base, keeping up
// to samples records of each kind. Each record is classified as if its final state were written
// to the base in one write: a live record as a save, a deleted one as a delete.
func (s *Store) Diff(ctx context.Context, st store.Stream, samples int) (*Diff, error) {
	d := &Diff{}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.streams[st]
	if ds == nil {
		return d, nil
	}
	save := &store.PreparedWrite{RecordsWriteParams: &store.RecordsWriteParams{Stream: st, Mode: store.WriteSave}}
	del := &store.PreparedWrite{RecordsWriteParams: &store.RecordsWriteParams{Stream: st, Mode: store.WriteDelete}}
	p := &store.RecordsListParams{Stream: st, Limit: 1000}
	for {
		page, err := s.mem.RecordsList(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			final := store.PreparedRecord{ID: r.ID, Data: r.Data, Hash: store.Hash(r.Data)}
			pw := save
			if r.LastAction == store.ActionDeleted {
				pw = del
			}
			dec, err := pw.Classify(ds.base[r.ID], final)
			if err != nil {
				return nil, err
			}
			switch dec.Verdict {
			case store.VerdictAdded, store.VerdictReadded:
				d.Added++
				if len(d.AddedSamples) < samples {
					d.AddedSamples = append(d.AddedSamples, Sample{ID: r.ID, Data: r.Data})
				}
			case store.VerdictDeleted:
				d.Deleted++
				if len(d.DeletedSamples) < samples {
					d.DeletedSamples = append(d.DeletedSamples, Sample{ID: r.ID, Data: r.Data})
				}
			case store.VerdictUpdated:
				d.Updated++
				if len(d.UpdatedSamples) < samples {
					d.UpdatedSamples = append(d.UpdatedSamples, Change{ID: r.ID, After: r.Data})
				}
			case store.VerdictUnchanged:
				d.Unchanged++
			}
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if len(d.UpdatedSamples) > 0 {
		ids := make([]string, len(d.UpdatedSamples))
		for i, u := range d.UpdatedSamples {
			ids[i] = u.ID
		}
		stored, err := s.base.RecordsList(ctx, &store.RecordsListParams{Stream: st, IDs: ids, Limit: store.MaxListIDs})
		if err != nil {
			return nil, fmt.Errorf("reading the stored records: %w", err)
		}
		for i := range d.UpdatedSamples {
			for _, r := range stored.Records {
				if r.ID == d.UpdatedSamples[i].ID {
					d.UpdatedSamples[i].Before = r.Data
				}
			}
		}
	}
	if sw := ds.sweep; sw != nil {
		if sw.refused {
			d.RefusedDeletes = sw.unseen
		} else {
			d.Deleted += sw.unseen
			for _, r := range sw.samples {
				if len(d.DeletedSamples) < samples {
					d.DeletedSamples = append(d.DeletedSamples, Sample{ID: r.ID, Data: r.Data})
				}
			}
		}
	}
	return d, nil
}
