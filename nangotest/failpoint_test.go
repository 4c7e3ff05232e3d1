package nangotest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/stretchr/testify/require"
)

func initial(t testing.TB) *nangotest.Harness {
	return nangotest.New(t, crm(syncContacts), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
}

func TestRequestFailpoints(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fp         nangotest.Failpoint
		wantStatus int
		wantSleeps int
	}{
		"5xx is retried":          {nangotest.FailRequest(2, http.StatusBadGateway), http.StatusBadGateway, 1},
		"network error":           {nangotest.FailRequestNetwork(2), 0, 1},
		"429 waits as told":       {nangotest.RateLimitRequest(2, 90*time.Second), http.StatusTooManyRequests, 1},
		"429 rounds up a seconds": {nangotest.RateLimitRequest(2, 1500*time.Millisecond), http.StatusTooManyRequests, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := initial(t)
			res := h.Run(nangotest.WithFailpoints(tc.fp))
			require.Equal(t, 5, res.Models["Contact"].Added)
			require.Len(t, res.Requests, 4, "the failed request was sent again")
			failed := res.Requests[1]
			require.Equal(t, tc.fp.String(), failed.Failpoint)
			require.Equal(t, tc.wantStatus, failed.Status)
			require.Equal(t, failed.Query, res.Requests[2].Query)
			require.Empty(t, res.Requests[2].Failpoint)
			require.Len(t, h.Clock().Slept(), tc.wantSleeps)
			if tc.wantStatus == 0 {
				require.Contains(t, failed.Err, "connection reset")
			}
		})
	}

	h := initial(t)
	h.Run(nangotest.WithFailpoints(nangotest.RateLimitRequest(1, 90*time.Second)))
	require.Equal(t, []time.Duration{90 * time.Second}, h.Clock().Slept())
	h = initial(t)
	h.Run(nangotest.WithFailpoints(nangotest.RateLimitRequest(1, 1500*time.Millisecond)))
	require.Equal(t, []time.Duration{2 * time.Second}, h.Clock().Slept())

	// A 404 is not retried: the run fails, and the next one starts over.
	h = initial(t)
	res := h.RunFailing(nangotest.WithFailpoints(nangotest.FailRequest(1, http.StatusNotFound)), nangotest.AllowUnusedFixtures())
	var apiErr *nango.APIError
	require.ErrorAs(t, res.Err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	require.Equal(t, nango.RunFailed, res.State)
	require.Empty(t, res.AddedIDs("Contact"))
	require.Equal(t, 5, h.Run().Models["Contact"].Added)
}

func TestBatchSaveFailpoints(t *testing.T) {
	t.Parallel()
	h := initial(t)
	res := h.RunFailing(nangotest.WithFailpoints(nangotest.FailBatchSave(2)), nangotest.AllowUnusedFixtures())
	require.ErrorIs(t, res.Err, nangotest.ErrFailpoint)
	require.False(t, res.Crashed)
	require.Equal(t, []string{"c1", "c2"}, res.AddedIDs("Contact"), "the first page was committed, the second not")
	cp, _ := nangotest.CheckpointAs[contactsCheckpoint](res)
	require.Equal(t, "p2", cp.Cursor)

	res = h.Run(nangotest.AllowUnusedFixtures())
	require.Equal(t, []string{"c3", "c4", "c5"}, res.AddedIDs("Contact"))
	require.Equal(t, "p2", res.Requests[0].Query.Get("cursor"), "the next run resumes after the last page committed")
}

func TestCrashAfterBatchSave(t *testing.T) {
	t.Parallel()
	h := initial(t)
	before := h.Engine()
	res := h.RunFailing(nangotest.WithFailpoints(nangotest.CrashAfterBatchSave(1)), nangotest.AllowUnusedFixtures())
	require.True(t, res.Crashed)
	require.ErrorIs(t, res.Err, nangotest.ErrCrashed)
	require.Equal(t, 1, res.Saves, "the sync stopped at the crash")
	require.Equal(t, []string{"c1", "c2"}, res.AddedIDs("Contact"), "the batch before the crash is committed")
	cp, _ := nangotest.CheckpointAs[contactsCheckpoint](res)
	require.Equal(t, "p2", cp.Cursor, "with its checkpoint")

	// The run's end was never recorded: it is left running, as after a real crash.
	runs, err := h.Engine().RunHistory(t.Context(), nango.RunHistoryParams{Integration: "crm", Sync: "contacts", Connection: h.Connection()})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, nango.RunRunning, runs[0].State)

	start := h.Clock().Now()
	res = h.Run(nangotest.AllowUnusedFixtures())
	require.NotSame(t, before, h.Engine(), "the next run is a restarted process")
	require.True(t, res.Initial, "no run succeeded before")
	require.GreaterOrEqual(t, res.StartedAt.Sub(start), 30*time.Second, "it waited for the crashed run's lease to expire")
	require.Equal(t, []string{"c3", "c4", "c5"}, res.AddedIDs("Contact"))
	require.Empty(t, res.UpdatedIDs("Contact"))
}

