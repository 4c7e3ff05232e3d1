package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SyncSelector picks syncs of one integration: Syncs names them (empty: all the integration's
// syncs) and ConnectionID picks one connection (empty: all of them).
type SyncSelector struct {
	// ProviderConfigKey is the integration's key. Required.
	ProviderConfigKey string
	ConnectionID      string
	Syncs             []string
}

func (s SyncSelector) body() map[string]any {
	b := map[string]any{"syncs": s.syncs(), "provider_config_key": s.ProviderConfigKey}
	if s.ConnectionID != "" {
		b["connection_id"] = s.ConnectionID
	}
	return b
}

func (s SyncSelector) syncs() []string {
	if s.Syncs == nil {
		return []string{}
	}
	return s.Syncs
}

var errNoKey = errors.New("client: the selector needs a ProviderConfigKey")

// TriggerParams select the syncs to run now and how.
type TriggerParams struct {
	SyncSelector
	// Reset clears the syncs' checkpoints first, so that they start over.
	Reset bool
	// EmptyCache, with Reset, also removes the syncs' records first; they come back as added.
	EmptyCache bool
}

// Trigger runs the selected syncs now, ahead of their schedule (POST /sync/trigger). A sync
// that is already running gives an *Error with code "sync_already_running"; the others were
// triggered all the same.
func (c *Client) Trigger(ctx context.Context, p TriggerParams) error {
	if p.ProviderConfigKey == "" {
		return errNoKey
	}
	b := p.body()
	if p.Reset || p.EmptyCache {
		b["opts"] = map[string]bool{"reset": p.Reset, "emptyCache": p.EmptyCache}
	}
	return c.do(ctx, http.MethodPost, "/sync/trigger", nil, nil, b, nil)
}

// Start schedules the selected syncs again and runs them now (POST /sync/start).
func (c *Client) Start(ctx context.Context, s SyncSelector) error {
	if s.ProviderConfigKey == "" {
		return errNoKey
	}
	return c.do(ctx, http.MethodPost, "/sync/start", nil, nil, s.body(), nil)
}

// Pause stops scheduling the selected syncs (POST /sync/pause); a run in progress finishes.
func (c *Client) Pause(ctx context.Context, s SyncSelector) error {
	if s.ProviderConfigKey == "" {
		return errNoKey
	}
	return c.do(ctx, http.MethodPost, "/sync/pause", nil, nil, s.body(), nil)
}

// ModelResult counts what a run did to one model.
type ModelResult struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}

// SyncStatus is the state of one sync for one connection, as GET /sync/status reports it.
type SyncStatus struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connection_id"`
	Name         string `json:"name"`
	Variant      string `json:"variant"`
	// Status is RUNNING, PAUSED, STOPPED, SUCCESS or ERROR.
	Status string `json:"status"`
	// Type is INITIAL or INCREMENTAL (deprecated by Nango).
	Type string `json:"type"`
	// FinishedAt is when the latest run ended; zero before the first.
	FinishedAt time.Time `json:"finishedAt"`
	// NextScheduledSyncAt is zero while paused or not scheduled.
	NextScheduledSyncAt time.Time `json:"nextScheduledSyncAt"`
	Frequency           string    `json:"frequency"`
	// LatestResult counts the latest run's changes per model.
	LatestResult map[string]ModelResult `json:"latestResult"`
	// LatestExecutionStatus is the latest run's state: RUNNING, SUCCESS or STOPPED (failed).
	LatestExecutionStatus string `json:"latestExecutionStatus"`
	// RecordCount counts the live records per model.
	RecordCount map[string]int `json:"recordCount"`
	// Checkpoint is the sync's checkpoint for the connection; JSON null when it has none.
	Checkpoint json.RawMessage `json:"checkpoint"`
}

// Status reports the selected syncs (GET /sync/status); empty Syncs selects all of them.
func (c *Client) Status(ctx context.Context, s SyncSelector) ([]SyncStatus, error) {
	if s.ProviderConfigKey == "" {
		return nil, errNoKey
	}
	syncs := "*"
	if len(s.Syncs) > 0 {
		syncs = strings.Join(s.Syncs, ",")
	}
	q := url.Values{"syncs": {syncs}, "provider_config_key": {s.ProviderConfigKey}}
	if s.ConnectionID != "" {
		q.Set("connection_id", s.ConnectionID)
	}
	var answer struct {
		Syncs []SyncStatus `json:"syncs"`
	}
	if err := c.do(ctx, http.MethodGet, "/sync/status", q, nil, nil, &answer); err != nil {
		return nil, err
	}
	return answer.Syncs, nil
}

// UpdateFrequencyParams change a sync's frequency for one connection.
type UpdateFrequencyParams struct {
	ProviderConfigKey string
	ConnectionID      string
	Sync              string
	// Frequency is written as Nango writes them ("every hour", "every 30 minutes", "1h");
	// empty reverts to the sync's own frequency.
	Frequency string
}

// UpdateFrequency overrides a sync's frequency for one connection, or reverts it (PUT
// /sync/update-connection-frequency), and returns the frequency now in force.
func (c *Client) UpdateFrequency(ctx context.Context, p UpdateFrequencyParams) (string, error) {
	if p.ProviderConfigKey == "" || p.ConnectionID == "" || p.Sync == "" {
		return "", errors.New("client: UpdateFrequency needs ProviderConfigKey, ConnectionID and Sync")
	}
	var freq *string
	if p.Frequency != "" {
		freq = &p.Frequency
	}
	b := map[string]any{"sync_name": p.Sync, "provider_config_key": p.ProviderConfigKey, "connection_id": p.ConnectionID, "frequency": freq}
	var answer struct {
		Frequency string `json:"frequency"`
	}
	if err := c.do(ctx, http.MethodPut, "/sync/update-connection-frequency", nil, nil, b, &answer); err != nil {
		return "", err
	}
	return answer.Frequency, nil
}
