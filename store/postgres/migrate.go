package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file, named NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; versions run 1, 2, ... without
// gaps.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("postgres: migration %q is not named NNNN_what.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema version this package knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate creates the schema or brings it to the newest version, in one transaction under an
// advisory lock of the schema, so that replicas starting together migrate it once. A read-only
// store only checks the version.
func (s *Store) migrate(ctx context.Context) error {
	return s.migrateTo(ctx, 0)
}

// migrateTo migrates as migrate does, up to version target if it is not 0 (for tests of a
// migration: a schema left at an older version).
func (s *Store) migrateTo(ctx context.Context, target int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	known := len(ms)
	if target > 0 {
		ms = ms[:min(target, known)]
	}
	if s.opts.ReadOnly {
		v, err := s.version(ctx, s.pool)
		if err != nil {
			return err
		}
		if v != known {
			return &SchemaVersionError{Schema: s.name, Found: v, Known: known}
		}
		return nil
	}
	// Retries as any transaction: two replicas creating the schema at once conflict on the
	// catalog before one of them holds the lock.
	return s.run(ctx, "migrate", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "nango-schema:"+s.name); err != nil {
			return fmt.Errorf("postgres: taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, s.q(`CREATE SCHEMA IF NOT EXISTS {s}`)); err != nil {
			return fmt.Errorf("postgres: creating schema %q: %w", s.name, err)
		}
		if _, err := tx.Exec(ctx, s.q(`CREATE TABLE IF NOT EXISTS {s}.schema_version (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)); err != nil {
			return fmt.Errorf("postgres: creating the schema_version table: %w", err)
		}
		v, err := s.version(ctx, tx)
		if err != nil {
			return err
		}
		if v > known {
			return &SchemaVersionError{Schema: s.name, Found: v, Known: known}
		}
		for _, m := range ms[min(v, len(ms)):] {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{schema}", s.schema)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.schema_version (version, name) VALUES ($1, $2)`), m.version, m.name); err != nil {
				return fmt.Errorf("postgres: recording migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// version returns the schema's version, 0 when it has none.
func (s *Store) version(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.schema+".schema_version").Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: reading the schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v *int
	err := q.QueryRow(ctx, s.q(`SELECT max(version) FROM {s}.schema_version`)).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: reading the schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
