-- Retention: records whose payload RecordsPrune removed carry pruned_at (their data is empty);
-- each stream keeps a prune mark, the sequence up to which every record is pruned, so that
-- pruning does not rescan what it pruned before.
ALTER TABLE {schema}.records ADD COLUMN pruned_at timestamptz;
ALTER TABLE {schema}.streams ADD COLUMN prune_mark bigint NOT NULL DEFAULT 0;

-- records_update as before; a record written with a new payload is no longer pruned, a deleted
-- one keeps its pruned_at with its payload.
CREATE OR REPLACE FUNCTION {schema}.records_update(p_stream bigint, p_now timestamptz, p_rid bytea[], p_seq bigint[], p_hash bigint[],
	p_action smallint[], p_first_seen timestamptz[], p_deleted_at timestamptz[], p_data bytea[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := 0;
	u record;
BEGIN
	FOR u IN SELECT * FROM unnest(p_rid, p_seq, p_hash, p_action, p_first_seen, p_deleted_at, p_data)
		AS t(rid, seq, hash, action, first_seen, deleted_at, data)
	LOOP
		UPDATE {schema}.records SET seq = u.seq, hash = u.hash, action = u.action,
			first_seen = COALESCE(u.first_seen, first_seen), last_modified = p_now, deleted_at = u.deleted_at,
			data = COALESCE(u.data, data), pruned_at = CASE WHEN u.data IS NULL THEN pruned_at END
		WHERE stream_id = p_stream AND rid = u.rid;
		IF FOUND THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- records_restore puts pruned payloads back in place: same sequence, same times.
CREATE FUNCTION {schema}.records_restore(p_stream bigint, p_rid bytea[], p_data bytea[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := 0;
	u record;
BEGIN
	FOR u IN SELECT * FROM unnest(p_rid, p_data) AS t(rid, data) LOOP
		UPDATE {schema}.records SET data = u.data, pruned_at = NULL
		WHERE stream_id = p_stream AND rid = u.rid AND pruned_at IS NOT NULL;
		IF FOUND THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
