package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Record actions as stored.
const (
	actAdded   int16 = 1
	actUpdated int16 = 2
	actDeleted int16 = 3
)

func actionOf(a int16) store.Action {
	switch a {
	case actAdded:
		return store.ActionAdded
	case actUpdated:
		return store.ActionUpdated
	}
	return store.ActionDeleted
}

// chunkSize is the number of records looked up and written per statement.
const chunkSize = 1000

// sweepPage is the number of records a sweep deletes per statement.
const sweepPage = 2000

// streamRow is a stream's row, read under its lock.
type streamRow struct {
	id       int64
	seq      uint64
	epoch    uint32
	lastTime time.Time
	live     int64
	deleted  int64
}

func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}

// planSettings keeps a write's statements on index lookups whatever the table's statistics say:
// on a table that has never been analysed the planner takes a stream of millions of rows for a
// few pages and can read all of it for a batch of 1,000 ids. Without sequential scans, and with
// every statement restricting the records it touches to a chunk's ids, a join (hash or nested
// loop) stays within the chunk.
//
// JIT compilation is off too: the cost of a plan that has to keep a disabled step (the nested
// loop that reads an array of ids, say) counts that step as 10^10, far past jit_above_cost, and
// compiling takes longer than any of these statements runs.
const planSettings = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('enable_material', 'off', true),
	set_config('jit', 'off', true)`

// lockStream locks a stream's row for the rest of the transaction and returns it; every write to
// a stream calls it first, so that writers of one stream commit one after the other and take
// sequence numbers in commit order. With create, a missing stream is created; without, a
// missing stream is nil.
func (s *Store) lockStream(ctx context.Context, tx pgx.Tx, st store.Stream, create bool) (*streamRow, error) {
	return s.openStream(ctx, tx, st, nil, create, nil)
}

// prefetch is a lookup that openStream runs in the same round trip as the lock: ids are the
// records to look up, and olds receives what the stream holds for them. valid is set when the
// lookup ran after the lock (it did not when openStream had to create the stream).
type prefetch struct {
	ids    [][]byte
	merge  bool
	newer  func(seq uint64, epoch uint32) bool
	before func() // runs once the batch is sent, while the server works on it
	olds   map[string]store.Held
	valid  bool
	found  int // the records that the lookups found, in all
	// absent is set for a write that takes its ids to be new (freshStreams): openStream sets
	// the savepoint sqlAbsentSavepoint instead of looking them up, and no chunk looks its ids up.
	absent bool
}

// openStream checks the fence (if any) and locks the stream as lockStream does, in one round
// trip with the lookup of pf's ids (if any). pf.before runs while the server works on them; its
// errors are the caller's to report.
func (s *Store) openStream(ctx context.Context, tx pgx.Tx, st store.Stream, fence *store.Lease, create bool, pf *prefetch) (*streamRow, error) {
	lock := s.q(`SELECT id, seq, epoch, last_time, live, deleted FROM {s}.streams
		WHERE integration = $1 AND connection = $2 AND model = $3 FOR UPDATE`)
	b := &pgx.Batch{}
	b.Queue(planSettings)
	if fence != nil {
		b.Queue(s.q(sqlFence), fence.Key.Integration, fence.Key.Sync, fence.Key.Connection, int64(fence.Token))
	}
	b.Queue(lock, st.Integration, st.Connection, st.Model)
	absent := pf != nil && pf.absent
	if absent {
		b.Queue(sqlAbsentSavepoint)
	}
	lookup := pf != nil && len(pf.ids) > 0 && !absent
	if lookup {
		sql := sqlLookupStream
		if pf.merge {
			sql = sqlLookupStreamData
		}
		b.Queue(s.q(sql), st.Integration, st.Connection, st.Model, pf.ids)
	}
	br := tx.SendBatch(ctx, b)
	if pf != nil && pf.before != nil {
		pf.before()
	}
	_, err := br.Exec()
	if err == nil && fence != nil {
		var one int
		if err = br.QueryRow().Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			err = store.LeaseLostError(fence)
		}
	}
	var row *streamRow
	if err == nil {
		row, err = scanStream(br.QueryRow())
	}
	if err == nil && absent {
		_, err = br.Exec()
	}
	if err == nil && lookup && row != nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			err = pf.read(rows, pf.ids, row.epoch)
		}
		pf.valid = err == nil
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil || row != nil || !create {
		return row, err
	}
	if _, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.streams (integration, connection, model, epoch) VALUES ($1, $2, $3, $4)
		ON CONFLICT (integration, connection, model) DO NOTHING`), st.Integration, st.Connection, st.Model, int64(newEpoch())); err != nil {
		return nil, err
	}
	row, err = scanStream(tx.QueryRow(ctx, lock, st.Integration, st.Connection, st.Model))
	if err == nil && absent {
		// A second savepoint of the same name, after the stream's row: the write starts again
		// from the newest, with the stream.
		_, err = tx.Exec(ctx, sqlAbsentSavepoint)
	}
	return row, err
}

