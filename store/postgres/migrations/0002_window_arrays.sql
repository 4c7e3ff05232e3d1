-- Deletion-tracking windows keep one row per write instead of one per id: the ids the write saw,
-- as an array. Adding 1,000 ids is then one row, not 1,000 rows and index entries, and a sweep
-- compares the stream's live ids with the whole window in one hash anti-join.
ALTER TABLE {schema}.windows RENAME TO windows_v1;
CREATE TABLE {schema}.windows (
	stream_id bigint NOT NULL,
	sync      text COLLATE "C" NOT NULL,
	rids      bytea[] NOT NULL
);
-- Open windows carry over, in arrays of at most 1,000 ids.
INSERT INTO {schema}.windows (stream_id, sync, rids)
	SELECT stream_id, sync, array_agg(rid) FROM (
		SELECT stream_id, sync, rid, (row_number() OVER (PARTITION BY stream_id, sync ORDER BY rid) - 1) / 1000 AS part
		FROM {schema}.windows_v1) v
	GROUP BY stream_id, sync, part;
DROP TABLE {schema}.windows_v1;
CREATE INDEX windows_key ON {schema}.windows (stream_id, sync);
