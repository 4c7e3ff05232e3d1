package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
)

// LeaseAcquire implements store.Store. Tokens come from the lease's row, which is kept when
// the lease is released or its connection deleted, so they keep growing. The lease calls are
// single statements outside a transaction block; each may run twice after a lost answer with
// the same outcome (an owner takes its own lease again with a new token).
func (s *Store) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	expires, err := store.PrepareLease(p)
	if err != nil {
		return nil, err
	}
	now := store.Clock(p.Now)
	k := p.Key
	var out *store.Lease
	err = s.writeOne(ctx, "lease acquire", func(ctx context.Context, db dbtx) error {
		var token int64
		err := db.QueryRow(ctx, s.q(`INSERT INTO {s}.leases AS l (integration, sync, connection, owner, token, expires_at, active)
			VALUES ($1, $2, $3, $4, 1, $5, true)
			ON CONFLICT (integration, sync, connection) DO UPDATE SET owner = $4, token = l.token + 1, expires_at = $5, active = true
				WHERE NOT l.active OR l.owner = $4 OR l.expires_at <= $6
			RETURNING token`), k.Integration, k.Sync, k.Connection, p.Owner, expires, now).Scan(&token)
		if errors.Is(err, pgx.ErrNoRows) {
			var owner string
			var until time.Time
			if err := db.QueryRow(ctx, s.q(`SELECT owner, expires_at FROM {s}.leases WHERE integration = $1 AND sync = $2 AND connection = $3`),
				k.Integration, k.Sync, k.Connection).Scan(&owner, &until); err != nil {
				return err
			}
			return store.LeaseHeldError(k, owner, until.UTC())
		}
		if err != nil {
			return err
		}
		out = &store.Lease{Key: k, Owner: p.Owner, Token: uint64(token), ExpiresAt: expires}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LeaseRenew implements store.Store.
func (s *Store) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	expires, err := store.PrepareLeaseRenew(p)
	if err != nil {
		return nil, err
	}
	l := p.Lease
	var out *store.Lease
	err = s.writeOne(ctx, "lease renew", func(ctx context.Context, db dbtx) error {
		var owner string
		err := db.QueryRow(ctx, s.q(`UPDATE {s}.leases SET expires_at = $5
			WHERE integration = $1 AND sync = $2 AND connection = $3 AND token = $4 AND active RETURNING owner`),
			l.Key.Integration, l.Key.Sync, l.Key.Connection, int64(l.Token), expires).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.LeaseLostError(l)
		}
		if err != nil {
			return err
		}
		out = &store.Lease{Key: l.Key, Owner: owner, Token: l.Token, ExpiresAt: expires}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LeaseRelease implements store.Store.
func (s *Store) LeaseRelease(ctx context.Context, l *store.Lease) error {
	if l == nil {
		return &store.ParamError{Param: "lease", Reason: "nil"}
	}
	return s.writeOne(ctx, "lease release", func(ctx context.Context, db dbtx) error {
		_, err := db.Exec(ctx, s.q(`UPDATE {s}.leases SET active = false
			WHERE integration = $1 AND sync = $2 AND connection = $3 AND token = $4 AND active`),
			l.Key.Integration, l.Key.Sync, l.Key.Connection, int64(l.Token))
		if invalidText(err) {
			return nil // no lease has such a key
		}
		return err
	})
}

// SchedulePut implements store.Store.
func (s *Store) SchedulePut(ctx context.Context, sched *store.Schedule) error {
	if err := store.ValidateSchedule(sched); err != nil {
		return err
	}
	data, err := json.Marshal(sched)
	if err != nil {
		return err
	}
	k := sched.Key
	return s.run(ctx, "schedule put", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.schedules (integration, sync, connection, next_run_at, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (integration, sync, connection) DO UPDATE SET next_run_at = EXCLUDED.next_run_at, data = EXCLUDED.data`),
			k.Integration, k.Sync, k.Connection, ts(sched.NextRunAt), data)
		return err
	})
}

// ScheduleUpdate implements store.Store.
func (s *Store) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.Schedule
	err := s.run(ctx, "schedule update", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, s.q(`SELECT data FROM {s}.schedules WHERE integration = $1 AND sync = $2 AND connection = $3 FOR UPDATE`),
			key.Integration, key.Sync, key.Connection).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) || invalidText(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		sc, err := decodeSchedule(data)
		if err != nil {
			return err
		}
		if err := store.ApplyScheduleUpdate(sc, update); err != nil {
			return err
		}
		if data, err = json.Marshal(sc); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.schedules SET next_run_at = $4, data = $5 WHERE integration = $1 AND sync = $2 AND connection = $3`),
			key.Integration, key.Sync, key.Connection, ts(sc.NextRunAt), data); err != nil {
			return err
		}
		out = sc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeSchedule(data []byte) (*store.Schedule, error) {
	var sc store.Schedule
	if err := json.Unmarshal(data, &sc); err != nil {
		return nil, fmt.Errorf("postgres: decoding a schedule: %w", err)
	}
	return &sc, nil
}

// ScheduleGet implements store.Store.
func (s *Store) ScheduleGet(ctx context.Context, key store.SyncKey) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.Schedule
	err := s.read(ctx, "schedule get", func(ctx context.Context, db dbtx) error {
		var data []byte
		err := db.QueryRow(ctx, s.q(`SELECT data FROM {s}.schedules WHERE integration = $1 AND sync = $2 AND connection = $3`),
			key.Integration, key.Sync, key.Connection).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = decodeSchedule(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScheduleList implements store.Store.
func (s *Store) ScheduleList(ctx context.Context, integration string) ([]*store.Schedule, error) {
	out := []*store.Schedule{}
	err := s.read(ctx, "schedule list", func(ctx context.Context, db dbtx) error {
		got, err := queryJSON(ctx, db, decodeSchedule, s.q(`SELECT data FROM {s}.schedules WHERE $1 = '' OR integration = $1
			ORDER BY integration, sync, connection`), integration)
		out = append(out[:0], got...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
