package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

func TestService(t *testing.T) {
	db := filepath.Join(t.TempDir(), "service.db")
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		err := run(context.Background(), &out, options{db: db, runFor: 65 * time.Second, statusEvery: 20 * time.Second, connections: 3})
		require.NoError(t, err)
		text := out.String()
		require.Contains(t, text, "Engine running: 3 connections")
		require.Equal(t, 3, strings.Count(text, "CONNECTION"), "a status table every 20s for 65s")
		require.Contains(t, text, "customer-3  SUCCESS")
		require.Contains(t, text, "Engine stopped.")
		tables := strings.Split(text, "CONNECTION")
		last := tables[len(tables)-1]
		// After three churns each customer has 3+3 tickets; the run after the last churn has
		// not happened yet when the table prints, so the counts are 5 or 6.
		require.Regexp(t, `customer-1\s+SUCCESS\s+[56]\s+success`, last)
	})

	// Restarting on the same file resumes: schedules and records are there.
	st, err := bolt.Open(db, nil)
	require.NoError(t, err)
	defer st.Close()
	scheds, err := st.ScheduleList(context.Background(), "helpdesk")
	require.NoError(t, err)
	require.Len(t, scheds, 3)
}

func TestServiceBadOptions(t *testing.T) {
	require.Error(t, run(context.Background(), &bytes.Buffer{}, options{connections: 0, statusEvery: time.Second}))
}
