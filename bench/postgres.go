package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgURL is the database of -store postgres (-db).
var pgURL string

func init() {
	backends["postgres"] = backend{
		name:   "postgres",
		rawPut: "raw-copy",
		// The targets of the PostgreSQL store against its raw baselines.
		targets: map[string]float64{"initial-save": 0.7, "resave-10pct-changed": 1.0, "full-sync-trackdeletes": 0.7, "list-all": 0.7},
		note: "raw baselines: COPY into a plain table keyed by (connection, model, id), 1,000 rows a transaction; " +
			"keyset scan of it in pages of 1,000; same server, a fresh schema each",
		open: func(ctx context.Context, _ string) (store.Store, error) {
			pool, schema, err := pgSchema(ctx)
			if err != nil {
				return nil, err
			}
			st, err := postgres.New(ctx, pool, &postgres.Options{Schema: schema})
			if err != nil {
				dropSchema(pool, schema)
				return nil, err
			}
			return &pgStore{Store: st, pool: pool}, nil
		},
		openRaw: func(ctx context.Context, _ string) (rawDB, error) {
			pool, schema, err := pgSchema(ctx)
			if err != nil {
				return nil, err
			}
			r := &rawPG{pool: pool, schema: schema, table: pgx.Identifier{schema, "contacts"}}
			if _, err = pool.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err == nil {
				_, err = pool.Exec(ctx, `CREATE TABLE `+r.table.Sanitize()+` (connection text COLLATE "C" NOT NULL, model text COLLATE "C" NOT NULL,
					id text COLLATE "C" NOT NULL, data bytea NOT NULL, PRIMARY KEY (connection, model, id))`)
			}
			if err != nil {
				_ = r.close()
				return nil, err
			}
			return r, nil
		},
	}
}

// pgSchema connects to -db and names a fresh schema.
func pgSchema(ctx context.Context) (*pgxpool.Pool, string, error) {
	if pgURL == "" {
		return nil, "", errors.New("-store postgres needs -db postgres://... (or NANGO_TEST_POSTGRES_URL)")
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		return nil, "", fmt.Errorf("connecting to -db: %w", err)
	}
	return pool, fmt.Sprintf("nango_bench_%016x", rand.Uint64()), nil
}

func dropSchema(pool *pgxpool.Pool, schema string) {
	_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	pool.Close()
}

// pgStore drops its schema when closed.
type pgStore struct {
	*postgres.Store
	pool *pgxpool.Pool
}

func (s *pgStore) Close() error {
	err := s.Store.Close()
	dropSchema(s.pool, s.Schema())
	return err
}

type rawPG struct {
	pool   *pgxpool.Pool
	schema string
	table  pgx.Identifier
}

func (r *rawPG) put(ctx context.Context, recs []Contact) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, r.table, []string{"connection", "model", "id", "data"},
			pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
				data, err := json.Marshal(&recs[i])
				return []any{connection, model, recs[i].ID, data}, err
			}))
		return err
	})
}

func (r *rawPG) scan(ctx context.Context, fn func([]byte) error) error {
	after := ""
	q := `SELECT id, data FROM ` + r.table.Sanitize() + ` WHERE connection = $1 AND model = $2 AND id > $3 ORDER BY id LIMIT 1000`
	for {
		rows, err := r.pool.Query(ctx, q, connection, model, after)
		if err != nil {
			return err
		}
		n := 0
		var id string
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &data}, func() error {
			n++
			after = id
			return fn(data)
		})
		if err != nil {
			return err
		}
		if n < 1000 {
			return nil
		}
	}
}

func (r *rawPG) close() error {
	dropSchema(r.pool, r.schema)
	return nil
}
