package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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

// TestServiceEncrypted: with -encryption-key the API serves the tickets in the clear, and the
// bbolt file holds none of their fields in the clear.
func TestServiceEncrypted(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	db := filepath.Join(t.TempDir(), "service.db")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 1)
	call := func(method, u, body string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		req.Header.Set("Authorization", "Bearer sk-example")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connection-Id", "customer-1")
		req.Header.Set("Provider-Config-Key", "helpdesk")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	err := run(ctx, io.Discard, options{
		db: db, statusEvery: time.Hour, connections: 2, addr: "127.0.0.1:0", secret: "sk-example", encKey: key,
		onServe: func(base string) {
			defer cancel()
			// The first runs may have started already (409), else this starts them.
			if code, body := call(http.MethodPost, base+"/nango/sync/trigger", `{"syncs":["tickets"]}`); code != http.StatusOK && code != http.StatusConflict {
				got <- fmt.Sprintf("trigger: %d %s", code, body)
				return
			}
			// The run ends within a few seconds; poll the change feed until it shows.
			for range 500 {
				code, body := call(http.MethodGet, base+"/nango/records?model=Ticket", "")
				if code != http.StatusOK || strings.Contains(body, `"id":"1-002"`) {
					got <- body
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			got <- "no records after 10s"
		},
	})
	require.NoError(t, err)
	body := <-got
	var page struct {
		Records []Ticket `json:"records"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &page), body)
	require.Equal(t, []Ticket{
		{ID: "1-000", Subject: "Cannot log in", Status: "open"},
		{ID: "1-001", Subject: "Invoice missing", Status: "open"},
		{ID: "1-002", Subject: "Export is slow", Status: "open"},
	}, page.Records)

	file, err := os.ReadFile(db)
	require.NoError(t, err)
	require.True(t, bytes.Contains(file, []byte("1-002")), "record ids are not encrypted: the check reads the right file")
	for _, clear := range append([]string{`"subject"`, `"status"`, `"open"`}, subjects...) {
		require.False(t, bytes.Contains(file, []byte(clear)), "%q is in the store in the clear", clear)
	}
}

func TestServiceBadEncryptionKey(t *testing.T) {
	for _, key := range []string{"c2hvcnQ=", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 33))} {
		err := run(t.Context(), io.Discard, options{db: filepath.Join(t.TempDir(), "service.db"), statusEvery: time.Second, connections: 1, encKey: key})
		require.EqualError(t, err, "-encryption-key must be 32 bytes in base64 (openssl rand -base64 32)", "key %q", key)
	}
}

// The keys come from the environment when the command line does not give them, and -help
// never shows them.
func TestServiceFlags(t *testing.T) {
	env := map[string]string{"NANGO_ENCRYPTION_KEY": "a2V5LWZyb20tZW52", "NANGO_SECRET_KEY": "sk-from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	parse := func(args ...string) (options, string, error) {
		fs := flag.NewFlagSet("service", flag.ContinueOnError)
		var out bytes.Buffer
		fs.SetOutput(&out)
		o, err := parseFlags(fs, args, lookup)
		return o, out.String(), err
	}
	o, _, err := parse()
	require.NoError(t, err)
	require.Equal(t, "a2V5LWZyb20tZW52", o.encKey)
	require.Equal(t, "sk-from-env", o.secret)
	o, _, err = parse("-encryption-key", "ZmxhZw==", "-secret", "sk-flag")
	require.NoError(t, err)
	require.Equal(t, "ZmxhZw==", o.encKey, "the flag wins")
	require.Equal(t, "sk-flag", o.secret)
	_, help, err := parse("-help")
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, help, "-encryption-key key")
	require.Contains(t, help, "[NANGO_ENCRYPTION_KEY]")
	require.NotContains(t, help, "a2V5LWZyb20tZW52")
	require.NotContains(t, help, "sk-from-env")

	delete(env, "NANGO_ENCRYPTION_KEY")
	o, _, err = parse()
	require.NoError(t, err)
	require.Empty(t, o.encKey, "unencrypted without the flag or the variable")
}