// checkpointFirst is a sync with the classic bug: it saves the checkpoint before the records
// it covers.
func checkpointFirst(ctx context.Context, n *nango.Nango) error {
	var cp contactsCheckpoint
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	for {
		q := map[string][]string{"limit": {"2"}}
		if cp.Cursor != "" {
			q["cursor"] = []string{cp.Cursor}
		}
		resp, err := n.Get(ctx, &nango.Request{Path: "/v1/contacts", Query: q})
		if err != nil {
			return err
		}
		var page struct {
			Contacts   []Contact `json:"contacts"`
			NextCursor string    `json:"next_cursor"`
		}
		if err := resp.Decode(&page); err != nil {
			return err
		}
		cp.Cursor = page.NextCursor
		if err := n.SaveCheckpoint(ctx, cp); err != nil {
			return err
		}
		if err := n.BatchSave(ctx, page.Contacts, "Contact"); err != nil {
			return err
		}
		if cp.Cursor == "" {
			return n.ClearCheckpoint(ctx)
		}
	}
}

// swallowErrors is a sync that logs BatchSave errors and carries on.
func swallowErrors(ctx context.Context, n *nango.Nango) error {
	if err := syncContacts(ctx, n); err != nil && !errors.Is(err, nangotest.ErrCrashed) {
		n.Logger().Warn("ignoring", "error", err)
	}
	return nil
}

func TestCheckCrashRecoveryFindsLostRecords(t *testing.T) {
	t.Parallel()
	ft := newFakeTB(t)
	ft.run(func() {
		nangotest.CheckCrashRecovery(ft, func(tb testing.TB) *nangotest.Harness {
			in := crm(checkpointFirst)
			return nangotest.New(tb, in, &nangotest.Options{Fixtures: "testdata/contacts/initial.json", NoValidate: true})
		})
	})
	out := ft.all()
	require.Contains(t, out, `the process crashes after commit 2 (SaveCheckpoint), then a run to recover: model Contact: record "c1" is lost`,
		"a crash between the checkpoint and the records it covers loses them")
	require.Contains(t, out, `commit 3 fails (BatchSave of Contact), then a run to recover: model Contact: record "c1" is lost`)
	require.Contains(t, out, `commit 5 fails (BatchSave of Contact), then a run to recover: model Contact: record "c3" is lost`)
	require.NotContains(t, out, "crashes after commit 3", "a crash after a BatchSave loses nothing here")

	ft = newFakeTB(t)
	ft.run(func() {
		nangotest.CheckCrashRecovery(ft, func(tb testing.TB) *nangotest.Harness {
			return nangotest.New(tb, crm(swallowErrors), &nangotest.Options{Fixtures: "testdata/contacts/initial.json"})
		})
	})
	require.Contains(t, ft.all(), "commit 2 fails (BatchSave of Contact with the checkpoint): the run succeeded; the sync ignores the error the write returned")
}

// deletionsFirst applies a page of deletions with the checkpoint that covers the whole page,
// and then saves the page's records: a crash between the two loses the records. Only a crash
// at the BatchDelete finds it.
func deletionsFirst(ctx context.Context, n *nango.Nango) error {
	var cp contactsCheckpoint
	if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
		return err
	}
	if cp.Since != "" {
		return nil
	}
	resp, err := n.Get(ctx, &nango.Request{Path: "/v1/changes"})
	if err != nil {
		return err
	}
	var page struct {
		Deleted []string  `json:"deleted"`
		Changed []Contact `json:"changed"`
	}
	if err := resp.Decode(&page); err != nil {
		return err
	}
	if err := n.BatchDelete(ctx, page.Deleted, "Contact", nango.WithCheckpoint(contactsCheckpoint{Since: "done"})); err != nil {
		return err
	}
	return n.BatchSave(ctx, page.Changed, "Contact")
}

