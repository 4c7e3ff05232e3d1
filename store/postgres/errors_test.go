package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// TestErrorClasses: which failures run a transaction again, and which COMMIT failures leave
// its outcome unknown.
func TestErrorClasses(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	for _, err := range []error{pg("40001"), pg("40P01"), pg("57P01"), pg("08006"), pg("25006"), io.ErrUnexpectedEOF} {
		require.True(t, transient(err), "%v", err)
	}
	badEncoding := &store.RecordError{Model: "m", Index: 3, Reason: "does not encode as JSON", Err: fmt.Errorf("reading: %w", io.ErrUnexpectedEOF)}
	for _, err := range []error{pg("23505"), pg("42P01"), pg("22021"), errors.New("other"), badEncoding,
		fmt.Errorf("wrapped: %w: %w", &store.ParamError{Param: "p", Reason: "bad"}, io.EOF)} {
		require.False(t, transient(err), "%v", err)
	}

	require.True(t, commitOutcomeUnknown(io.ErrUnexpectedEOF), "no answer to COMMIT")
	require.False(t, commitOutcomeUnknown(pg("40001")), "the server answered: rolled back")
	require.True(t, commitOutcomeUnknown(pg("57P01")), "the backend was terminated: maybe after the commit")
	require.True(t, commitOutcomeUnknown(&pgconn.PgError{Severity: "FATAL", Code: "XX000"}), "the session ended")
	var err error = &commitUnknownError{err: io.ErrUnexpectedEOF}
	require.ErrorIs(t, err, ErrCommitUnknown)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Contains(t, err.Error(), "outcome unknown")

	// The store does not run a transaction again after an unknown commit, nor after a
	// permanent error; it stops at once when the context ends.
	s := &Store{opts: Options{MaxRetries: 3}}
	s.log = discardLogger()
	for _, fail := range []error{err, pg("23505")} {
		calls := 0
		got := s.retry(context.Background(), "op", func() error { calls++; return fail })
		require.Equal(t, 1, calls)
		require.ErrorIs(t, got, fail)
	}
	calls := 0
	got := s.retry(context.Background(), "op", func() error { calls++; return pg("40001") })
	require.Equal(t, 4, calls, "the first try and MaxRetries more")
	var te *TransientError
	require.ErrorAs(t, got, &te)
	require.Equal(t, 4, te.Attempts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.retry(ctx, "op", func() error { return pg("40001") }), context.Canceled)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
