package nango

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
)

// GetCheckpoint decodes the sync's checkpoint for this connection into v and reports whether
// there was one. It is false on an initial run and after a reset.
func (n *Nango) GetCheckpoint(ctx context.Context, v any) (bool, error) {
	if err := n.usable(); err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	cp, err := n.engine.store.CheckpointGet(ctx, store.CheckpointKey(n.run.Key))
	if errors.Is(err, store.ErrNotFound) {
		n.cpVersion = 0
		return false, nil
	}
	if err != nil {
		return false, within(err, "loading checkpoint")
	}
	data, err := n.engine.openCheckpoint(ctx, store.CheckpointKey(n.run.Key), cp.Data)
	if err != nil {
		return false, fmt.Errorf("nango: loading checkpoint: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("nango: decoding checkpoint into %T: %w", v, err)
	}
	n.cpVersion = cp.Version
	return true, nil
}

// checkCheckpointVersion fails with ErrCheckpointConflict when the stored checkpoint is not at
// the version the run last saw. Callers hold n.mu.
func (n *Nango) checkCheckpointVersion(ctx context.Context) error {
	var cur int64
	cp, err := n.engine.store.CheckpointGet(ctx, store.CheckpointKey(n.run.Key))
	switch {
	case err == nil:
		cur = cp.Version
	case !errors.Is(err, store.ErrNotFound):
		return within(err, "loading checkpoint")
	}
	if cur != n.cpVersion {
		return fmt.Errorf("nango: saving checkpoint: %w (it is at version %d, the run saw %d)", ErrCheckpointConflict, cur, n.cpVersion)
	}
	return nil
}

// SaveCheckpoint stores v (any JSON-encodable value) as the sync's checkpoint for this
// connection. Prefer BatchSave with WithCheckpoint, which commits the checkpoint with the
// records it covers. It fails with ErrCheckpointConflict when the checkpoint was changed since
// this run read it (a reset, or another writer).
func (n *Nango) SaveCheckpoint(ctx context.Context, v any) error {
	if err := n.usable(); err != nil {
		return err
	}
	data, err := encodeCheckpoint(v)
	if err != nil {
		return err
	}
	if data, err = n.sealCheckpoint(ctx, data); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err
	}
	cp, err := n.engine.store.CheckpointPut(ctx, &store.CheckpointPutParams{
		Key: store.CheckpointKey(n.run.Key), Data: data, ExpectedVersion: n.cpVersion, Now: n.engine.now(), Fence: n.lease,
	})
	if err != nil {
		return within(err, "saving checkpoint")
	}
	n.cpVersion = cp.Version
	return nil
}

// ClearCheckpoint removes the sync's checkpoint for this connection, as a full sync does at its
// end so that the next run starts from the beginning.
func (n *Nango) ClearCheckpoint(ctx context.Context) error {
	if err := n.usable(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err
	}
	if n.cpVersion == 0 {
		return nil
	}
	err := n.engine.store.CheckpointDelete(ctx, &store.CheckpointDeleteParams{
		Key: store.CheckpointKey(n.run.Key), ExpectedVersion: n.cpVersion, Fence: n.lease,
	})
	if err != nil {
		return within(err, "clearing checkpoint")
	}
	n.cpVersion = 0
	return nil
}

func encodeCheckpoint(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("nango: checkpoint %T does not encode as JSON: %w", v, err)
	}
	if string(data) == "null" {
		return nil, fmt.Errorf("nango: checkpoint is null; use ClearCheckpoint to remove it")
	}
	return data, nil
}

// GetCheckpoint decodes the checkpoint of a sync for a connection into v and reports whether
// there is one, for status pages and tools. Syncs use Nango.GetCheckpoint.
func (e *Engine) GetCheckpoint(ctx context.Context, integration, syncName, connection string, v any) (bool, error) {
	if _, _, err := e.syncConfig(integration, syncName); err != nil {
		return false, err
	}
	key := store.CheckpointKey{Integration: integration, Sync: syncName, Connection: connection}
	cp, err := e.store.CheckpointGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, within(err, "loading checkpoint of %s for %q", syncName, connection)
	}
	data, err := e.openCheckpoint(ctx, key, cp.Data)
	if err != nil {
		return false, fmt.Errorf("nango: loading checkpoint of %s for %q: %w", syncName, connection, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("nango: decoding checkpoint into %T: %w", v, err)
	}
	return true, nil
}
