package nango

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonango/nango/store"
)

// Nango is the handle a sync's Exec receives: it is bound to one run of one sync for one
// connection. Its methods are safe for concurrent use by the goroutines of the run; it must not
// be kept after Exec returns (its methods then fail with ErrRunFinished).
type Nango struct {
	engine      *Engine
	integration *Integration
	sync        *SyncConfig
	conn        *store.Connection
	run         *store.Run
	logger      *slog.Logger
	logs        *runLog
	lastSuccess time.Time
	lease       *store.Lease // fences every write of the run
	finished    atomic.Bool

	mu        sync.Mutex // serialises the run's writes and guards the fields below
	cpVersion int64
	results   map[string]*ModelResult
	merging   map[string]*mergeSnapshot // per model, with MergeIgnoreIfModifiedAfter (merging.go)

	dkMu sync.Mutex // guards dk
	dk   *dataKey   // the connection's data key, once a write needed it

	cpFrom  json.RawMessage // the checkpoint when the run started
	handler Sync            // a webhook run's code instead of the sync's (providerhook.go)
}

// ConnectionID is the id of the connection the run syncs.
func (n *Nango) ConnectionID() string { return n.conn.ID }

// Integration is the key of the integration ("salesforce").
func (n *Nango) Integration() string { return n.integration.Key }

// BaseURL is the integration's provider API base URL.
func (n *Nango) BaseURL() string { return n.integration.BaseURL }

// SyncName is the name of the running sync.
func (n *Nango) SyncName() string { return n.sync.Name }

// RunID identifies this run in logs and in the run history.
func (n *Nango) RunID() string { return n.run.ID }

// IsInitialRun reports whether no earlier run of this sync succeeded for the connection.
func (n *Nango) IsInitialRun() bool { return n.run.Initial }

// LastSyncDate is the start time of the last successful run of this sync for the connection, or
// the zero time on the initial run. Starts, not ends: changes made while that run was going are
// not missed by a "modified since" query.
func (n *Nango) LastSyncDate() time.Time { return n.lastSuccess }

// Logger returns the run's logger: its lines carry the integration, sync, connection_id and
// run_id attributes and are kept in the run's history.
func (n *Nango) Logger() *slog.Logger { return n.logger }

// GetMetadata decodes the connection's metadata into v. It reports false when the connection
// has none.
func (n *Nango) GetMetadata(ctx context.Context, v any) (bool, error) {
	if err := n.usable(); err != nil {
		return false, err
	}
	c, err := n.engine.store.ConnectionGet(ctx, n.conn.Integration, n.conn.ID)
	if err != nil {
		return false, fmt.Errorf("nango: loading metadata of connection %q: %w", n.conn.ID, err)
	}
	if len(c.Metadata) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(c.Metadata, v); err != nil {
		return false, fmt.Errorf("nango: decoding metadata of connection %q: %w", n.conn.ID, err)
	}
	return true, nil
}

// GetRecords returns the stored records of a model of this sync with these ids, keyed by id.
func (n *Nango) GetRecords(ctx context.Context, ids []string, model string) (map[string]Record, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if _, err := n.model(model); err != nil {
		return nil, err
	}
	return n.engine.GetRecords(ctx, n.conn.Integration, n.conn.ID, model, ids)
}

func (n *Nango) usable() error {
	if n.finished.Load() {
		return ErrRunFinished
	}
	return nil
}

// finish makes the handle unusable; it waits for a write in progress to end.
func (n *Nango) finish() {
	n.mu.Lock()
	n.finished.Store(true)
	n.mu.Unlock()
}

func (n *Nango) stream(model string) store.Stream {
	return store.Stream{Integration: n.conn.Integration, Connection: n.conn.ID, Model: model}
}

// codec is the payload codec of the run's writes to model: nil without encryption keys, else
// one over the connection's data key (made on the run's first write if the connection has
// none).
func (n *Nango) codec(ctx context.Context, model string) (store.PayloadCodec, error) {
	dk, err := n.dataKey(ctx)
	if dk == nil || err != nil {
		return nil, err
	}
	return &recordCodec{dk: dk, stream: n.stream(model)}, nil
}

// dataKey is the connection's data key, looked up (or made) once per run; nil without
// encryption keys.
func (n *Nango) dataKey(ctx context.Context) (*dataKey, error) {
	if !n.engine.sealer.enabled() {
		return nil, nil
	}
	n.dkMu.Lock()
	defer n.dkMu.Unlock()
	if n.dk == nil {
		dk, err := n.engine.keys.dataKey(ctx, n.conn.Integration, n.conn.ID, true)
		if err != nil {
			return nil, err
		}
		n.dk = dk
	}
	return n.dk, nil
}

// sealCheckpoint encrypts a checkpoint of the run with the connection's data key, when the
// engine has keys.
func (n *Nango) sealCheckpoint(ctx context.Context, data []byte) ([]byte, error) {
	dk, err := n.dataKey(ctx)
	if dk == nil || err != nil {
		return data, err
	}
	return sealCheckpointWith(dk.s, store.CheckpointKey(n.run.Key), data)
}

func (n *Nango) model(name string) (Model, error) {
	m, ok := n.sync.model(name)
	if !ok {
		return Model{}, fmt.Errorf("%w %q: sync %q declares %v", ErrUnknownModel, name, n.sync.Name, n.sync.modelNames())
	}
	return m, nil
}

func (n *Nango) addResult(model string, r *store.RecordsWriteResult) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addResultLocked(model, r)
}

func (n *Nango) addResultLocked(model string, r *store.RecordsWriteResult) {
	mr := n.results[model]
	if mr == nil {
		mr = &ModelResult{}
		n.results[model] = mr
	}
	mr.Added += r.Added
	mr.Updated += r.Updated
	mr.Deleted += r.Deleted
	mr.Unchanged += r.Unchanged
	mr.Duplicates += r.Duplicates
	mr.Ignored += r.Ignored
	mr.Skipped += r.Skipped
}

func (n *Nango) modelResults() map[string]ModelResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]ModelResult, len(n.sync.Models))
	for _, m := range n.sync.Models {
		if r := n.results[m.Name]; r != nil {
			out[m.Name] = *r
		} else {
			out[m.Name] = ModelResult{}
		}
	}
	return out
}