// read fills pf.olds with the rows of a lookup of ids, which name each record by its position in
// ids (from 1). Rows in the binary format (as pgx asks for these types) are decoded here,
// without a Scan per row.
func (pf *prefetch) read(rows pgx.Rows, ids [][]byte, epoch uint32) error {
	defer rows.Close()
	if pf.olds == nil {
		pf.olds = make(map[string]store.Held, chunkSize)
	}
	clear(pf.olds)
	var pos int32
	var seq, hash int64
	var live bool
	var dest []any
	raw := false
	for first := true; rows.Next(); first = false {
		if first {
			raw = binaryLookup(rows.FieldDescriptions(), pf.merge)
		}
		h := store.Held{Exists: true}
		if vals := rows.RawValues(); raw && validLookupRow(vals, pf.merge) {
			pos = int32(binary.BigEndian.Uint32(vals[0]))
			seq, hash = int64(binary.BigEndian.Uint64(vals[1])), int64(binary.BigEndian.Uint64(vals[2]))
			live, h.Pruned = vals[3][0] != 0, vals[4][0] != 0
			if pf.merge {
				h.Data = bytes.Clone(vals[5])
			}
		} else {
			if dest == nil {
				dest = []any{&pos, &seq, &hash, &live, &h.Pruned}
			}
			dest[4] = &h.Pruned
			if pf.merge {
				dest = append(dest[:5], &h.Data)
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
		}
		if pos < 1 || int(pos) > len(ids) {
			return fmt.Errorf("postgres: a lookup of %d ids returned position %d", len(ids), pos)
		}
		h.Hash, h.Deleted = uint64(hash), !live
		h.Newer = pf.newer != nil && pf.newer(uint64(seq), epoch)
		pf.olds[string(ids[pos-1])] = h
		pf.found++
	}
	return rows.Err()
}

// binaryLookup reports whether a lookup's columns come in the binary format with the expected
// types: int4, int8, int8, bool, bool (and bytea for merges).
func binaryLookup(fds []pgconn.FieldDescription, merge bool) bool {
	want := []uint32{pgtype.Int4OID, pgtype.Int8OID, pgtype.Int8OID, pgtype.BoolOID, pgtype.BoolOID}
	if merge {
		want = append(want, pgtype.ByteaOID)
	}
	if len(fds) != len(want) {
		return false
	}
	for i, fd := range fds {
		if fd.Format != pgx.BinaryFormatCode || fd.DataTypeOID != want[i] {
			return false
		}
	}
	return true
}

// validLookupRow checks the sizes of a binary lookup row's values (none of them is NULL).
func validLookupRow(vals [][]byte, merge bool) bool {
	return len(vals[0]) == 4 && len(vals[1]) == 8 && len(vals[2]) == 8 && len(vals[3]) == 1 && len(vals[4]) == 1 &&
		(!merge || vals[5] != nil)
}

func scanStream(r pgx.Row) (*streamRow, error) {
	var row streamRow
	var seq, epoch int64
	var last pgtype.Timestamptz
	if err := r.Scan(&row.id, &seq, &epoch, &last, &row.live, &row.deleted); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	row.seq, row.epoch, row.lastTime = uint64(seq), uint32(epoch), utc(last)
	return &row, nil
}

// saveStream writes back the counters of a locked stream.
func (s *Store) saveStream(ctx context.Context, tx pgx.Tx, row *streamRow) error {
	_, err := tx.Exec(ctx, s.q(sqlSaveStream),
		row.id, int64(row.seq), ts(row.lastTime), row.live, row.deleted)
	return err
}

// head is the cursor of a stream's newest change, or "".
func head(st store.Stream, row *streamRow) string {
	if row == nil || row.seq == 0 {
		return ""
	}
	return store.NewCursorCodec(st).Encode(row.seq, row.epoch)
}

// The statements of writes and sweeps, whose plans plan_test.go checks on tables without
// statistics. Each touches the records by primary key, never the whole stream: lookups probe
// the primary key once per id (a lateral subquery that OFFSET 0 keeps from becoming a join the
// planner could turn around) and name each record found by its position in the array of ids
// rather than send its id back; updates go through functions (migrations) that update
// one record by primary key at a time, since a join of an array with the records can be planned
// as a scan of the stream. The sweep reads a page of live ids and the window's ids in the same
// range, both in index order, and compares them itself.
const (
	sqlLookup = `SELECT u.i::int4, r.seq, r.hash, r.deleted_at IS NULL, r.pruned_at IS NOT NULL FROM unnest($2::bytea[]) WITH ORDINALITY AS u(rid, i)
		CROSS JOIN LATERAL (SELECT * FROM {s}.records r WHERE r.stream_id = $1 AND r.rid = u.rid OFFSET 0) r`
	sqlLookupData = `SELECT u.i::int4, r.seq, r.hash, r.deleted_at IS NULL, r.pruned_at IS NOT NULL, r.data FROM unnest($2::bytea[]) WITH ORDINALITY AS u(rid, i)
		CROSS JOIN LATERAL (SELECT * FROM {s}.records r WHERE r.stream_id = $1 AND r.rid = u.rid OFFSET 0) r`
	// sqlLookupStream and sqlLookupStreamData look up as sqlLookup and sqlLookupData do, in the
	// stream named by $1-$3 (one probe of its key, once).
	sqlLookupStream = `SELECT u.i::int4, r.seq, r.hash, r.deleted_at IS NULL, r.pruned_at IS NOT NULL FROM unnest($4::bytea[]) WITH ORDINALITY AS u(rid, i)
		CROSS JOIN LATERAL (SELECT * FROM {s}.records r WHERE r.stream_id = (SELECT id FROM {s}.streams
			WHERE integration = $1 AND connection = $2 AND model = $3) AND r.rid = u.rid OFFSET 0) r`
	sqlLookupStreamData = `SELECT u.i::int4, r.seq, r.hash, r.deleted_at IS NULL, r.pruned_at IS NOT NULL, r.data FROM unnest($4::bytea[]) WITH ORDINALITY AS u(rid, i)
		CROSS JOIN LATERAL (SELECT * FROM {s}.records r WHERE r.stream_id = (SELECT id FROM {s}.streams
			WHERE integration = $1 AND connection = $2 AND model = $3) AND r.rid = u.rid OFFSET 0) r`
	sqlUpdate = `SELECT {s}.records_update($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	// sqlAbsentSavepoint is where a write that took its ids to be new starts again when the
	// COPY of its records fails on one that the stream holds.
	sqlAbsentSavepoint = `SAVEPOINT absent_ids`
	// sqlWindowAdd adds ids to a sync's deletion-tracking window, as one row.
	sqlWindowAdd = `INSERT INTO {s}.windows (stream_id, sync, rids) VALUES ($1, $2, $3::bytea[])`
	// sqlSaveStream writes back the counters of a locked stream.
	sqlSaveStream = `UPDATE {s}.streams SET seq = $2, last_time = $3, live = $4, deleted = $5 WHERE id = $1`
	sqlRestore    = `SELECT {s}.records_restore($1, $2, $3)`
	// sqlReseal replaces the payload and hash of records $2 in place (Decision.Reseal).
	sqlReseal = `UPDATE {s}.records r SET data = u.data, hash = u.hash
		FROM unnest($2::bytea[], $3::bytea[], $4::bigint[]) AS u(rid, data, hash)
		WHERE r.stream_id = $1 AND r.rid = u.rid`
	// sqlLowerMark lowers a stream's prune mark below the restored records $2 (primary-key
	// probes).
	sqlLowerMark = `UPDATE {s}.streams SET prune_mark = LEAST(prune_mark,
		(SELECT min(r.seq) - 1 FROM unnest($2::bytea[]) AS u(rid)
			CROSS JOIN LATERAL (SELECT r.seq FROM {s}.records r WHERE r.stream_id = $1 AND r.rid = u.rid OFFSET 0) r))
		WHERE id = $1`
	// sqlSweepUnseen is the query of a sweep's cursor: the stream's live ids that are not in the
	// sync's window, in id order. It runs as one hash anti-join of the stream's live records with
	// the window's ids (sweepSettings; the planner hashes either side), so that its cost grows
	// with the number of records whatever the statistics say; the server sorts what is unseen
	// before the first FETCH, and the store fetches it a page at a time. The records are read by
	// a bitmap of the stream's index entries, in the table's order: read by an index in id order,
	// each record of a stream larger than the server's buffers is a random read (1,000,000
	// records: 10 s against 3.5 s). What does not fit in work_mem goes to temporary files.
	sqlSweepUnseen = `DECLARE sweep_unseen NO SCROLL CURSOR FOR
		SELECT r.rid FROM {s}.records r WHERE r.stream_id = $1 AND r.deleted_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM {s}.windows w CROSS JOIN LATERAL unnest(w.rids) AS u(rid)
				WHERE w.stream_id = $1 AND w.sync = $2 AND u.rid = r.rid)
		ORDER BY r.rid`
	// sweepSettings turns the plan settings of a write around for sqlSweepUnseen: hash joins on,
	// nested loops (which would probe the window once per record) off, bitmap scans instead of
	// index scans; and work_mem at least 32 MB, with which the hash of a window of about
	// 1,000,000 ids fits in memory (hash_mem_multiplier 2, the default; 1,000,000 records with
	// 950,000 in the window: 3.5 s with the default 4 MB, 2.2 s). resetSweepSettings turns the
	// plan settings back once the cursor is planned.
	sweepSettings = `SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_nestloop', 'off', true),
		set_config('enable_bitmapscan', 'on', true), set_config('enable_indexscan', 'off', true),
		set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < 32 * 1024 * 1024
			THEN '32MB' ELSE current_setting('work_mem') END, true)`
	resetSweepSettings = `SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_nestloop', 'on', true),
		set_config('enable_bitmapscan', 'off', true), set_config('enable_indexscan', 'on', true)`
	// sqlSweepDelete marks a page deleted, each record with its sequence number.
	sqlSweepDelete = `SELECT {s}.records_delete($1, $2, $3, $4)`
)

// RecordsWrite implements store.Store.
//
// The server's first round trip of a write (the fence, the lock, the lookup of the first chunk's
// ids) overlaps with the encoding (p.Encode) and canonicalisation of the payloads when their ids
// are known beforehand (p.IDHints) or can be read off them (guessIDs), or when the write looks
// nothing up (freshStreams); otherwise the payloads are encoded and canonicalised first.
func (s *Store) RecordsWrite(ctx context.Context, p *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	fresh := p != nil && p.Mode == store.WriteSave && len(p.Records) > 0 && s.fresh.has(p.Stream)
	var guess []string
	overlap := false
	if p != nil && !s.opts.ReadOnly && !s.closed.Load() && p.Stream.Validate() == nil {
		switch {
		case fresh:
		case p.Encode == nil:
			guess = guessIDs(p.Records[:min(len(p.Records), chunkSize)])
		case len(p.IDHints) == len(p.Records) && len(p.Records) > 0:
			guess = p.IDHints[:min(len(p.Records), chunkSize)]
		}
		overlap = fresh || guess != nil
	}
	var pw *store.PreparedWrite
	var newer func(seq uint64, epoch uint32) bool
	if !overlap {
		var err error
		if pw, newer, err = prepareWrite(p); err != nil {
			return nil, err
		}
	}
	var res *store.RecordsWriteResult
	allNew := false
	err := s.run(ctx, "records write", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		pf := &prefetch{merge: p.Mode == store.WriteMerge, absent: fresh}
		var perr error
		switch {
		case pw == nil:
			pf.ids = make([][]byte, len(guess))
			for i, id := range guess {
				pf.ids[i] = []byte(id)
			}
			pf.before = func() {
				pw, newer, perr = prepareWrite(p)
				pf.newer = newer
			}
		case !fresh:
			pf.ids = chunkIDs(nil, pw.Records[:min(len(pw.Records), chunkSize)])
			fallthrough
		default:
			pf.newer = newer
		}
		row, err := s.openStream(ctx, tx, p.Stream, p.Fence, p.Mode == store.WriteSave && len(p.Records) > 0, pf)
		if perr != nil {
			return perr
		}
		if err != nil {
			return err
		}
		if guess != nil && pf.valid {
			// The lookup covers the first chunk if every id in it was guessed right.
			for _, r := range pw.Records[:min(len(pw.Records), chunkSize)] {
				if r.Index >= len(guess) || guess[r.Index] != r.ID {
					pf.valid = false
					break
				}
			}
		}
		res = &store.RecordsWriteResult{Duplicates: pw.Duplicates, DuplicateIDs: pw.DuplicateIDs}
		var before streamRow
		if row != nil {
			before = *row
		}
		err = s.writeRecords(ctx, tx, pw, row, pf, res)
		if pf.absent && row != nil && isAbsentConflict(err) {
			// An id was there after all: the write starts again from the savepoint, looking
			// its ids up.
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT absent_ids`); err != nil {
				return err
			}
			*row = before
			res = &store.RecordsWriteResult{Duplicates: pw.Duplicates, DuplicateIDs: pw.DuplicateIDs}
			pf.absent, pf.valid = false, false
			err = s.writeRecords(ctx, tx, pw, row, pf, res)
		}
		if err != nil {
			return err
		}
		allNew = row != nil && len(pw.Records) > 0 && (pf.absent || pf.found == 0)
		if p.Checkpoint != nil {
			cp, err := s.putCheckpoint(ctx, tx, p.Checkpoint)
			if err != nil {
				return err
			}
			res.Checkpoint = cp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.Mode == store.WriteSave {
		// The next save of the stream takes its ids to be new if every id of this one was.
		s.fresh.set(p.Stream, allNew)
	}
	return res, nil
}

