package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The last actions of records, in RecordMetadata.LastAction.
const (
	ActionAdded   = "ADDED"
	ActionUpdated = "UPDATED"
	ActionDeleted = "DELETED"
)

// ListRecordsParams select a page of the change feed of one model for one connection.
type ListRecordsParams struct {
	// ProviderConfigKey is the integration's key. Required.
	ProviderConfigKey string
	// ConnectionID is the connection's id. Required.
	ConnectionID string
	// Model is the model's name. Required.
	Model string
	// Variant is the sync variant; empty means the base one.
	Variant string
	// Cursor continues after a record's Metadata.Cursor or a page's NextCursor; empty starts at
	// the beginning of the feed.
	Cursor string
	// ModifiedAfter keeps records last modified at or after this time; zero keeps all.
	ModifiedAfter time.Time
	// Filter keeps records by last action: "added", "updated", "deleted" or a comma-separated
	// combination; empty keeps all.
	Filter string
	// IDs keeps only these ids; at most 100.
	IDs []string
	// Limit is the page size, 1 to 10,000; 0 means the server's default (100).
	Limit int
}

// RecordMetadata is a record's _nango_metadata. Zero times stand for null.
type RecordMetadata struct {
	FirstSeenAt    time.Time
	LastModifiedAt time.Time
	// LastAction is ActionAdded, ActionUpdated or ActionDeleted.
	LastAction string
	DeletedAt  time.Time
	PrunedAt   time.Time
	// Cursor is the record's position in the change feed.
	Cursor string
}

// Record is a record of the change feed.
type Record struct {
	// ID is the record's id.
	ID string
	// Data is the record's payload as JSON, its id included and _nango_metadata left out.
	Data json.RawMessage
	// Metadata is the record's _nango_metadata.
	Metadata RecordMetadata
}

// Decode unmarshals the record's payload into v.
func (r Record) Decode(v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("client: decoding record %q: %w", r.ID, err)
	}
	return nil
}

// RecordsPage is one page of the change feed.
type RecordsPage struct {
	Records []Record
	// NextCursor fetches the next page; it is empty on the last page.
	NextCursor string
}

// ListRecords reads one page of the change feed (GET /records).
func (c *Client) ListRecords(ctx context.Context, p ListRecordsParams) (*RecordsPage, error) {
	if p.ProviderConfigKey == "" || p.ConnectionID == "" || p.Model == "" {
		return nil, errors.New("client: ListRecords needs ProviderConfigKey, ConnectionID and Model")
	}
	q := url.Values{"model": {p.Model}}
	if p.Variant != "" {
		q.Set("variant", p.Variant)
	}
	if !p.ModifiedAfter.IsZero() {
		q.Set("modified_after", p.ModifiedAfter.UTC().Format(time.RFC3339Nano))
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Filter != "" {
		q.Set("filter", p.Filter)
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	for _, id := range p.IDs {
		q.Add("ids", id)
	}
	h := http.Header{"Connection-Id": {p.ConnectionID}, "Provider-Config-Key": {p.ProviderConfigKey}}
	var answer struct {
		Records    []json.RawMessage `json:"records"`
		NextCursor *string           `json:"next_cursor"`
	}
	if err := c.do(ctx, http.MethodGet, "/records", q, h, nil, &answer); err != nil {
		return nil, err
	}
	page := &RecordsPage{Records: make([]Record, len(answer.Records))}
	if answer.NextCursor != nil {
		page.NextCursor = *answer.NextCursor
	}
	for i, raw := range answer.Records {
		rec, err := decodeRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("client: record %d of the page: %w", i, err)
		}
		page.Records[i] = rec
	}
	return page, nil
}

// AllRecords iterates over the change feed from p.Cursor to its end, page by page (p.Limit
// records a page). It stops at the first error, which it yields.
func (c *Client) AllRecords(ctx context.Context, p ListRecordsParams) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			page, err := c.ListRecords(ctx, p)
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
			if page.NextCursor == p.Cursor {
				yield(Record{}, fmt.Errorf("client: the server repeated cursor %q", p.Cursor))
				return
			}
			p.Cursor = page.NextCursor
		}
	}
}

// decodeRecord splits a record as the API writes it into payload and metadata.
func decodeRecord(raw json.RawMessage) (Record, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Record{}, err
	}
	var meta struct {
		FirstSeenAt    *time.Time `json:"first_seen_at"`
		LastModifiedAt *time.Time `json:"last_modified_at"`
		LastAction     string     `json:"last_action"`
		DeletedAt      *time.Time `json:"deleted_at"`
		PrunedAt       *time.Time `json:"pruned_at"`
		Cursor         string     `json:"cursor"`
	}
	if m, ok := fields["_nango_metadata"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return Record{}, fmt.Errorf("_nango_metadata: %w", err)
		}
		delete(fields, "_nango_metadata")
	}
	rec := Record{Metadata: RecordMetadata{LastAction: meta.LastAction, Cursor: meta.Cursor}}
	for dst, src := range map[*time.Time]*time.Time{
		&rec.Metadata.FirstSeenAt: meta.FirstSeenAt, &rec.Metadata.LastModifiedAt: meta.LastModifiedAt,
		&rec.Metadata.DeletedAt: meta.DeletedAt, &rec.Metadata.PrunedAt: meta.PrunedAt,
	} {
		if src != nil {
			*dst = *src
		}
	}
	switch id := fields["id"]; {
	case len(id) > 0 && id[0] == '"':
		if err := json.Unmarshal(id, &rec.ID); err != nil {
			return Record{}, fmt.Errorf("id: %w", err)
		}
	case len(id) > 0:
		rec.ID = string(id) // a number, as Nango's API may write it
	default:
		return Record{}, errors.New("no id")
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return Record{}, err
	}
	rec.Data = data
	return rec, nil
}
