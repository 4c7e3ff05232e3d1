package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Outbox entries are kept as JSON, with the columns the queries select on beside it.

func decodeEntry(data []byte) (*store.OutboxEntry, error) {
	var e store.OutboxEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("postgres: decoding an outbox entry: %w", err)
	}
	return &e, nil
}

// putEntry inserts (insert) or replaces an entry.
func (s *Store) putEntry(ctx context.Context, tx pgx.Tx, e *store.OutboxEntry, insert bool) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	next := pgtype.Timestamptz{}
	if e.State == store.OutboxPending {
		next = ts(e.NextAttemptAt)
	}
	args := []any{e.ID, string(e.State), e.RunID, next, ts(e.DeliveredAt), ts(e.LastAttemptAt), data, e.Endpoint}
	if insert {
		tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.outbox (id, state, run_id, next_attempt_at, delivered_at, last_attempt_at, data, endpoint)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`), args...)
		if err == nil && tag.RowsAffected() == 0 {
			return &store.ParamError{Param: "outbox entry id", Reason: fmt.Sprintf("%q already exists", e.ID)}
		}
		return err
	}
	_, err = tx.Exec(ctx, s.q(`UPDATE {s}.outbox SET state = $2, run_id = $3, next_attempt_at = $4, delivered_at = $5,
		last_attempt_at = $6, data = $7, endpoint = $8 WHERE id = $1`), args...)
	return err
}

// lockEntry reads an entry for update, or returns store.ErrNotFound.
func (s *Store) lockEntry(ctx context.Context, tx pgx.Tx, id string) (*store.OutboxEntry, error) {
	var data []byte
	err := tx.QueryRow(ctx, s.q(`SELECT data FROM {s}.outbox WHERE id = $1 FOR UPDATE`), id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) || invalidText(err) {
		return nil, fmt.Errorf("outbox entry %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeEntry(data)
}

// RunFinish implements store.Store.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	entries, err := store.PrepareRunFinish(p)
	if err != nil {
		return err
	}
	return s.run(ctx, "run finish", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.updateRun(ctx, tx, p.Run); err != nil {
			return err
		}
		for _, e := range entries {
			if err := s.putEntry(ctx, tx, e, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxClaim implements store.Store. Entries locked by another claim in progress are skipped,
// so that several replicas claim different entries at once.
func (s *Store) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	limit, now, err := store.PrepareOutboxClaim(p)
	if err != nil {
		return nil, err
	}
	var out []*store.OutboxEntry
	err = s.run(ctx, "outbox claim", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		out = []*store.OutboxEntry{}
		sql := `SELECT data FROM {s}.outbox WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`
		args := []any{now, limit}
		if len(p.SkipEndpoints) > 0 {
			// Among the first MaxClaimScan due entries only.
			sql = `SELECT o.data FROM {s}.outbox o WHERE o.id IN (SELECT id FROM {s}.outbox
					WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3)
				AND o.state = 'pending' AND o.next_attempt_at <= $1 AND NOT (o.endpoint = ANY($4))
				ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`
			args = append(args, store.MaxClaimScan, p.SkipEndpoints)
		}
		rows, err := tx.Query(ctx, s.q(sql), args...)
		if err != nil {
			return err
		}
		datas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, data := range datas {
			e, err := decodeEntry(data)
			if err != nil {
				return err
			}
			store.ApplyClaim(e, p, now)
			if err := s.putEntry(ctx, tx, e, false); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxSettle implements store.Store.
func (s *Store) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	if err := store.ValidateOutboxSettle(p); err != nil {
		return nil, err
	}
	var out *store.OutboxEntry
	err := s.run(ctx, "outbox settle", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		e, err := s.lockEntry(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if err := store.ApplySettle(e, p); err != nil {
			return err
		}
		out = e
		return s.putEntry(ctx, tx, e, false)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxRequeue implements store.Store.
func (s *Store) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	var out *store.OutboxEntry
	err := s.run(ctx, "outbox requeue", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		e, err := s.lockEntry(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		store.ApplyRequeue(e, p.Now)
		out = e
		return s.putEntry(ctx, tx, e, false)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxGet implements store.Store.
func (s *Store) OutboxGet(ctx context.Context, id string) (*store.OutboxEntry, error) {
	var out *store.OutboxEntry
	err := s.read(ctx, "outbox get", func(ctx context.Context, db dbtx) error {
		var data []byte
		err := db.QueryRow(ctx, s.q(`SELECT data FROM {s}.outbox WHERE id = $1`), id).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) || invalidText(err) {
			return fmt.Errorf("outbox entry %q: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		out, err = decodeEntry(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxList implements store.Store.
func (s *Store) OutboxList(ctx context.Context, p *store.OutboxListParams) ([]*store.OutboxEntry, error) {
	limit, err := store.PrepareOutboxList(p)
	if err != nil {
		return nil, err
	}
	out := []*store.OutboxEntry{}
	err = s.read(ctx, "outbox list", func(ctx context.Context, db dbtx) error {
		out = out[:0]
		rows, err := db.Query(ctx, s.q(`SELECT data FROM {s}.outbox WHERE id > $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR run_id = $3)
			ORDER BY id LIMIT $4`), p.After, string(p.State), p.RunID, limit)
		if err != nil {
			return err
		}
		datas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, data := range datas {
			e, err := decodeEntry(data)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (*store.OutboxStats, error) {
	out := &store.OutboxStats{}
	err := s.read(ctx, "outbox stats", func(ctx context.Context, db dbtx) error {
		var next pgtype.Timestamptz
		var pending, delivered, dead int64
		err := db.QueryRow(ctx, s.q(`SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'delivered'),
			count(*) FILTER (WHERE state = 'dead'), min(next_attempt_at) FILTER (WHERE state = 'pending') FROM {s}.outbox`)).
			Scan(&pending, &delivered, &dead, &next)
		*out = store.OutboxStats{Pending: int(pending), Delivered: int(delivered), Dead: int(dead), NextAttemptAt: utc(next)}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxPrune implements store.Store.
func (s *Store) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	limit, err := store.PrepareOutboxPrune(p)
	if err != nil {
		return 0, err
	}
	// Ranks are newest first within each state, as store.OutboxPruneParams.Plan ranks them.
	n := 0
	err = s.run(ctx, "outbox prune", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		// The state is checked again on the row deleted: an entry requeued (RedeliverWebhook)
		// after the ranking read it stays.
		tag, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.outbox o WHERE o.state IN ('delivered', 'dead') AND o.id IN (
			SELECT id FROM (
				SELECT id, state, at, row_number() OVER (PARTITION BY state ORDER BY at DESC, id DESC) AS rank
				FROM (SELECT id, state, CASE state WHEN 'delivered' THEN delivered_at ELSE last_attempt_at END AS at
					FROM {s}.outbox WHERE state IN ('delivered', 'dead')) f
			) r
			WHERE (state = 'delivered' AND (($1::timestamptz IS NOT NULL AND at < $1) OR ($3::bigint > 0 AND rank > $3)))
			   OR (state = 'dead' AND (($2::timestamptz IS NOT NULL AND at < $2) OR ($4::bigint > 0 AND rank > $4)))
			ORDER BY at, id LIMIT $5)`),
			ts(p.DeliveredBefore), ts(p.DeadBefore), p.KeepDelivered, p.KeepDead, limit)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, key store.ConsumerKey) (*store.ConsumerCursor, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.ConsumerCursor
	err := s.read(ctx, "consumer cursor get", func(ctx context.Context, db dbtx) error {
		var cur string
		var at pgtype.Timestamptz
		st := key.Stream
		err := db.QueryRow(ctx, s.q(`SELECT cursor, updated_at FROM {s}.consumers WHERE consumer = $1 AND integration = $2 AND connection = $3 AND model = $4`),
			key.Consumer, st.Integration, st.Connection, st.Model).Scan(&cur, &at)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cursor of consumer %q in %s: %w", key.Consumer, key.Stream, store.ErrNotFound)
		}
		out = &store.ConsumerCursor{Key: key, Cursor: cur, UpdatedAt: utc(at)}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return nil, err
	}
	k, st := p.Key, p.Key.Stream
	now := store.Clock(p.Now)
	var out *store.ConsumerCursor
	err := s.run(ctx, "consumer cursor put", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		var sql string
		if p.Expected == "" {
			sql = `INSERT INTO {s}.consumers (consumer, integration, connection, model, cursor, updated_at) SELECT $1, $2, $3, $4, $5, $7
				WHERE $6::text = '' ON CONFLICT DO NOTHING`
		} else {
			sql = `UPDATE {s}.consumers SET cursor = $5, updated_at = $7
				WHERE consumer = $1 AND integration = $2 AND connection = $3 AND model = $4 AND cursor = $6`
		}
		tag, err := tx.Exec(ctx, s.q(sql), k.Consumer, st.Integration, st.Connection, st.Model, p.Cursor, p.Expected, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var cur string
			err := tx.QueryRow(ctx, s.q(`SELECT cursor FROM {s}.consumers WHERE consumer = $1 AND integration = $2 AND connection = $3 AND model = $4`),
				k.Consumer, st.Integration, st.Connection, st.Model).Scan(&cur)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return store.ConsumerConflictError(k, cur, p.Expected)
		}
		out = &store.ConsumerCursor{Key: k, Cursor: p.Cursor, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return nil, err
	}
	out := []*store.ConsumerCursor{}
	err := s.read(ctx, "consumer cursor list", func(ctx context.Context, db dbtx) error {
		out = out[:0]
		rows, err := db.Query(ctx, s.q(`SELECT integration, connection, model, cursor, updated_at FROM {s}.consumers WHERE consumer = $1
			ORDER BY integration, connection, model`), consumer)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := &store.ConsumerCursor{Key: store.ConsumerKey{Consumer: consumer}}
			var at pgtype.Timestamptz
			if err := rows.Scan(&c.Key.Stream.Integration, &c.Key.Stream.Connection, &c.Key.Stream.Model, &c.Cursor, &at); err != nil {
				return err
			}
			c.UpdatedAt = utc(at)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return err
	}
	return s.run(ctx, "consumer delete", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.consumers WHERE consumer = $1`), consumer)
		return err
	})
}