// isAbsentConflict reports whether err is a write's COPY failing on an id that the stream holds.
func isAbsentConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "records_pkey"
}

// prepareWrite validates a write and canonicalises its payloads.
func prepareWrite(p *store.RecordsWriteParams) (*store.PreparedWrite, func(uint64, uint32) bool, error) {
	pw, err := store.PrepareWrite(p)
	if err != nil {
		return nil, nil, err
	}
	if p.Checkpoint != nil {
		if err := store.PrepareCheckpoint(p.Checkpoint); err != nil {
			return nil, nil, err
		}
	}
	var newer func(seq uint64, epoch uint32) bool
	if p.IgnoreModifiedAfter != nil {
		if newer, err = p.IgnoreModifiedAfter.ModifiedAfter(p.Stream); err != nil {
			return nil, nil, err
		}
	}
	return pw, newer, nil
}

// guessIDs returns the ids of records whose payloads start with a plain string "id" member, as
// the engine's encoding of a struct does, or nil if a record's does not. The guess only decides
// what the first round trip looks up; the canonical ids decide the rest.
func guessIDs(recs []store.RecordInput) []string {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		id := r.ID
		if id == "" {
			const prefix = `{"id":"`
			d := r.Data
			if !bytes.HasPrefix(d, []byte(prefix)) {
				return nil
			}
			d = d[len(prefix):]
			end := bytes.IndexByte(d, '"')
			if end <= 0 || bytes.IndexByte(d[:end], '\\') >= 0 {
				return nil
			}
			id = string(d[:end])
		}
		ids[i] = id
	}
	return ids
}

