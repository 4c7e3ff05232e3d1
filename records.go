package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/gonango/nango/store"
)

// Action is what last happened to a record: ADDED, UPDATED or DELETED.
type Action = store.Action

// The record actions.
const (
	ActionAdded   = store.ActionAdded
	ActionUpdated = store.ActionUpdated
	ActionDeleted = store.ActionDeleted
)

// Filter selects records by their last action; combine with |. The zero value selects all.
type Filter = store.Filter

// The filters.
const (
	FilterAdded   = store.FilterAdded
	FilterUpdated = store.FilterUpdated
	FilterDeleted = store.FilterDeleted
)

// ParseFilter parses Nango's filter syntax: "added", "updated", "deleted" or a comma-separated
// combination, in any case. The empty string selects all.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "added":
			f |= FilterAdded
		case "updated":
			f |= FilterUpdated
		case "deleted":
			f |= FilterDeleted
		default:
			return 0, fmt.Errorf("nango: invalid filter %q: want added, updated, deleted or a comma-separated combination", part)
		}
	}
	return f, nil
}

// RecordMetadata describes a record's life in its stream. Times are UTC with microsecond
// precision. DeletedAt and PrunedAt are zero unless the record was deleted or pruned.
type RecordMetadata struct {
	FirstSeenAt    time.Time
	LastModifiedAt time.Time
	DeletedAt      time.Time
	PrunedAt       time.Time
	LastAction     Action
	// Cursor is the record's position in the change feed: list with it to read what changed
	// after this record.
	Cursor string
}

// Record is a record read from the change feed.
type Record struct {
	ID string
	// Data is the record as canonical JSON (keys sorted, no whitespace).
	Data     json.RawMessage
	Metadata RecordMetadata
}

// Decode unmarshals the record's payload into v.
func (r Record) Decode(v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("nango: decoding record %q: %w", r.ID, err)
	}
	return nil
}

func fromStore(r store.Record) Record {
	return Record{ID: r.ID, Data: r.Data, Metadata: RecordMetadata(r.Metadata)}
}

// ListRecordsParams select a page of the change feed of one stream.
type ListRecordsParams struct {
	Integration string
	Connection  string
	Model       string
	// Cursor continues after a record's Metadata.Cursor or a page's NextCursor; empty starts at
	// the beginning of the feed.
	Cursor string
	// ModifiedAfter keeps records last modified at or after this time (inclusive).
	ModifiedAfter time.Time
	// Filter keeps records whose last action it selects.
	Filter Filter
	// IDs keeps only these ids; at most 100.
	IDs []string
	// Limit is the page size, 1 to 10,000. Defaults to 100.
	Limit int
}

// RecordsPage is one page of the change feed.
type RecordsPage struct {
	Records []Record
	// NextCursor fetches the next page; it is empty on the last page.
	NextCursor string
}

// ListRecords reads one page of a stream's change feed in cursor order: each record at most
// once, at its latest change. A record that changes again after being read shows up again
// later in the feed. Errors: ErrUnknownIntegration, ErrUnknownModel, ErrUnknownConnection,
// ErrInvalidCursor, or a *ParamError for a limit or ids out of range.
func (e *Engine) ListRecords(ctx context.Context, p ListRecordsParams) (*RecordsPage, error) {
	if err := e.checkModel(p.Integration, p.Model); err != nil {
		return nil, err
	}
	res, err := e.store.RecordsList(ctx, &store.RecordsListParams{
		Stream:        store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model},
		Cursor:        p.Cursor,
		ModifiedAfter: p.ModifiedAfter,
		Filter:        p.Filter,
		IDs:           p.IDs,
		Limit:         p.Limit,
	})
	if err != nil {
		return nil, within(err, "listing records of %s/%s/%s", p.Integration, p.Connection, p.Model)
	}
	if len(res.Records) == 0 {
		// An empty page: say so when the connection does not exist (a connection's records go
		// with it, so a page with records needs no check).
		if _, err := e.store.ConnectionGet(ctx, p.Integration, p.Connection); errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, p.Connection, p.Integration)
		} else if err != nil {
			return nil, within(err, "listing records of %s/%s/%s", p.Integration, p.Connection, p.Model)
		}
	}
	if err := e.keys.openRecords(ctx, store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model}, res.Records); err != nil {
		return nil, err
	}
	page := &RecordsPage{Records: make([]Record, len(res.Records)), NextCursor: res.NextCursor}
	for i, r := range res.Records {
		page.Records[i] = fromStore(r)
	}
	return page, nil
}

// AllRecords iterates over the change feed from p.Cursor to its end, page by page (p.Limit
// records a page). It stops at the first error, which it yields.
func (e *Engine) AllRecords(ctx context.Context, p ListRecordsParams) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			page, err := e.ListRecords(ctx, p)
			if err != nil {
				yield(Record{}, err)
				return
			}
			for _, r := range page.Records {
				if !yield(r, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			p.Cursor = page.NextCursor
		}
	}
}

// TypedRecord is a record decoded into its Go type.
type TypedRecord[T any] struct {
	ID       string
	Value    T
	Metadata RecordMetadata
}

// RecordsOf iterates over the change feed like Engine.AllRecords, decoding each record into T.
// A record that does not decode yields an error and ends the iteration.
//
//	for rec, err := range nango.RecordsOf[Contact](ctx, eng, params) {
//		if err != nil { return err }
//		index(rec.Value)
//		last = rec.Metadata.Cursor
//	}
func RecordsOf[T any](ctx context.Context, e *Engine, p ListRecordsParams) iter.Seq2[TypedRecord[T], error] {
	return func(yield func(TypedRecord[T], error) bool) {
		for r, err := range e.AllRecords(ctx, p) {
			if err != nil {
				yield(TypedRecord[T]{}, err)
				return
			}
			tr := TypedRecord[T]{ID: r.ID, Metadata: r.Metadata}
			if err := r.Decode(&tr.Value); err != nil {
				yield(tr, err)
				return
			}
			if !yield(tr, nil) {
				return
			}
		}
	}
}

// GetRecords returns the records with these ids (any number) from a stream, keyed by id,
// deleted ones included. Unknown ids are absent from the map.
func (e *Engine) GetRecords(ctx context.Context, integration, connection, model string, ids []string) (map[string]Record, error) {
	out := make(map[string]Record, len(ids))
	for start := 0; start < len(ids); start += store.MaxListIDs {
		chunk := ids[start:min(start+store.MaxListIDs, len(ids))]
		page, err := e.ListRecords(ctx, ListRecordsParams{
			Integration: integration, Connection: connection, Model: model, IDs: chunk, Limit: store.MaxListIDs,
		})
		if err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			out[r.ID] = r
		}
	}
	return out, nil
}
