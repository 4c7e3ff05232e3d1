package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
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

func TestServiceServesDashboardAndAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type answer struct {
		status int
		body   string
	}
	got := make(chan [2]answer, 1)
	get := func(u string) answer {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return answer{body: err.Error()}
		}
		req.Header.Set("Authorization", "Bearer sk-example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{body: err.Error()}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b)}
	}
	var out bytes.Buffer
	err := run(ctx, &out, options{
		db: filepath.Join(t.TempDir(), "service.db"), statusEvery: time.Hour, connections: 2,
		addr: "127.0.0.1:0", secret: "sk-example",
		onServe: func(base string) {
			got <- [2]answer{get(base + "/ui/"), get(base + "/nango/sync/status?provider_config_key=helpdesk&syncs=*")}
			cancel()
		},
	})
	require.NoError(t, err)
	a := <-got
	require.Equal(t, http.StatusOK, a[0].status, a[0].body)
	require.Contains(t, a[0].body, "customer-2")
	require.Equal(t, http.StatusOK, a[1].status, a[1].body)
	require.Contains(t, a[1].body, `"connection_id":"customer-1"`)
	require.Regexp(t, `Dashboard: http://127\.0\.0\.1:\d+/ui/ \(sign in with the -secret key\); REST API: http://127\.0\.0\.1:\d+/nango/`, out.String())
}