func chunkIDs(ids [][]byte, recs []store.PreparedRecord) [][]byte {
	ids = ids[:0]
	for i := range recs {
		ids = append(ids, []byte(recs[i].ID))
	}
	return ids
}

// writeRecords applies a prepared batch in chunks to the locked stream row (nil if it does not
// exist); pf holds the lookup of the first chunk if it is valid.
func (s *Store) writeRecords(ctx context.Context, tx pgx.Tx, pw *store.PreparedWrite, row *streamRow, pf *prefetch, res *store.RecordsWriteResult) error {
	if pw.IgnoreModifiedAfter != nil {
		res.PrevCursor = head(pw.Stream, row)
		defer func() { res.Cursor = head(pw.Stream, row) }()
	}
	if row == nil { // a merge or delete in a stream that does not exist
		res.Ignored = len(pw.Records)
		return nil
	}
	now := store.Clock(pw.Now)
	if now.Before(row.lastTime) {
		now = row.lastTime
	}
	if pf.absent {
		clear(pf.olds)
	}
	w := &chunkWriter{s: s, tx: tx, row: row, pw: pw, now: now, res: res, pf: pf}
	for start := 0; start < len(pw.Records); start += chunkSize {
		end := min(start+chunkSize, len(pw.Records))
		if err := w.chunk(ctx, pw.Records[start:end], pf.absent || (start == 0 && pf.valid), end == len(pw.Records)); err != nil {
			return err
		}
	}
	return nil
}

