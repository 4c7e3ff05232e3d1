package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// TestPlansOnFreshTables loads a stream into tables that were never analysed (autovacuum off)
// and checks the plans of the statements that writes, sweeps and listings run, in custom and
// generic form: every access to the records is an index probe or range, never a sequential
// scan, and no join reads more of a table than its chunk of ids.
func TestPlansOnFreshTables(t *testing.T) {
	url, pool, schema := testSchema(t, "nango_test_plan")
	ctx := context.Background()
	s, err := New(ctx, pool, &Options{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	for _, table := range []string{"records", "windows", "streams"} {
		_, err := pool.Exec(ctx, s.q(`ALTER TABLE {s}.`+table+` SET (autovacuum_enabled = false)`))
		require.NoError(t, err)
	}

	const n = 20000
	st := store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	id := func(i int) string { return fmt.Sprintf("c-%07d", i) }
	for start := 0; start < n; start += 5000 {
		recs := make([]store.RecordInput, 0, 5000)
		for i := start; i < start+5000; i++ {
			recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil, `{"id":%q,"name":"contact %d"}`, id(i), i)})
		}
		_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Records: recs, TrackSeen: "full"})
		require.NoError(t, err)
	}
	var analysed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL FROM pg_stat_user_tables
		WHERE schemaname = $1 AND relname = 'records'`, schema).Scan(&analysed))
	require.False(t, analysed, "the records table must have no statistics for this test")

	var streamID int64
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT id FROM {s}.streams`)).Scan(&streamID))
	chunk := make([][]byte, chunkSize)
	seqs := make([]int64, chunkSize)
	hashes := make([]int64, chunkSize)
	acts := make([]int16, chunkSize)
	nulls := make([]*time.Time, chunkSize)
	datas := make([][]byte, chunkSize)
	for i := range chunk {
		chunk[i] = []byte(id(7000 + i*3))
		seqs[i], hashes[i], acts[i], datas[i] = int64(n+1+i), int64(i), actUpdated, []byte(`{}`)
	}
	now := time.Now()
	ql := store.RecordsListParams{Stream: st, Limit: 1000}
	listSQL, listArgs := s.listSQL(&ql, 5000)
	qf := store.RecordsListParams{Stream: st, Limit: 1000, Filter: store.FilterDeleted, ModifiedAfter: now.Add(-time.Hour)}
	filterSQL, filterArgs := s.listSQL(&qf, 0)
	statements := []struct {
		name string
		sql  string
		args []any
		// walk is set for the walks of a stream that filter each record: the sweep's of the
		// live records, a filtered listing's of the feed.
		walk bool
	}{
		{"lookup", sqlLookup, []any{streamID, chunk}, false},
		{"lookup with data", sqlLookupData, []any{streamID, chunk}, false},
		{"lookup in a named stream", sqlLookupStream, []any{st.Integration, st.Connection, st.Model, chunk}, false},
		{"lookup with data in a named stream", sqlLookupStreamData, []any{st.Integration, st.Connection, st.Model, chunk}, false},
		{"window add", sqlWindowAdd, []any{streamID, "full", chunk}, false},
		{"update", sqlUpdate, []any{streamID, now, chunk, seqs, hashes, acts, nulls, nulls, datas}, false},
		{"sweep delete", sqlSweepDelete, []any{streamID, now, chunk, seqs}, false},
		{"reseal", sqlReseal, []any{streamID, chunk, datas, hashes}, false},
		{"list", listSQL, listArgs, false},
		// A filtered listing reads the feed from the cursor on, as bolt does.
		{"list filtered", filterSQL, filterArgs, true},
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, stmt := range statements {
			plan := explain(t, url, s, mode, stmt.sql, stmt.args, nil, nil)
			bads := []string{"Seq Scan", "Materialize", "Join Filter", "Hash", "Merge", "Bitmap", "Sort", "JIT"}
			if !stmt.walk {
				bads = append(bads, "Rows Removed by Filter")
			}
			for _, bad := range bads {
				require.NotContains(t, plan, bad, "%s (%s):\n%s", stmt.name, mode, plan)
			}
			// Every read of the records is by primary key, or a walk of the live ones.
			lines := strings.Split(plan, "\n")
			for i, line := range lines {
				if !strings.Contains(line, " on records ") || strings.Contains(line, "Update on") {
					continue
				}
				cond := ""
				if i+1 < len(lines) {
					cond = lines[i+1]
				}
				byKey := strings.Contains(line, "records_pkey") && strings.Contains(cond, "rid = ")
				byFeed := strings.Contains(line, "records_feed") && strings.Contains(cond, "seq >")
				isWalk := stmt.walk && strings.Contains(line, "records_pkey") && strings.Contains(cond, "rid > ")
				if !byKey && !byFeed && !isWalk {
					t.Errorf("%s (%s): records read neither by key nor by feed position:\n%s", stmt.name, mode, plan)
				}
			}
			if testing.Verbose() {
				t.Logf("%s (%s):\n%s", stmt.name, mode, plan)
			}
		}
	}

	// The sweep's cursor: one hash anti-join of the live records, read by a bitmap of the
	// stream's index entries, with the window's ids; no nested loop over the records, whatever
	// the estimates. A cursor's query is planned when it opens, with its parameters: there is
	// no generic plan to check.
	plan := explain(t, url, s, "auto", sqlSweepUnseen, []any{streamID, "full"},
		[]string{sweepSettings}, []string{resetSweepSettings, `FETCH ALL FROM sweep_unseen`, `CLOSE sweep_unseen`})
	require.Regexp(t, `Hash (Right )?Anti Join`, plan, "sweep")
	require.NotRegexp(t, `(?m)^\s*(->\s+)?Index (Only )?Scan`, plan, "sweep: read by an index in its order")
	for _, bad := range []string{"Seq Scan", "Nested Loop Anti Join", "Nested Loop Left Join", "Merge", "JIT"} {
		require.NotContains(t, plan, bad, "sweep:\n%s", plan)
	}
	require.Contains(t, plan, "Bitmap Heap Scan on records", "sweep")
	require.Contains(t, plan, "Bitmap Index Scan on windows_key", "sweep")
	if testing.Verbose() {
		t.Logf("sweep:\n%s", plan)
	}
}

