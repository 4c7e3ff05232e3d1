package client

import (
	"context"
	"errors"
	"net/http"
)

// PruneRecordsParams are the parameters of PruneRecords (PATCH /records/prune).
type PruneRecordsParams struct {
	ProviderConfigKey string
	ConnectionID      string
	Model             string
	// Variant is the model's variant; empty means the base model.
	Variant string
	// UntilCursor prunes the records up to and including the one with this cursor (a record's
	// Metadata.Cursor). Required.
	UntilCursor string
	// Limit is how many records one call prunes, 1 to 10,000; 0 leaves the server's default
	// (1,000).
	Limit int
}

// PruneRecordsResult is the answer of PruneRecords.
type PruneRecordsResult struct {
	// Count is the number of records whose payload was removed.
	Count int `json:"count"`
	// HasMore is set when more records may be left up to the cursor: call again with the same
	// parameters.
	HasMore bool `json:"has_more"`
}

// PruneRecords removes the payload of the records up to and including p.UntilCursor, keeping
// their metadata and place in the feed (PATCH /records/prune).
func (c *Client) PruneRecords(ctx context.Context, p PruneRecordsParams) (*PruneRecordsResult, error) {
	if p.ProviderConfigKey == "" || p.ConnectionID == "" || p.Model == "" || p.UntilCursor == "" {
		return nil, errors.New("client: PruneRecords needs ProviderConfigKey, ConnectionID, Model and UntilCursor")
	}
	b := map[string]any{"model": p.Model, "until_cursor": p.UntilCursor}
	if p.Variant != "" {
		b["variant"] = p.Variant
	}
	if p.Limit != 0 {
		b["limit"] = p.Limit
	}
	h := http.Header{"Connection-Id": {p.ConnectionID}, "Provider-Config-Key": {p.ProviderConfigKey}}
	var out PruneRecordsResult
	if err := c.do(ctx, http.MethodPatch, "/records/prune", nil, h, b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
