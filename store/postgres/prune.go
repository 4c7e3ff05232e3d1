package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
)

// The statements of RecordsPrune: the candidates are read from the change feed's index after
// the stream's prune mark, then emptied by (stream, seq), one index probe each.
const (
	sqlPruneMark       = `SELECT prune_mark FROM {s}.streams WHERE id = $1`
	sqlPruneCandidates = `SELECT r.seq FROM {s}.records r WHERE r.stream_id = $1 AND r.seq > $2 AND r.seq <= $3
		AND r.last_modified < $4 AND r.pruned_at IS NULL ORDER BY r.seq LIMIT $5`
	sqlPruneApply = `UPDATE {s}.records SET data = '\x'::bytea, pruned_at = $3
		WHERE stream_id = $1 AND seq = ANY($2::bigint[]) AND pruned_at IS NULL`
	sqlPruneSetMark = `UPDATE {s}.streams SET prune_mark = $2 WHERE id = $1`
)

// RecordsPrune implements store.Store. The stream's row is locked, as for a write, for one
// short transaction of at most params.Limit records.
func (s *Store) RecordsPrune(ctx context.Context, p *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	q, err := store.PreparePrune(p)
	if err != nil {
		return nil, err
	}
	until := int64(math.MaxInt64)
	if q.Until != 0 {
		until = int64(min(q.Until, math.MaxInt64))
	}
	before := any("infinity")
	if !q.Before.IsZero() {
		before = q.Before
	}
	res := &store.RecordsPruneResult{}
	err = s.run(ctx, "records prune", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		*res = store.RecordsPruneResult{}
		row, err := s.lockStream(ctx, tx, q.Stream, false)
		if err != nil || row == nil {
			return err
		}
		if q.Stale(row.epoch) {
			return store.ErrCursorStale
		}
		var mark int64
		if err := tx.QueryRow(ctx, s.q(sqlPruneMark), row.id).Scan(&mark); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, s.q(sqlPruneCandidates), row.id, mark, until, before, q.Limit+1)
		if err != nil {
			return err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(seqs) > q.Limit {
			seqs, res.HasMore = seqs[:q.Limit], true
		}
		if len(seqs) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, s.q(sqlPruneApply), row.id, seqs, q.Now)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(seqs) {
			return fmt.Errorf("postgres: pruned %d of %d records of %s", tag.RowsAffected(), len(seqs), q.Stream)
		}
		res.Count = len(seqs)
		_, err = tx.Exec(ctx, s.q(sqlPruneSetMark), row.id, seqs[len(seqs)-1])
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RunsPrune implements store.Store. It reads the sync key's runs newest first (the runs_key
// index) and deletes the chosen ones by id.
func (s *Store) RunsPrune(ctx context.Context, p *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	q, err := store.PrepareRunsPrune(p)
	if err != nil {
		return nil, err
	}
	res := &store.RunsPruneResult{}
	err = s.run(ctx, "runs prune", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		*res = store.RunsPruneResult{}
		k := q.Key
		rows, err := tx.Query(ctx, s.q(`SELECT data FROM {s}.runs WHERE integration = $1 AND sync = $2 AND connection = $3
			ORDER BY ord DESC`), k.Integration, k.Sync, k.Connection)
		if err != nil {
			return err
		}
		walk := store.NewRunsPruneWalk(q)
		var ids []string
		for rows.Next() {
			var data []byte
			if err := rows.Scan(&data); err != nil {
				rows.Close()
				return err
			}
			r, err := decodeRun(data)
			if err != nil {
				rows.Close()
				return err
			}
			if !walk.Prunes(r) {
				continue
			}
			if res.Count == q.Limit {
				res.HasMore = true
				break
			}
			ids = append(ids, r.ID)
			res.Count++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, s.q(`DELETE FROM {s}.runs WHERE id = ANY($1::text[])`), ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