// TestSweepWorkMem: the sweep raises work_mem to 32 MB for its transaction, and never lowers it.
func TestSweepWorkMem(t *testing.T) {
	url := os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, c := range []struct{ before, during string }{{"4MB", "32MB"}, {"32MB", "32MB"}, {"256MB", "256MB"}} {
		_, err := conn.Exec(ctx, `SET work_mem = '`+c.before+`'`)
		require.NoError(t, err)
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, sweepSettings)
		require.NoError(t, err)
		var got string
		require.NoError(t, tx.QueryRow(ctx, `SHOW work_mem`).Scan(&got))
		require.Equal(t, c.during, got, "work_mem %s", c.before)
		require.NoError(t, tx.Rollback(ctx))
		require.NoError(t, conn.QueryRow(ctx, `SHOW work_mem`).Scan(&got))
		require.Equal(t, c.before, got, "after the transaction")
	}
}

// TestListPlanOutsideTransactions checks the plan of a listing as RecordsList sends it, in a
// batch of its own outside any transaction, on a table that was never analysed: the feed's index
// in order, not the rest of the stream read and sorted.
func TestListPlanOutsideTransactions(t *testing.T) {
	url, pool, schema := testSchema(t, "nango_test_plan")
	ctx := context.Background()
	s, err := New(ctx, pool, &Options{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	_, err = pool.Exec(ctx, s.q(`ALTER TABLE {s}.records SET (autovacuum_enabled = false)`))
	require.NoError(t, err)
	st := store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}
	recs := make([]store.RecordInput, 0, 5000)
	for i := range 5000 {
		recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil, `{"id":"c-%07d"}`, i)})
	}
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Records: recs})
	require.NoError(t, err)

	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LOAD 'auto_explain'`); err != nil {
		t.Skipf("auto_explain cannot be loaded on the test server: %v", err)
	}
	for _, q := range []string{`SET auto_explain.log_min_duration = 0`, `SET auto_explain.log_level = notice`} {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	q := store.RecordsListParams{Stream: st, Limit: 100}
	require.NoError(t, conn.SendBatch(ctx, s.listBatch(&q, 1000)).Close())
	var plan string
	for _, n := range notices {
		if strings.Contains(n, " on records ") {
			plan = n
		}
	}
	require.Contains(t, plan, "Index Scan using records_feed", "the listing's plan:\n%s", strings.Join(notices, "\n"))
	for _, bad := range []string{"Seq Scan", "Bitmap", "Sort"} {
		require.NotContains(t, plan, bad, "the listing's plan:\n%s", plan)
	}
	var setting string
	require.NoError(t, conn.QueryRow(ctx, `SHOW enable_bitmapscan`).Scan(&setting))
	require.Equal(t, "on", setting, "the plan settings outlived the listing's batch")
}

// explain returns the plan of a statement executed with the write transactions' settings and
// the plan cache mode, as auto_explain reports it, in a transaction that is rolled back. before
// runs before the statement is prepared, after once it ran.
func explain(t *testing.T, url string, s *Store, mode, sql string, args []any, before, after []string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// auto_explain reports the plans of the statements a function runs too; loading it takes a
	// superuser (the test server's postgres role) and the contrib module.
	if _, err := conn.Exec(ctx, `LOAD 'auto_explain'`); err != nil {
		t.Skipf("auto_explain cannot be loaded on the test server: %v", err)
	}
	for _, q := range []string{`SET auto_explain.log_min_duration = 0`, `SET auto_explain.log_analyze = on`,
		`SET auto_explain.log_level = notice`, `SET auto_explain.log_format = text`, `SET auto_explain.log_timing = off`, `SET auto_explain.log_nested_statements = on`} {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, planSettings)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT set_config('plan_cache_mode', $1, true)`, mode)
	require.NoError(t, err)
	for _, q := range before {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	_, err = tx.Prepare(ctx, "stmt", s.q(sql))
	require.NoError(t, err)
	notices = nil
	rows, err := tx.Query(ctx, "stmt", args...)
	require.NoError(t, err)
	rows.Close()
	require.NoError(t, rows.Err())
	for _, q := range after {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	// The executor of a query ends, and auto_explain reports, when its portal goes.
	_, err = tx.Exec(ctx, `SELECT 1`)
	require.NoError(t, err)
	// The statement's plan, and those of the statements it runs (the first of each).
	var plans []string
	seen := map[string]bool{}
	for _, n := range notices {
		text, _, _ := strings.Cut(n[strings.Index(n, "Query Text: ")+1:], "\n")
		if strings.Contains(text, "set_config") || strings.Contains(text, "SELECT 1") || seen[text] {
			continue
		}
		seen[text] = true
		plans = append(plans, n)
	}
	require.NotEmpty(t, plans, "auto_explain reported no plan of the statement: %q", notices)
	// Parameters are shown inline: cut the lines of 1,000 ids short.
	lines := strings.Split(strings.Join(plans, "\n"), "\n")
	for i, l := range lines {
		if len(l) > 200 {
			lines[i] = l[:200] + "..."
		}
	}
	return strings.Join(lines, "\n")
}
