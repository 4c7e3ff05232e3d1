package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

// section returns the lines of the output from "Run n " up to the next blank line.
func section(t *testing.T, out string, n int) []string {
	t.Helper()
	start := strings.Index(out, fmt.Sprintf("Run %d (", n))
	require.GreaterOrEqual(t, start, 0, "no section for run %d in:\n%s", n, out)
	block, _, _ := strings.Cut(out[start:], "\n\n")
	return strings.Split(block, "\n")
}

var recordLine = regexp.MustCompile(`^\s+(ADDED|UPDATED|DELETED)\s+(ct_\d{3})\s`)

// feed returns the record lines of a section as id -> action, in order.
func feed(lines []string) (ids []string, actions map[string]string) {
	actions = map[string]string{}
	for _, l := range lines {
		if m := recordLine.FindStringSubmatch(l); m != nil {
			ids = append(ids, m[2])
			actions[m[2]] = m[1]
		}
	}
	return ids, actions
}

func lineWith(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", prefix, strings.Join(lines, "\n"))
	return ""
}

func TestRun(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	before, err := os.ReadDir(wd)
	require.NoError(t, err)

	dbPath := filepath.Join(t.TempDir(), "quickstart.db")
	var buf bytes.Buffer
	require.NoError(t, run(t.Context(), &buf, dbPath))
	out := buf.String()
	t.Log("\n" + out)

	require.Contains(t, out, "Fake CRM with 25 contacts. Store: bbolt file "+dbPath+".")

	run1 := section(t, out, 1)
	require.Equal(t, "Run 1 (initial, no checkpoint)", run1[0])
	require.Equal(t, "API:    25 contacts in 3 pages, 0 deleted ids", lineWith(t, run1, "API:"))
	require.Equal(t, "result: added 25, updated 0, deleted 0, unchanged 0", lineWith(t, run1, "result:"))
	require.Equal(t, "feed:   25 records since the start: 25 ADDED", lineWith(t, run1, "feed:"))
	ids, _ := feed(run1)
	require.Equal(t, []string{"ct_001", "ct_002", "ct_003"}, ids, "run 1 shows the first three records")

	run2 := section(t, out, 2)
	require.Equal(t, "Run 2 (checkpoint: updated_after 2025-01-06T09:25:00Z)", run2[0])
	require.Equal(t, "result: added 3, updated 2, deleted 1, unchanged 1", lineWith(t, run2, "result:"))
	require.Equal(t, "feed:   6 records since the last cursor: 3 ADDED, 2 UPDATED, 1 DELETED", lineWith(t, run2, "feed:"))
	ids, actions := feed(run2)
	require.Equal(t, []string{"ct_026", "ct_027", "ct_028", "ct_003", "ct_007", "ct_012"}, ids, "feed order is change order")
	require.Equal(t, map[string]string{
		"ct_026": "ADDED", "ct_027": "ADDED", "ct_028": "ADDED",
		"ct_003": "UPDATED", "ct_007": "UPDATED",
		"ct_012": "DELETED",
	}, actions)

	run3 := section(t, out, 3)
	require.Equal(t, "result: added 1, updated 1, deleted 1, unchanged 2", lineWith(t, run3, "result:"))
	require.Equal(t, "feed:   3 records since the last cursor: 1 ADDED, 1 UPDATED, 1 DELETED", lineWith(t, run3, "feed:"))
	ids, actions = feed(run3)
	require.Equal(t, []string{"ct_029", "ct_026", "ct_027"}, ids)
	require.Equal(t, map[string]string{"ct_029": "ADDED", "ct_026": "UPDATED", "ct_027": "DELETED"}, actions)
	require.NotContains(t, strings.Join(run3, "\n"), "ct_005", "a touched but unchanged contact is not in the feed")

	// The program left nothing in the working directory.
	after, err := os.ReadDir(wd)
	require.NoError(t, err)
	require.Equal(t, names(before), names(after))

	// The store was closed and holds the synced contacts.
	checkStore(t, dbPath)
}

// checkStore reopens the store the program left and reads its final state.
func checkStore(t *testing.T, dbPath string) {
	t.Helper()
	st, err := bolt.Open(dbPath, &bolt.Options{Timeout: 100 * time.Millisecond})
	require.NoError(t, err, "run must close the store")
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	eng, err := nango.NewEngine(st, nil)
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: integrationKey, Syncs: []nango.SyncConfig{{
		Name:   syncName,
		Models: []nango.Model{nango.ModelOf[Contact](modelName)},
		Sync:   nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil }),
	}}}))
	live, deleted := 0, []string{}
	for rec, err := range nango.RecordsOf[Contact](t.Context(), eng, nango.ListRecordsParams{
		Integration: integrationKey, Connection: connectionID, Model: modelName,
	}) {
		require.NoError(t, err)
		if rec.Metadata.LastAction == nango.ActionDeleted {
			deleted = append(deleted, rec.ID)
		} else {
			live++
		}
	}
	require.Equal(t, 27, live, "25 + 3 + 1 added, 2 deleted")
	require.ElementsMatch(t, []string{"ct_012", "ct_027"}, deleted)
}

// Without -db the store lives in a temporary directory that run removes.
func TestRunRemovesTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var buf bytes.Buffer
	require.NoError(t, run(t.Context(), &buf, ""))
	require.Contains(t, buf.String(), "Store: a bbolt file in a temporary directory (removed at exit).")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, names(left))
}

func TestRunRefusesExistingDB(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "old.db")
	require.NoError(t, os.WriteFile(dbPath, []byte("x"), 0o600))
	err := run(t.Context(), &bytes.Buffer{}, dbPath)
	require.ErrorContains(t, err, "already exists")
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := run(ctx, &bytes.Buffer{}, filepath.Join(t.TempDir(), "q.db"))
	require.ErrorIs(t, err, context.Canceled)
}

func names(entries []os.DirEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name()
	}
	return out
}
