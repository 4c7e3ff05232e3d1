-- The first version of the schema. {schema} is replaced by the quoted schema name.
-- Names are text with the "C" collation, so that ORDER BY sorts them by bytes as Go does;
-- record ids are bytea, kept byte for byte.

CREATE TABLE {schema}.streams (
	id          bigserial PRIMARY KEY,
	integration text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	model       text COLLATE "C" NOT NULL,
	-- seq is the last sequence handed out in the stream; writers lock this row first, so that
	-- sequence order is commit order.
	seq         bigint NOT NULL DEFAULT 0,
	epoch       bigint NOT NULL,
	last_time   timestamptz,
	live        bigint NOT NULL DEFAULT 0,
	deleted     bigint NOT NULL DEFAULT 0,
	-- prune_mark is the sequence up to which every record is pruned (RecordsPrune), so that
	-- pruning does not rescan what it pruned before.
	prune_mark  bigint NOT NULL DEFAULT 0,
	UNIQUE (integration, connection, model)
);

CREATE TABLE {schema}.records (
	stream_id     bigint NOT NULL,
	rid           bytea NOT NULL,
	seq           bigint NOT NULL,
	hash          bigint NOT NULL,
	action        smallint NOT NULL,
	first_seen    timestamptz NOT NULL,
	last_modified timestamptz NOT NULL,
	deleted_at    timestamptz,
	-- pruned_at is set on a record whose payload RecordsPrune removed (data is then empty).
	pruned_at     timestamptz,
	data          bytea NOT NULL,
	PRIMARY KEY (stream_id, rid)
);
-- The change feed: a listing is a range scan of this index.
CREATE UNIQUE INDEX records_feed ON {schema}.records (stream_id, seq);

-- The deletion-tracking windows: the ids written since a sync's last sweep. Rows are copied in
-- without a uniqueness check (an id written twice in a window is there twice), which costs a
-- write a fraction of an upsert; the sweep only asks whether an id is there.
CREATE TABLE {schema}.windows (
	stream_id bigint NOT NULL,
	sync      text COLLATE "C" NOT NULL,
	rid       bytea NOT NULL
);
CREATE INDEX windows_key ON {schema}.windows (stream_id, sync, rid);

CREATE TABLE {schema}.checkpoints (
	integration text COLLATE "C" NOT NULL,
	sync        text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	data        bytea NOT NULL,
	version     bigint NOT NULL,
	updated_at  timestamptz,
	PRIMARY KEY (integration, sync, connection)
);

CREATE TABLE {schema}.runs (
	id          text COLLATE "C" PRIMARY KEY,
	ord         bigserial NOT NULL,
	integration text COLLATE "C" NOT NULL,
	sync        text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	state       text NOT NULL,
	data        bytea NOT NULL
);
CREATE INDEX runs_key ON {schema}.runs (integration, sync, connection, ord);
CREATE INDEX runs_conn ON {schema}.runs (integration, connection);

CREATE TABLE {schema}.connections (
	integration text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	data        bytea NOT NULL,
	PRIMARY KEY (integration, id)
);

CREATE TABLE {schema}.leases (
	integration text COLLATE "C" NOT NULL,
	sync        text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	owner       text COLLATE "C" NOT NULL,
	token       bigint NOT NULL,
	expires_at  timestamptz NOT NULL,
	active      boolean NOT NULL,
	PRIMARY KEY (integration, sync, connection)
);

CREATE TABLE {schema}.schedules (
	integration text COLLATE "C" NOT NULL,
	sync        text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	next_run_at timestamptz,
	data        bytea NOT NULL,
	PRIMARY KEY (integration, sync, connection)
);
CREATE INDEX schedules_conn ON {schema}.schedules (integration, connection);

CREATE TABLE {schema}.outbox (
	id              text COLLATE "C" PRIMARY KEY,
	state           text NOT NULL,
	run_id          text COLLATE "C" NOT NULL,
	endpoint        text NOT NULL,
	next_attempt_at timestamptz,
	delivered_at    timestamptz,
	last_attempt_at timestamptz,
	data            bytea NOT NULL
);
CREATE INDEX outbox_due ON {schema}.outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_run ON {schema}.outbox (run_id);

CREATE TABLE {schema}.consumers (
	consumer    text COLLATE "C" NOT NULL,
	integration text COLLATE "C" NOT NULL,
	connection  text COLLATE "C" NOT NULL,
	model       text COLLATE "C" NOT NULL,
	cursor      text COLLATE "C" NOT NULL,
	updated_at  timestamptz,
	PRIMARY KEY (consumer, integration, connection, model)
);
CREATE INDEX consumers_stream ON {schema}.consumers (integration, connection);

-- records_update applies a chunk of changes to existing records, one primary-key update per
-- record: a plan that cannot turn into a scan of the stream, whatever the statistics say. NULL
-- first_seen and data keep the record's own. A record written with a new payload is no longer
-- pruned; a deleted one keeps its pruned_at with its payload.
CREATE FUNCTION {schema}.records_update(p_stream bigint, p_now timestamptz, p_rid bytea[], p_seq bigint[], p_hash bigint[],
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

-- records_delete marks records deleted, each with its sequence number, as records_update does.
CREATE FUNCTION {schema}.records_delete(p_stream bigint, p_now timestamptz, p_rid bytea[], p_seq bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := 0;
	u record;
BEGIN
	FOR u IN SELECT * FROM unnest(p_rid, p_seq) AS t(rid, seq) LOOP
		UPDATE {schema}.records SET seq = u.seq, action = 3, last_modified = p_now, deleted_at = p_now
		WHERE stream_id = p_stream AND rid = u.rid AND deleted_at IS NULL;
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
