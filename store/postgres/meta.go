package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// sqlFence reads the fence's lease, if it is still the current one, and keeps it so until the
// transaction ends.
const sqlFence = `SELECT 1 FROM {s}.leases WHERE integration = $1 AND sync = $2 AND connection = $3
	AND token = $4 AND active FOR SHARE`

// checkFence fails with store.ErrLeaseLost unless the fence (if any) is its key's current,
// active lease. It locks the lease's row in share mode, so that no acquisition can take the
// lease over before the transaction ends.
func (s *Store) checkFence(ctx context.Context, tx pgx.Tx, f *store.Lease) error {
	if f == nil {
		return nil
	}
	var one int
	err := tx.QueryRow(ctx, s.q(sqlFence), f.Key.Integration, f.Key.Sync, f.Key.Connection, int64(f.Token)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LeaseLostError(f)
	}
	return err
}

// putCheckpoint writes a checkpoint if its version is still the expected one.
func (s *Store) putCheckpoint(ctx context.Context, tx pgx.Tx, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	k := p.Key
	now := store.Clock(p.Now)
	sql := `UPDATE {s}.checkpoints SET data = $4, version = version + 1, updated_at = $6
		WHERE integration = $1 AND sync = $2 AND connection = $3 AND version = $5`
	if p.ExpectedVersion == 0 {
		sql = `INSERT INTO {s}.checkpoints (integration, sync, connection, data, version, updated_at)
			SELECT $1, $2, $3, $4, $5::bigint + 1, $6 ON CONFLICT DO NOTHING`
	}
	tag, err := tx.Exec(ctx, s.q(sql), k.Integration, k.Sync, k.Connection, p.Data, p.ExpectedVersion, now)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, s.versionConflict(ctx, tx, k, p.ExpectedVersion)
	}
	return &store.Checkpoint{Data: slices.Clone(p.Data), Version: p.ExpectedVersion + 1, UpdatedAt: now}, nil
}

func (s *Store) versionConflict(ctx context.Context, tx pgx.Tx, k store.CheckpointKey, expected int64) error {
	var cur int64
	err := tx.QueryRow(ctx, s.q(`SELECT version FROM {s}.checkpoints WHERE integration = $1 AND sync = $2 AND connection = $3`),
		k.Integration, k.Sync, k.Connection).Scan(&cur)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return fmt.Errorf("%w (checkpoint %s/%s/%s is at version %d, expected %d)",
		store.ErrVersionConflict, k.Integration, k.Sync, k.Connection, cur, expected)
}