// chunkWriter applies the chunks of one batch.
type chunkWriter struct {
	s       *Store
	tx      pgx.Tx
	row     *streamRow
	pw      *store.PreparedWrite
	now     time.Time
	res     *store.RecordsWriteResult
	pf      *prefetch
	changed bool

	// Reused between chunks.
	ids     [][]byte
	inserts []insertRow
	upd     updateArrays
	window  [][]byte
	// restores are the pruned records whose payload an unchanged write puts back.
	restoreIDs  [][]byte
	restoreData [][]byte
	// reseals are the unchanged records whose payload and hash change form in place.
	resealIDs  [][]byte
	resealData [][]byte
	resealHash []int64
}

type insertRow struct {
	rid  []byte
	seq  int64
	hash int64
	data []byte
}

type updateArrays struct {
	rid       [][]byte
	seq       []int64
	hash      []int64
	action    []int16
	firstSeen []pgtype.Timestamptz
	deletedAt []pgtype.Timestamptz
	data      [][]byte
}

func (u *updateArrays) reset() {
	u.rid, u.seq, u.hash, u.action = u.rid[:0], u.seq[:0], u.hash[:0], u.action[:0]
	u.firstSeen, u.deletedAt, u.data = u.firstSeen[:0], u.deletedAt[:0], u.data[:0]
}