func TestEveryCommitIsACrashPoint(t *testing.T) {
	t.Parallel()
	changes := nangotest.JSONFixture("GET", "/v1/changes", 200, map[string]any{
		"deleted": []string{"gone"}, "changed": []Contact{{ID: "c1", Name: "Ada"}},
	})
	h := nangotest.New(t, crm(deletionsFirst), nil)
	res := h.Run(nangotest.WithInteractions(changes))
	require.Equal(t, []string{"the run's start", "BatchDelete of Contact with the checkpoint", "BatchSave of Contact", "the run's end with its webhooks"}, res.Commits)
	require.Equal(t, 1, res.Saves)

	ft := newFakeTB(t)
	ft.run(func() {
		nangotest.CheckCrashRecovery(ft, func(tb testing.TB) *nangotest.Harness {
			return nangotest.New(tb, crm(deletionsFirst), nil)
		}, nangotest.WithInteractions(changes))
	})
	out := ft.all()
	require.Contains(t, out, `the process crashes after commit 2 (BatchDelete of Contact with the checkpoint), then a run to recover: model Contact: record "c1" is lost`)
	require.Contains(t, out, "the two runs made 0 additions, 0 updates and 0 deletions; a clean run makes 1, 0 and 0 (changes are missing)")
	require.NotContains(t, out, "commit 1", "a crash or a failure at the run's start loses nothing")
	require.NotContains(t, out, "commit 4", "nor at its end")

	// The TrackDeletes sweep and a reset are commits too.
	in := crm(func(ctx context.Context, n *nango.Nango) error {
		return n.BatchSave(ctx, []Contact{{ID: "c1", Name: "Ada"}}, "Contact")
	})
	in.Syncs[0].TrackDeletes = true
	h = nangotest.New(t, in, nil)
	res = h.Run(nangotest.WithRunOptions(nango.RunOptions{Reset: true, EmptyCache: true}))
	require.Equal(t, []string{"the reset of the checkpoint", "the reset of deletion tracking of Contact", "EmptyCache of Contact",
		"the run's start", "BatchSave of Contact", "the TrackDeletes sweep of Contact", "the run's end with its webhooks"}, res.Commits)

	// A failure before the run starts is a failed run, and the next one starts afresh.
	res = h.RunFailing(nangotest.WithFailpoints(nangotest.FailCommit(1)))
	require.ErrorIs(t, res.Err, nangotest.ErrFailpoint)
	require.Equal(t, nango.RunFailed, res.State)
	res = h.RunFailing(nangotest.WithFailpoints(nangotest.CrashAfterCommit(1)))
	require.True(t, res.Crashed)
	require.ErrorContains(t, res.Err, "after commit 1, the run's start")
	h.Run()
}

func TestCheckCrashRecoveryPassesAGoodSync(t *testing.T) {
	t.Parallel()
	nothingNew := nangotest.JSONFixture("GET", "/v1/contacts?limit=2&updated_since=2025-01-01T10:30:00Z", 200, map[string]any{"contacts": []any{}})
	nangotest.CheckCrashRecovery(t, initial, nangotest.WithInteractions(nothingNew))
}

func TestProviderAnswersTheRunsThatRecover(t *testing.T) {
	t.Parallel()
	// The resumed run asks for a cursor the clean run never sent with these parameters; the
	// fake answers it, and the check finds the records the checkpoint-first sync loses.
	ft := newFakeTB(t)
	ft.run(func() {
		nangotest.CheckCrashRecovery(ft, func(tb testing.TB) *nangotest.Harness {
			return nangotest.New(tb, crm(checkpointFirst), &nangotest.Options{Provider: newStatefulCRM(5), NoValidate: true})
		})
	})
	out := ft.all()
	require.Contains(t, out, `the process crashes after commit 2 (SaveCheckpoint), then a run to recover: model Contact: record "c1" is lost`)
	require.NotContains(t, out, "no fixture")
	require.NotContains(t, out, "next run failed")
}

func TestRecordFromProviderThenReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	api := newStatefulCRM(3)
	h := nangotest.New(t, crm(syncContacts), &nangotest.Options{Provider: api, Fixtures: dir + "/initial.json", Record: true})
	recorded := h.Run()
	require.Equal(t, []string{"c1", "c2", "c3"}, recorded.AddedIDs("Contact"))

	// Without Record, the fixtures are replayed and the provider is not called.
	h = nangotest.New(t, crm(syncContacts), &nangotest.Options{Provider: http.NotFoundHandler(), Fixtures: dir + "/initial.json"})
	replayed := h.Run()
	require.Equal(t, []string{"c1", "c2", "c3"}, replayed.AddedIDs("Contact"))
	require.Len(t, replayed.Requests, 2)
	require.Equal(t, dir+"/initial.json interaction 1", replayed.Requests[0].Fixture)
}
