package postgres_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestSessionEndedDuringCommit: when the server ends the session while a write's COMMIT runs
// (here a deferred trigger terminates its own backend), the write may have committed: it fails
// with ErrCommitUnknown and is not run again, though the error is one that otherwise would be.
func TestSessionEndedDuringCommit(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	st := store.Stream{Integration: "github", Connection: "c1", Model: "Issue"}
	schema := pgx.Identifier{s.Schema()}.Sanitize()
	_, err := s.Pool().Exec(ctx, fmt.Sprintf(`CREATE SEQUENCE %[1]s.fired;
		CREATE FUNCTION %[1]s.end_session() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM nextval('%[1]s.fired'); PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER end_session AFTER UPDATE ON %[1]s.streams DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION %[1]s.end_session()`, schema))
	require.NoError(t, err)

	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Mode: store.WriteSave,
		Records: []store.RecordInput{{Data: []byte(`{"id":"a"}`)}}})
	require.ErrorIs(t, err, postgres.ErrCommitUnknown)
	var te *postgres.TransientError
	require.False(t, errors.As(err, &te), "run again: %v", err)
	var fired int64
	require.NoError(t, s.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT last_value FROM %s.fired`, schema)).Scan(&fired))
	require.EqualValues(t, 1, fired, "the write ran more than once")
}