// CheckpointGet implements store.Store.
func (s *Store) CheckpointGet(ctx context.Context, key store.CheckpointKey) (*store.Checkpoint, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.Checkpoint
	err := s.read(ctx, "checkpoint get", func(ctx context.Context, db dbtx) error {
		var cp store.Checkpoint
		var at pgtype.Timestamptz
		err := db.QueryRow(ctx, s.q(`SELECT data, version, updated_at FROM {s}.checkpoints WHERE integration = $1 AND sync = $2 AND connection = $3`),
			key.Integration, key.Sync, key.Connection).Scan(&cp.Data, &cp.Version, &at)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		cp.UpdatedAt = utc(at)
		out = &cp
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CheckpointPut implements store.Store.
func (s *Store) CheckpointPut(ctx context.Context, p *store.CheckpointPutParams) (*store.Checkpoint, error) {
	if err := store.PrepareCheckpoint(p); err != nil {
		return nil, err
	}
	var out *store.Checkpoint
	err := s.run(ctx, "checkpoint put", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.checkFence(ctx, tx, p.Fence); err != nil {
			return err
		}
		cp, err := s.putCheckpoint(ctx, tx, p)
		out = cp
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CheckpointDelete implements store.Store.
func (s *Store) CheckpointDelete(ctx context.Context, p *store.CheckpointDeleteParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return err
	}
	k := p.Key
	return s.run(ctx, "checkpoint delete", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.checkFence(ctx, tx, p.Fence); err != nil {
			return err
		}
		sql := `DELETE FROM {s}.checkpoints WHERE integration = $1 AND sync = $2 AND connection = $3 AND (version = $4 OR $4 = -1)`
		tag, err := tx.Exec(ctx, s.q(sql), k.Integration, k.Sync, k.Connection, p.ExpectedVersion)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 && p.ExpectedVersion != store.AnyVersion && p.ExpectedVersion != 0 {
			return s.versionConflict(ctx, tx, k, p.ExpectedVersion)
		}
		if tag.RowsAffected() == 0 && p.ExpectedVersion == 0 {
			// Deleting an absent checkpoint expecting it absent is fine; a present one is not.
			var one int
			err := tx.QueryRow(ctx, s.q(`SELECT 1 FROM {s}.checkpoints WHERE integration = $1 AND sync = $2 AND connection = $3`),
				k.Integration, k.Sync, k.Connection).Scan(&one)
			if err == nil {
				return s.versionConflict(ctx, tx, k, p.ExpectedVersion)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		return nil
	})
}

// RunInsert implements store.Store.
func (s *Store) RunInsert(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	data, err := json.Marshal(run)
	if err != nil {
		return err
	}
	return s.run(ctx, "run insert", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.runs (id, integration, sync, connection, state, data) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO NOTHING`), run.ID, run.Key.Integration, run.Key.Sync, run.Key.Connection, string(run.State), data)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &store.ParamError{Param: "run id", Reason: fmt.Sprintf("%q already exists", run.ID)}
		}
		return nil
	})
}

// updateRun replaces a run by id, keeping its key.
func (s *Store) updateRun(ctx context.Context, tx pgx.Tx, run *store.Run) error {
	data, err := json.Marshal(run)
	if err != nil {
		return err
	}
	var integration, sync, conn string
	err = tx.QueryRow(ctx, s.q(`SELECT integration, sync, connection FROM {s}.runs WHERE id = $1 FOR UPDATE`), run.ID).Scan(&integration, &sync, &conn)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("run %q: %w", run.ID, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if (store.SyncKey{Integration: integration, Sync: sync, Connection: conn}) != run.Key {
		return &store.ParamError{Param: "run key", Reason: "a run cannot move to another sync or connection"}
	}
	_, err = tx.Exec(ctx, s.q(`UPDATE {s}.runs SET state = $2, data = $3 WHERE id = $1`), run.ID, string(run.State), data)
	return err
}

// RunUpdate implements store.Store.
func (s *Store) RunUpdate(ctx context.Context, run *store.Run) error {
	if err := store.ValidateRun(run); err != nil {
		return err
	}
	return s.run(ctx, "run update", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		return s.updateRun(ctx, tx, run)
	})
}

func decodeRun(data []byte) (*store.Run, error) {
	var r store.Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("postgres: decoding a run: %w", err)
	}
	return &r, nil
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, id string) (*store.Run, error) {
	var out *store.Run
	err := s.read(ctx, "run get", func(ctx context.Context, db dbtx) error {
		var data []byte
		err := db.QueryRow(ctx, s.q(`SELECT data FROM {s}.runs WHERE id = $1`), id).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("run %q: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		out, err = decodeRun(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	limit, err := store.PrepareRunList(p)
	if err != nil {
		return nil, err
	}
	k := p.Key
	out := []*store.Run{}
	err = s.read(ctx, "run list", func(ctx context.Context, db dbtx) error {
		out = out[:0]
		before := int64(-1)
		if p.Before != "" {
			err := db.QueryRow(ctx, s.q(`SELECT ord FROM {s}.runs WHERE id = $1 AND integration = $2 AND sync = $3 AND connection = $4`),
				p.Before, k.Integration, k.Sync, k.Connection).Scan(&before)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("run %q of %s: %w", p.Before, k.Sync, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		got, err := queryJSON(ctx, db, decodeRun, s.q(`SELECT data FROM {s}.runs WHERE integration = $1 AND sync = $2 AND connection = $3
			AND ($4 < 0 OR ord < $4) ORDER BY ord DESC LIMIT $5`), k.Integration, k.Sync, k.Connection, before, limit)
		out = append(out, got...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RunLastSuccess implements store.Store.
func (s *Store) RunLastSuccess(ctx context.Context, key store.SyncKey) (*store.Run, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.Run
	err := s.read(ctx, "run last success", func(ctx context.Context, db dbtx) error {
		var data []byte
		err := db.QueryRow(ctx, s.q(`SELECT data FROM {s}.runs WHERE integration = $1 AND sync = $2 AND connection = $3 AND state = $4
			ORDER BY ord DESC LIMIT 1`), key.Integration, key.Sync, key.Connection, string(store.RunSucceeded)).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = decodeRun(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConnectionPut implements store.Store.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.run(ctx, "connection put", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.connections (integration, id, data) VALUES ($1, $2, $3)
			ON CONFLICT (integration, id) DO UPDATE SET data = EXCLUDED.data`), c.Integration, c.ID, data)
		return err
	})
}

// ConnectionUpdate implements store.Store: the row is locked while update runs.
func (s *Store) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	var out *store.Connection
	err := s.run(ctx, "connection update", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, s.q(`SELECT data FROM {s}.connections WHERE integration = $1 AND id = $2 FOR UPDATE`), integration, id).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) || invalidText(err) {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		c, err := decodeConn(data)
		if err != nil {
			return err
		}
		if err := store.ApplyConnectionUpdate(c, update); err != nil {
			return err
		}
		if data, err = json.Marshal(c); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.connections SET data = $3 WHERE integration = $1 AND id = $2`), integration, id, data); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeConn(data []byte) (*store.Connection, error) {
	var c store.Connection
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("postgres: decoding a connection: %w", err)
	}
	return &c, nil
}

// ConnectionGet implements store.Store.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	var out *store.Connection
	err := s.read(ctx, "connection get", func(ctx context.Context, db dbtx) error {
		var data []byte
		err := db.QueryRow(ctx, s.q(`SELECT data FROM {s}.connections WHERE integration = $1 AND id = $2`), integration, id).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) || invalidText(err) {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		out, err = decodeConn(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConnectionList implements store.Store.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	out := []*store.Connection{}
	err := s.read(ctx, "connection list", func(ctx context.Context, db dbtx) error {
		got, err := queryJSON(ctx, db, decodeConn, s.q(`SELECT data FROM {s}.connections WHERE $1 = '' OR integration = $1 ORDER BY integration, id`), integration)
		out = append(out[:0], got...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConnectionDelete implements store.Store.
func (s *Store) ConnectionDelete(ctx context.Context, integration, id string) error {
	return s.run(ctx, "connection delete", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		// Leases first, as writers take them (in share mode) before their stream.
		if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.leases SET active = false WHERE integration = $1 AND connection = $2`), integration, id); err != nil {
			if invalidText(err) { // no connection has such a name
				return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
			}
			return err
		}
		tag, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.connections WHERE integration = $1 AND id = $2`), integration, id)
		if err != nil && !invalidText(err) {
			return err
		}
		if err != nil || tag.RowsAffected() == 0 {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		rows, err := tx.Query(ctx, s.q(`SELECT id FROM {s}.streams WHERE integration = $1 AND connection = $2 ORDER BY id FOR UPDATE`), integration, id)
		if err != nil {
			return err
		}
		streams, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, sid := range streams {
			if err := s.emptyStream(ctx, tx, sid); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM {s}.checkpoints WHERE integration = $1 AND connection = $2`,
			`DELETE FROM {s}.schedules WHERE integration = $1 AND connection = $2`,
			`DELETE FROM {s}.consumers WHERE integration = $1 AND connection = $2`,
			`DELETE FROM {s}.runs WHERE integration = $1 AND connection = $2`,
		} {
			if _, err := tx.Exec(ctx, s.q(q), integration, id); err != nil {
				return err
			}
		}
		return nil
	})
}
