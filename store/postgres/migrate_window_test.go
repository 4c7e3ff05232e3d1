package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestMigrateOpenWindow: a schema at version 1 with a deletion-tracking window open (one row
// per id) migrates to arrays of at most 1,000 ids, and the sweep that follows deletes exactly
// the records that the window lacks.
func TestMigrateOpenWindow(t *testing.T) {
	_, pool, name := testSchema(t, "nango_test_migrate")
	ctx := context.Background()
	old := &Store{pool: pool, schema: pgx.Identifier{name}.Sanitize(), name: name, opts: Options{Schema: name, MaxRetries: 3}, log: discardLogger()}
	require.NoError(t, old.migrateTo(ctx, 1))

	// Records and streams are the same in both versions; the window is written as version 1
	// wrote it: every third id of 3,000 is missing from it.
	st := store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	const n = 3000
	recs := make([]store.RecordInput, n)
	for i := range recs {
		recs[i] = store.RecordInput{Data: fmt.Appendf(nil, `{"id":"c-%05d"}`, i)}
	}
	_, err := old.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Records: recs})
	require.NoError(t, err)
	var seen [][]byte
	for i := range n {
		if i%3 != 0 {
			seen = append(seen, fmt.Appendf(nil, "c-%05d", i))
		}
	}
	_, err = pool.Exec(ctx, old.q(`INSERT INTO {s}.windows (stream_id, sync, rid) SELECT (SELECT id FROM {s}.streams), 'full', unnest($1::bytea[])`), seen)
	require.NoError(t, err)

	s, err := New(ctx, pool, &Options{Schema: name})
	require.NoError(t, err)
	defer s.Close()
	var versions []int
	rows, err := pool.Query(ctx, s.q(`SELECT version FROM {s}.schema_version ORDER BY version`))
	require.NoError(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, versions)
	var arrays, ids, largest int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT count(*), sum(cardinality(rids)), max(cardinality(rids)) FROM {s}.windows`)).Scan(&arrays, &ids, &largest))
	require.Equal(t, len(seen), ids)
	require.Equal(t, 2, arrays)
	require.LessOrEqual(t, largest, 1000)
	var oldTable bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name+".windows_v1").Scan(&oldTable))
	require.False(t, oldTable, "the version 1 window table is dropped")

	res, err := s.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: st, Sync: "full"})
	require.NoError(t, err)
	require.Equal(t, n/3, res.Deleted)
	list, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: st, Filter: store.FilterDeleted, Limit: n})
	require.NoError(t, err)
	require.Len(t, list.Records, n/3)
	for i, r := range list.Records {
		require.Equal(t, fmt.Sprintf("c-%05d", 3*i), r.ID, "deleted in id order")
	}
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.windows`)).Scan(&arrays))
	require.Zero(t, arrays, "the sweep closes the window")
}