// chunk applies a chunk: looked up already if prefetched; last is set on the batch's last
// chunk, whose statements write the stream's counters back too.
func (w *chunkWriter) chunk(ctx context.Context, recs []store.PreparedRecord, prefetched, last bool) error {
	s, pw := w.s, w.pw
	w.ids = chunkIDs(w.ids, recs)
	if !prefetched {
		if err := w.lookup(ctx); err != nil {
			return err
		}
	}
	w.inserts, w.window = w.inserts[:0], w.window[:0]
	w.restoreIDs, w.restoreData = w.restoreIDs[:0], w.restoreData[:0]
	w.resealIDs, w.resealData, w.resealHash = w.resealIDs[:0], w.resealData[:0], w.resealHash[:0]
	w.upd.reset()
	nowTS := pgtype.Timestamptz{Time: w.now, Valid: true}
	for i := range recs {
		r := recs[i]
		held := w.pf.olds[r.ID]
		d, err := pw.Classify(held, r)
		if err != nil {
			return err
		}
		if pw.TrackSeen != "" && d.Seen {
			w.window = append(w.window, w.ids[i])
		}
		w.res.Tally(r.ID, d)
		if d.Reseal {
			w.resealIDs, w.resealData = append(w.resealIDs, w.ids[i]), append(w.resealData, d.Data)
			w.resealHash = append(w.resealHash, int64(d.Hash))
		}
		if d.Restore {
			w.restoreIDs, w.restoreData = append(w.restoreIDs, w.ids[i]), append(w.restoreData, d.Data)
		}
		if !d.Verdict.Writes() {
			continue
		}
		live, deleted := d.Verdict.StatsDelta()
		w.row.live += int64(live)
		w.row.deleted += int64(deleted)
		w.row.seq++
		w.changed = true
		seq := int64(w.row.seq)
		switch d.Verdict {
		case store.VerdictAdded:
			w.inserts = append(w.inserts, insertRow{rid: w.ids[i], seq: seq, hash: int64(d.Hash), data: d.Data})
		case store.VerdictReadded:
			w.upd.add(w.ids[i], seq, d.Hash, actAdded, nowTS, pgtype.Timestamptz{}, d.Data)
		case store.VerdictUpdated:
			w.upd.add(w.ids[i], seq, d.Hash, actUpdated, pgtype.Timestamptz{}, pgtype.Timestamptz{}, d.Data)
		case store.VerdictDeleted:
			// The row keeps its payload: no need to send it back.
			w.upd.add(w.ids[i], seq, d.Hash, actDeleted, pgtype.Timestamptz{}, nowTS, nil)
		}
	}
	if len(w.inserts) > 0 {
		n, err := w.tx.CopyFrom(ctx, pgx.Identifier{s.name, "records"},
			[]string{"stream_id", "rid", "seq", "hash", "action", "first_seen", "last_modified", "data"},
			pgx.CopyFromSlice(len(w.inserts), func(i int) ([]any, error) {
				r := &w.inserts[i]
				return []any{w.row.id, r.rid, r.seq, r.hash, actAdded, w.now, w.now, r.data}, nil
			}))
		if err != nil {
			return fmt.Errorf("postgres: copying new records into %s: %w", pw.Stream, err)
		}
		if int(n) != len(w.inserts) {
			return fmt.Errorf("postgres: copied %d of %d new records into %s", n, len(w.inserts), pw.Stream)
		}
	}
	// The rest of the chunk's statements go in one round trip.
	b := &pgx.Batch{}
	var checks []func(pgx.BatchResults) error
	if len(w.upd.rid) > 0 {
		u := &w.upd
		b.Queue(s.q(sqlUpdate), w.row.id, w.now, u.rid, u.seq, u.hash, u.action, u.firstSeen, u.deletedAt, u.data)
		checks = append(checks, func(br pgx.BatchResults) error {
			var n int
			if err := br.QueryRow().Scan(&n); err != nil {
				return fmt.Errorf("postgres: updating records of %s: %w", pw.Stream, err)
			}
			if n != len(u.rid) {
				return fmt.Errorf("postgres: updated %d of %d records of %s", n, len(u.rid), pw.Stream)
			}
			return nil
		})
	}
	if len(w.resealIDs) > 0 {
		b.Queue(s.q(sqlReseal), w.row.id, w.resealIDs, w.resealData, w.resealHash)
		checks = append(checks, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("postgres: sealing stored payloads of %s: %w", pw.Stream, err)
			}
			if n := tag.RowsAffected(); int(n) != len(w.resealIDs) {
				return fmt.Errorf("postgres: sealed %d of %d stored payloads of %s", n, len(w.resealIDs), pw.Stream)
			}
			return nil
		})
	}
	if len(w.restoreIDs) > 0 {
		b.Queue(s.q(sqlRestore), w.row.id, w.restoreIDs, w.restoreData)
		b.Queue(s.q(sqlLowerMark), w.row.id, w.restoreIDs)
		checks = append(checks, func(br pgx.BatchResults) error {
			var n int
			if err := br.QueryRow().Scan(&n); err != nil {
				return fmt.Errorf("postgres: restoring pruned records of %s: %w", pw.Stream, err)
			}
			if n != len(w.restoreIDs) {
				return fmt.Errorf("postgres: restored %d of %d pruned records of %s", n, len(w.restoreIDs), pw.Stream)
			}
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("postgres: lowering the prune mark of %s: %w", pw.Stream, err)
			}
			return nil
		})
	}
	if len(w.window) > 0 {
		b.Queue(s.q(sqlWindowAdd), w.row.id, pw.TrackSeen, w.window)
		checks = append(checks, func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("postgres: adding to the deletion-tracking window of %s: %w", pw.Stream, err)
			}
			return nil
		})
	}
	if last && w.changed {
		w.row.lastTime = w.now
		b.Queue(s.q(sqlSaveStream), w.row.id, int64(w.row.seq), ts(w.row.lastTime), w.row.live, w.row.deleted)
		checks = append(checks, func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		})
	}
	if len(checks) == 0 {
		return nil
	}
	br := w.tx.SendBatch(ctx, b)
	var err error
	for _, check := range checks {
		if err = check(br); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (u *updateArrays) add(rid []byte, seq int64, hash uint64, action int16, firstSeen, deletedAt pgtype.Timestamptz, data []byte) {
	u.rid = append(u.rid, rid)
	u.seq = append(u.seq, seq)
	u.hash = append(u.hash, int64(hash))
	u.action = append(u.action, action)
	u.firstSeen = append(u.firstSeen, firstSeen)
	u.deletedAt = append(u.deletedAt, deletedAt)
	u.data = append(u.data, data)
}

// lookup reads what the stream holds for the ids of w.ids into w.pf.olds, by primary key;
// payloads only for merges (a delete keeps the stored payload in place).
func (w *chunkWriter) lookup(ctx context.Context) error {
	sql := sqlLookup
	if w.pf.merge {
		sql = sqlLookupData
	}
	rows, err := w.tx.Query(ctx, w.s.q(sql), w.row.id, w.ids)
	if err != nil {
		return fmt.Errorf("postgres: reading records of %s: %w", w.pw.Stream, err)
	}
	if err := w.pf.read(rows, w.ids, w.row.epoch); err != nil {
		return fmt.Errorf("postgres: reading records of %s: %w", w.pw.Stream, err)
	}
	return nil
}

// RecordsList implements store.Store.
func (s *Store) RecordsList(ctx context.Context, p *store.RecordsListParams) (*store.RecordsListResult, error) {
	q, err := store.PrepareList(p)
	if err != nil {
		return nil, err
	}
	codec := store.NewCursorCodec(q.Stream)
	var after uint64
	var epoch uint32
	if q.Cursor != "" {
		if after, epoch, err = codec.Decode(q.Cursor); err != nil {
			return nil, err
		}
	}
	res := &store.RecordsListResult{Records: []store.Record{}}
	err = s.read(ctx, "records list", func(ctx context.Context, db dbtx) (err error) {
		res.Records = res.Records[:0]
		br := db.SendBatch(ctx, s.listBatch(&q, after))
		defer func() {
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		var stEpoch int64
		var seq pgtype.Int8
		var rid []byte
		var act pgtype.Int2
		var first, last, deleted, pruned pgtype.Timestamptz
		for rows.Next() {
			var data []byte
			if err := rows.Scan(&stEpoch, &seq, &rid, &act, &first, &last, &deleted, &pruned, &data); err != nil {
				return err
			}
			if q.Cursor != "" && uint32(stEpoch) != epoch {
				return store.ErrCursorStale
			}
			if !seq.Valid {
				continue // the stream has no record after the cursor
			}
			res.Records = append(res.Records, store.Record{ID: string(rid), Data: data, Metadata: store.Metadata{
				FirstSeenAt: utc(first), LastModifiedAt: utc(last), DeletedAt: utc(deleted), PrunedAt: utc(pruned),
				LastAction: actionOf(act.Int16), Cursor: codec.Encode(uint64(seq.Int64), uint32(stEpoch)),
			}})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(res.Records) > q.Limit {
		res.Records = res.Records[:q.Limit]
		res.NextCursor = res.Records[q.Limit-1].Cursor
	}
	return res, nil
}

// listBatch is the round trip of a listing: its statement after the plan settings, which hold
// for the batch's implicit transaction. Without them, the first plans of the statement on a
// table without statistics read the rest of the stream and sort it for every page.
func (s *Store) listBatch(q *store.RecordsListParams, after uint64) *pgx.Batch {
	sql, args := s.listSQL(q, after)
	b := &pgx.Batch{}
	b.Queue(planSettings)
	b.Queue(sql, args...)
	return b
}

// listSQL returns the statement of a listing and its arguments: one statement, so one
// snapshot, in which the stream's epoch and the page agree.
func (s *Store) listSQL(q *store.RecordsListParams, after uint64) (string, []any) {
	var cond strings.Builder
	args := []any{q.Stream.Integration, q.Stream.Connection, q.Stream.Model, int64(after), q.Limit + 1}
	if q.Filter != 0 {
		var acts []int16
		for _, a := range []struct {
			f   store.Filter
			act int16
		}{{store.FilterAdded, actAdded}, {store.FilterUpdated, actUpdated}, {store.FilterDeleted, actDeleted}} {
			if q.Filter&a.f != 0 {
				acts = append(acts, a.act)
			}
		}
		args = append(args, acts)
		cond.WriteString(" AND r.action = ANY($" + strconv.Itoa(len(args)) + "::smallint[])")
	}
	if !q.ModifiedAfter.IsZero() {
		args = append(args, q.ModifiedAfter)
		cond.WriteString(" AND r.last_modified >= $" + strconv.Itoa(len(args)))
	}
	if len(q.IDs) > 0 {
		ids := make([][]byte, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = []byte(id)
		}
		args = append(args, ids)
		cond.WriteString(" AND r.rid = ANY($" + strconv.Itoa(len(args)) + "::bytea[])")
	}
	return s.q(`WITH st AS (SELECT id, epoch FROM {s}.streams WHERE integration = $1 AND connection = $2 AND model = $3)
		SELECT st.epoch, r.seq, r.rid, r.action, r.first_seen, r.last_modified, r.deleted_at, r.pruned_at, r.data
		FROM st LEFT JOIN LATERAL (SELECT * FROM {s}.records r WHERE r.stream_id = st.id AND r.seq > $4` + cond.String() + `
			ORDER BY r.seq LIMIT $5) r ON true`), args
}

// RecordsSweep implements store.Store.
func (s *Store) RecordsSweep(ctx context.Context, p *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := validateSweep(p.Stream, p.Sync); err != nil {
		return nil, err
	}
	var res *store.RecordsSweepResult
	err := s.run(ctx, "records sweep", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		res = &store.RecordsSweepResult{}
		if err := s.checkFence(ctx, tx, p.Fence); err != nil {
			return err
		}
		row, err := s.lockStream(ctx, tx, p.Stream, false)
		if err != nil || row == nil {
			return err
		}
		closeWindow := func() error {
			_, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.windows WHERE stream_id = $1 AND sync = $2`), row.id, p.Sync)
			return err
		}
		res.Live = int(row.live)
		// One pass deletes and counts; the rare sweep that the guard refuses is rolled back to
		// a savepoint.
		mayRefuse := !p.Force && p.Guard != nil && p.Guard.Refuses(res.Live, res.Live)
		if mayRefuse {
			if _, err := tx.Exec(ctx, `SAVEPOINT sweep`); err != nil {
				return err
			}
		}
		seqBefore := row.seq
		now := store.Clock(p.Now)
		if now.Before(row.lastTime) {
			now = row.lastTime
		}
		// The live ids that the window lacks, in id order, a page at a time; they get their
		// sequence numbers in the same order.
		for _, q := range []string{sweepSettings, s.q(sqlSweepUnseen), resetSweepSettings} {
			var args []any
			if q != sweepSettings && q != resetSweepSettings {
				args = []any{row.id, p.Sync}
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("postgres: sweep of %s: %w", p.Stream, err)
			}
		}
		fetch := fmt.Sprintf(`FETCH %d FROM sweep_unseen`, sweepPage)
		deleted := 0
		rids := make([][]byte, 0, sweepPage)
		seqs := make([]int64, 0, sweepPage)
		for {
			rids, seqs = rids[:0], seqs[:0]
			if rids, err = appendRids(ctx, tx, rids, fetch); err != nil {
				return fmt.Errorf("postgres: sweep of %s: %w", p.Stream, err)
			}
			if len(rids) == 0 {
				break
			}
			for range rids {
				row.seq++
				seqs = append(seqs, int64(row.seq))
			}
			var n int
			if err := tx.QueryRow(ctx, s.q(sqlSweepDelete), row.id, now, rids, seqs).Scan(&n); err != nil {
				return err
			}
			if n != len(rids) {
				return fmt.Errorf("postgres: sweep of %s deleted %d of %d records", p.Stream, n, len(rids))
			}
			deleted += len(rids)
			if len(rids) < sweepPage {
				break
			}
		}
		if _, err := tx.Exec(ctx, `CLOSE sweep_unseen`); err != nil {
			return err
		}
		res.Unseen = deleted
		if mayRefuse && p.Guard.Refuses(res.Unseen, res.Live) {
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT sweep`); err != nil {
				return err
			}
			row.seq = seqBefore
			res.Refused = true
			return closeWindow()
		}
		res.Deleted = deleted
		if deleted > 0 {
			row.live -= int64(deleted)
			row.deleted += int64(deleted)
			row.lastTime = now
			if err := s.saveStream(ctx, tx, row); err != nil {
				return err
			}
		}
		return closeWindow()
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func validateSweep(st store.Stream, sync string) error {
	if err := st.Validate(); err != nil {
		return err
	}
	return store.ValidateName("sync", sync)
}

// appendRids appends the ids a query returns to ids.
func appendRids(ctx context.Context, tx pgx.Tx, ids [][]byte, sql string, args ...any) ([][]byte, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rid []byte
		if err := rows.Scan(&rid); err != nil {
			return nil, err
		}
		ids = append(ids, rid)
	}
	return ids, rows.Err()
}

// RecordsSweepReset implements store.Store.
func (s *Store) RecordsSweepReset(ctx context.Context, p *store.RecordsSweepResetParams) error {
	if p == nil {
		return &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := validateSweep(p.Stream, p.Sync); err != nil {
		return err
	}
	return s.run(ctx, "records sweep reset", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.windows w USING {s}.streams st
			WHERE st.integration = $1 AND st.connection = $2 AND st.model = $3 AND w.stream_id = st.id AND w.sync = $4`),
			p.Stream.Integration, p.Stream.Connection, p.Stream.Model, p.Sync)
		return err
	})
}

// StreamStats implements store.Store.
func (s *Store) StreamStats(ctx context.Context, st store.Stream) (*store.StreamStats, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	out := &store.StreamStats{}
	err := s.read(ctx, "stream stats", func(ctx context.Context, db dbtx) error {
		var live, deleted int64
		err := db.QueryRow(ctx, s.q(`SELECT live, deleted FROM {s}.streams WHERE integration = $1 AND connection = $2 AND model = $3`),
			st.Integration, st.Connection, st.Model).Scan(&live, &deleted)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		out.Live, out.Deleted = int(live), int(deleted)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StreamCursor implements store.Store.
func (s *Store) StreamCursor(ctx context.Context, st store.Stream) (string, error) {
	if err := st.Validate(); err != nil {
		return "", err
	}
	var out string
	err := s.read(ctx, "stream cursor", func(ctx context.Context, db dbtx) error {
		var seq, epoch int64
		err := db.QueryRow(ctx, s.q(`SELECT seq, epoch FROM {s}.streams WHERE integration = $1 AND connection = $2 AND model = $3`),
			st.Integration, st.Connection, st.Model).Scan(&seq, &epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		out = head(st, &streamRow{seq: uint64(seq), epoch: uint32(epoch)})
		return err
	})
	return out, err
}

// StreamDelete implements store.Store.
func (s *Store) StreamDelete(ctx context.Context, st store.Stream) error {
	if err := st.Validate(); err != nil {
		return err
	}
	return s.run(ctx, "stream delete", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		row, err := s.lockStream(ctx, tx, st, false)
		if err != nil || row == nil {
			return err
		}
		return s.emptyStream(ctx, tx, row.id)
	})
}

// emptyStream removes a locked stream's records and windows and gives it a new epoch, keeping
// its sequence and last change time so that new cursors and times keep growing.
func (s *Store) emptyStream(ctx context.Context, tx pgx.Tx, id int64) error {
	for _, q := range []string{`DELETE FROM {s}.records WHERE stream_id = $1`, `DELETE FROM {s}.windows WHERE stream_id = $1`} {
		if _, err := tx.Exec(ctx, s.q(q), id); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, s.q(`UPDATE {s}.streams SET epoch = $2, live = 0, deleted = 0, prune_mark = 0 WHERE id = $1`), id, int64(newEpoch()))
	return err
}

// ts is t as a nullable timestamptz: NULL when zero.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// utc is a nullable timestamptz as a UTC time, zero when NULL.
func utc(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// freshStreams remembers the streams whose last save, in this process, found none of its ids
// there: their next save takes its ids to be new too, skips their lookup, and copies the
// records in under a savepoint. The primary key catches an id that was there after all (saved
// by another process, or one that the stream held deleted), and the write starts again from
// the savepoint with the lookup, which costs it the COPYs it made (one per chunk of 1,000
// before the one that failed). An initial load, and a stream that only grows, saves a
// primary-key probe per record this way.
type freshStreams struct {
	mu sync.Mutex
	m  map[store.Stream]struct{}
}

// maxFreshStreams bounds the streams remembered; beyond, the memory starts again.
const maxFreshStreams = 4096

func (f *freshStreams) has(st store.Stream) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.m[st]
	return ok
}

func (f *freshStreams) set(st store.Stream, fresh bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !fresh {
		delete(f.m, st)
		return
	}
	if f.m == nil || len(f.m) >= maxFreshStreams {
		f.m = make(map[store.Stream]struct{})
	}
	f.m[st] = struct{}{}
}
