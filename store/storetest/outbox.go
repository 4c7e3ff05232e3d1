package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// outboxTests check RunFinish and the webhook outbox.
func outboxTests() []test {
	return []test{
		{"RunFinishAtomic", testOutboxRunFinishAtomic},
		{"RunFinishInvalid", testOutboxRunFinishInvalid},
		{"ClaimDueInOrder", testOutboxClaimOrder},
		{"ClaimExpires", testOutboxClaimExpires},
		{"ClaimSkipsEndpoints", testOutboxClaimSkipsEndpoints},
		{"Settle", testOutboxSettle},
		{"Requeue", testOutboxRequeue},
		{"ListAndPrune", testOutboxListPrune},
		{"PruneByCount", testOutboxPruneCount},
		{"Persistence", testOutboxPersistence},
	}
}

// entry returns a new outbox entry for run.
func entry(id string, run *store.Run, body string) *store.OutboxEntry {
	return &store.OutboxEntry{ID: id, Endpoint: "https://hooks.example.com/" + id, Body: []byte(body), RunID: run.ID, Key: run.Key, Model: "issues"}
}

// finishedRun inserts a running run and returns it finished at at(n), successfully.
func finishedRun(t *testing.T, s store.Store, id string, n int) *store.Run {
	t.Helper()
	run := newRun(id, syncKey, n)
	require.NoError(t, s.RunInsert(t.Context(), run))
	run.State, run.EndedAt = store.RunSucceeded, at(n+1)
	run.Results = map[string]store.ModelResult{"issues": {Added: 1}}
	return run
}

func claim(t *testing.T, s store.Store, n int, limit int) []*store.OutboxEntry {
	t.Helper()
	got, err := s.OutboxClaim(t.Context(), &store.OutboxClaimParams{Owner: "worker-1", Now: at(n), Limit: limit, TTL: time.Minute})
	require.NoError(t, err)
	require.NotNil(t, got)
	return got
}

func entryIDs(es []*store.OutboxEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func outboxStats(t *testing.T, s store.Store) store.OutboxStats {
	t.Helper()
	st, err := s.OutboxStats(t.Context())
	require.NoError(t, err)
	return *st
}

func testOutboxRunFinishAtomic(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	body := `{"b":1,"a":[true,null]}  ` // kept byte for byte, not canonicalised
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{
		entry("wh-1", run, body), entry("wh-2", run, `{}`),
	}}))
	got, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	requireRun(t, run, got)
	last, err := s.RunLastSuccess(t.Context(), syncKey)
	require.NoError(t, err)
	require.Equal(t, "run-1", last.ID, "RunFinish records a success like RunUpdate")

	e, err := s.OutboxGet(t.Context(), "wh-1")
	require.NoError(t, err)
	require.Equal(t, body, string(e.Body))
	require.Equal(t, store.OutboxPending, e.State)
	require.Equal(t, "run-1", e.RunID)
	require.Equal(t, syncKey, e.Key)
	require.Equal(t, "issues", e.Model)
	require.Zero(t, e.Attempts)
	requireTime(t, at(1), e.CreatedAt, "created at defaults to the run's end")
	requireTime(t, at(1), e.QueuedAt, "queued at")
	requireTime(t, at(1), e.NextAttemptAt, "due at once")
	require.Equal(t, store.OutboxStats{Pending: 2, NextAttemptAt: e.NextAttemptAt}, outboxStats(t, s))

	// The store keeps its own copy.
	e.Body[0] = 'X'
	again, err := s.OutboxGet(t.Context(), "wh-1")
	require.NoError(t, err)
	require.Equal(t, body, string(again.Body))

	// A run finished without entries.
	run2 := finishedRun(t, s, "run-2", 5)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run2}))
	require.Equal(t, 2, outboxStats(t, s).Pending)
}

func testOutboxRunFinishInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	bad := []struct {
		name    string
		entries []*store.OutboxEntry
	}{
		{"no endpoint", []*store.OutboxEntry{entry("wh-1", run, "{}"), {ID: "wh-2", Body: []byte("{}")}}},
		{"no id", []*store.OutboxEntry{{Endpoint: "https://x.example.com", Body: []byte("{}")}}},
		{"duplicate id", []*store.OutboxEntry{entry("wh-1", run, "{}"), entry("wh-1", run, "{}")}},
		{"not pending", []*store.OutboxEntry{{ID: "wh-1", Endpoint: "https://x.example.com", State: store.OutboxDelivered}}},
		{"nil entry", []*store.OutboxEntry{nil}},
	}
	for _, tc := range bad {
		err := s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: tc.entries})
		requireParamError(t, err, tc.name)
	}
	requireParamError(t, s.RunFinish(t.Context(), nil), "nil params")
	got, err := s.RunGet(t.Context(), "run-1")
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, got.State, "a rejected RunFinish does not record the run's end")
	require.Equal(t, store.OutboxStats{}, outboxStats(t, s), "nor any entry")

	// An unknown run writes no entry.
	ghost := newRun("ghost", syncKey, 0)
	err = s.RunFinish(t.Context(), &store.RunFinishParams{Run: ghost, Outbox: []*store.OutboxEntry{entry("wh-9", ghost, "{}")}})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.OutboxGet(t.Context(), "wh-9")
	require.ErrorIs(t, err, store.ErrNotFound)

	// An id already in the outbox fails the whole finish.
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{entry("wh-1", run, "{}")}}))
	run2 := finishedRun(t, s, "run-2", 5)
	err = s.RunFinish(t.Context(), &store.RunFinishParams{Run: run2, Outbox: []*store.OutboxEntry{entry("wh-2", run2, "{}"), entry("wh-1", run2, "{}")}})
	requireParamError(t, err, "an id already used")
	_, err = s.OutboxGet(t.Context(), "wh-2")
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err = s.RunGet(t.Context(), "run-2")
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, got.State)
}

func testOutboxClaimOrder(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	var entries []*store.OutboxEntry
	// Due at at(10), at(9), ..., at(1): due order is the reverse of id order.
	for i := range 10 {
		e := entry(fmt.Sprintf("wh-%02d", i), run, "{}")
		e.NextAttemptAt = at(10 - i)
		entries = append(entries, e)
	}
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: entries}))
	require.Empty(t, claim(t, s, 0, 0), "nothing is due yet")
	got := claim(t, s, 5, 3)
	require.Equal(t, []string{"wh-09", "wh-08", "wh-07"}, entryIDs(got), "earliest due first, at most the limit")
	for _, e := range got {
		require.Equal(t, uint64(1), e.ClaimToken)
		require.Equal(t, "worker-1", e.ClaimedBy)
		requireTime(t, at(5).Add(time.Minute), e.NextAttemptAt, "claimed until")
		require.Equal(t, store.OutboxPending, e.State)
	}
	require.Equal(t, []string{"wh-06", "wh-05"}, entryIDs(claim(t, s, 5, 0)), "claimed entries are not due again")
	require.Empty(t, claim(t, s, 5, 0))

	// Ties on the due time go by id.
	run2 := finishedRun(t, s, "run-2", 20)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run2, Outbox: []*store.OutboxEntry{
		entry("wh-b", run2, "{}"), entry("wh-a", run2, "{}"), entry("wh-c", run2, "{}"),
	}}))
	got = claim(t, s, 21, 0)
	require.Equal(t, []string{"wh-04", "wh-03", "wh-02", "wh-01", "wh-00", "wh-a", "wh-b", "wh-c"}, entryIDs(got))

	for _, p := range []*store.OutboxClaimParams{nil, {TTL: 0}, {TTL: time.Second, Limit: -1}, {TTL: time.Second, Limit: store.MaxClaimLimit + 1}} {
		_, err := s.OutboxClaim(t.Context(), p)
		requireParamError(t, err, "claim %+v", p)
	}
}

// A claim passes over the entries of the endpoints it is told to skip, and they stay due.
func testOutboxClaimSkipsEndpoints(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	var entries []*store.OutboxEntry
	for i := range 6 {
		e := entry(fmt.Sprintf("wh-%d", i), run, "{}")
		e.Endpoint = "https://slow.example.com/hook"
		if i%2 == 1 {
			e.Endpoint = "https://fast.example.com/hook"
		}
		e.NextAttemptAt = at(1 + i)
		entries = append(entries, e)
	}
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: entries}))
	got, err := s.OutboxClaim(t.Context(), &store.OutboxClaimParams{Owner: "w", Now: at(10), Limit: 2, TTL: time.Minute,
		SkipEndpoints: []string{"https://slow.example.com/hook"}})
	require.NoError(t, err)
	require.Equal(t, []string{"wh-1", "wh-3"}, entryIDs(got), "the slow endpoint's earlier entries are passed over")
	require.Equal(t, []string{"wh-0", "wh-2", "wh-4", "wh-5"}, entryIDs(claim(t, s, 10, 0)), "skipped entries stay due")

	_, err = s.OutboxClaim(t.Context(), &store.OutboxClaimParams{TTL: time.Second, SkipEndpoints: make([]string, store.MaxClaimLimit+1)})
	requireParamError(t, err, "too many endpoints to skip")
}

func testOutboxClaimExpires(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{entry("wh-1", run, "{}")}}))
	first := claim(t, s, 1, 0)
	require.Len(t, first, 1)
	require.Empty(t, claim(t, s, 60, 0), "claimed until at(1)+1m")
	second := claim(t, s, 61, 0)
	require.Len(t, second, 1, "a claim that was never settled expires: the worker died")
	require.Greater(t, second[0].ClaimToken, first[0].ClaimToken)

	// The first worker comes back: its outcome is refused.
	_, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: first[0].ClaimToken, Now: at(62), State: store.OutboxDelivered})
	require.ErrorIs(t, err, store.ErrClaimLost)
	e, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: second[0].ClaimToken, Now: at(62), State: store.OutboxDelivered, Status: 200})
	require.NoError(t, err)
	require.Equal(t, store.OutboxDelivered, e.State)
	require.Equal(t, 1, e.Attempts)
}

func testOutboxSettle(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{
		entry("wh-1", run, "{}"), entry("wh-2", run, "{}"), entry("wh-3", run, "{}"),
	}}))
	got := claim(t, s, 1, 0)
	require.Len(t, got, 3)
	token := got[0].ClaimToken

	// A retry: pending again, due later, the attempt counted.
	e, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: token, Now: at(2), State: store.OutboxPending,
		NextAttemptAt: at(30), Status: 503, Error: "receiver answered 503 Service Unavailable"})
	require.NoError(t, err)
	require.Equal(t, store.OutboxPending, e.State)
	require.Equal(t, 1, e.Attempts)
	require.Equal(t, 503, e.LastStatus)
	require.Equal(t, "receiver answered 503 Service Unavailable", e.LastError)
	requireTime(t, at(2), e.LastAttemptAt, "last attempt")
	requireTime(t, at(30), e.NextAttemptAt, "next attempt")
	_, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: token, Now: at(3), State: store.OutboxDelivered})
	require.ErrorIs(t, err, store.ErrClaimLost, "settled: the claim is spent")

	e, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-2", ClaimToken: token, Now: at(3), State: store.OutboxDelivered, Status: 204})
	require.NoError(t, err)
	require.Equal(t, store.OutboxDelivered, e.State)
	requireTime(t, at(3), e.DeliveredAt, "delivered at")
	_, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-2", ClaimToken: token, Now: at(4), State: store.OutboxDead})
	require.ErrorIs(t, err, store.ErrClaimLost, "delivered entries are final")

	e, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-3", ClaimToken: token, Now: at(4), State: store.OutboxDead, Status: 410, Error: "gone"})
	require.NoError(t, err)
	require.Equal(t, store.OutboxDead, e.State)
	require.Equal(t, "gone", e.LastError)

	require.Equal(t, store.OutboxStats{Pending: 1, Delivered: 1, Dead: 1, NextAttemptAt: at(30)}, normStats(outboxStats(t, s)))
	require.Empty(t, claim(t, s, 29, 0))
	got = claim(t, s, 30, 0)
	require.Equal(t, []string{"wh-1"}, entryIDs(got))
	require.Equal(t, 1, got[0].Attempts)

	_, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "nope", State: store.OutboxDead})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: got[0].ClaimToken, State: "lost"})
	requireParamError(t, err, "unknown state")
}

// normStats returns st with its time in UTC, for comparisons.
func normStats(st store.OutboxStats) store.OutboxStats {
	st.NextAttemptAt = st.NextAttemptAt.UTC()
	return st
}

func testOutboxRequeue(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{entry("wh-1", run, "{}")}}))
	got := claim(t, s, 1, 0)
	_, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: got[0].ClaimToken, Now: at(2), State: store.OutboxDead, Status: 400, Error: "bad request"})
	require.NoError(t, err)
	require.Empty(t, claim(t, s, 100, 0), "dead entries are never due")

	e, err := s.OutboxRequeue(t.Context(), &store.OutboxRequeueParams{ID: "wh-1", Now: at(50)})
	require.NoError(t, err)
	require.Equal(t, store.OutboxPending, e.State)
	require.Zero(t, e.Attempts, "a fresh round of attempts")
	requireTime(t, at(50), e.QueuedAt, "queued at")
	requireTime(t, at(50), e.NextAttemptAt, "due at once")
	requireTime(t, at(1), e.CreatedAt, "created at stays")
	require.Equal(t, "bad request", e.LastError, "the last error stays until the next attempt")
	require.Equal(t, store.OutboxStats{Pending: 1, NextAttemptAt: at(50)}, normStats(outboxStats(t, s)))

	// Requeueing a claimed entry invalidates the claim.
	got = claim(t, s, 50, 0)
	require.Len(t, got, 1)
	_, err = s.OutboxRequeue(t.Context(), &store.OutboxRequeueParams{ID: "wh-1", Now: at(51)})
	require.NoError(t, err)
	_, err = s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-1", ClaimToken: got[0].ClaimToken, Now: at(52), State: store.OutboxDelivered})
	require.ErrorIs(t, err, store.ErrClaimLost)
	require.Len(t, claim(t, s, 51, 0), 1)

	_, err = s.OutboxRequeue(t.Context(), &store.OutboxRequeueParams{ID: "nope"})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testOutboxListPrune(t *testing.T, su *suite) {
	s := su.open(t)
	run1 := finishedRun(t, s, "run-1", 0)
	run2 := finishedRun(t, s, "run-2", 10)
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run1, Outbox: []*store.OutboxEntry{
		entry("wh-1", run1, "{}"), entry("wh-2", run1, "{}"), entry("wh-3", run1, "{}"),
	}}))
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run2, Outbox: []*store.OutboxEntry{
		entry("wh-4", run2, "{}"), entry("wh-5", run2, "{}"),
	}}))
	got := claim(t, s, 20, 0)
	settle := func(id string, n int, state store.OutboxState) {
		t.Helper()
		_, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: id, ClaimToken: got[0].ClaimToken, Now: at(n), State: state})
		require.NoError(t, err)
	}
	settle("wh-1", 21, store.OutboxDelivered)
	settle("wh-2", 30, store.OutboxDelivered)
	settle("wh-3", 21, store.OutboxDead)
	settle("wh-4", 30, store.OutboxDead)

	listIDs := func(p store.OutboxListParams) []string {
		t.Helper()
		es, err := s.OutboxList(t.Context(), &p)
		require.NoError(t, err)
		require.NotNil(t, es)
		return entryIDs(es)
	}
	require.Equal(t, []string{"wh-1", "wh-2", "wh-3", "wh-4", "wh-5"}, listIDs(store.OutboxListParams{}))
	require.Equal(t, []string{"wh-3", "wh-4"}, listIDs(store.OutboxListParams{State: store.OutboxDead}))
	require.Equal(t, []string{"wh-5"}, listIDs(store.OutboxListParams{State: store.OutboxPending}))
	require.Equal(t, []string{"wh-4", "wh-5"}, listIDs(store.OutboxListParams{RunID: "run-2"}))
	require.Equal(t, []string{"wh-2", "wh-3"}, listIDs(store.OutboxListParams{After: "wh-1", Limit: 2}))
	require.Equal(t, []string{"wh-4"}, listIDs(store.OutboxListParams{After: "wh-3", State: store.OutboxDead}))
	for _, p := range []*store.OutboxListParams{nil, {Limit: -1}, {Limit: store.MaxListLimit + 1}, {State: "lost"}} {
		_, err := s.OutboxList(t.Context(), p)
		requireParamError(t, err, "list %+v", p)
	}

	n, err := s.OutboxPrune(t.Context(), &store.OutboxPruneParams{DeliveredBefore: at(25)})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"wh-2", "wh-3", "wh-4", "wh-5"}, listIDs(store.OutboxListParams{}))
	n, err = s.OutboxPrune(t.Context(), &store.OutboxPruneParams{DeliveredBefore: at(100), DeadBefore: at(25)})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"wh-4", "wh-5"}, listIDs(store.OutboxListParams{}))
	require.Equal(t, store.OutboxStats{Pending: 1, Dead: 1, NextAttemptAt: at(20).Add(time.Minute)}, normStats(outboxStats(t, s)))
	_, err = s.OutboxGet(t.Context(), "wh-1")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testOutboxPruneCount(t *testing.T, su *suite) {
	s := su.open(t)
	run := finishedRun(t, s, "run-1", 0)
	var entries []*store.OutboxEntry
	for i := 1; i <= 9; i++ {
		entries = append(entries, entry(fmt.Sprintf("wh-%d", i), run, "{}"))
	}
	require.NoError(t, s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: entries}))
	got := claim(t, s, 20, 0)
	require.Len(t, got, 9)
	tokens := map[string]uint64{}
	for _, e := range got {
		tokens[e.ID] = e.ClaimToken
	}
	settle := func(id string, n int, state store.OutboxState) {
		t.Helper()
		_, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: id, ClaimToken: tokens[id], Now: at(n), State: state})
		require.NoError(t, err)
	}
	// Delivered out of id order, so that the prune must order by time: wh-5 is the oldest.
	settle("wh-5", 21, store.OutboxDelivered)
	settle("wh-1", 22, store.OutboxDelivered)
	settle("wh-4", 23, store.OutboxDelivered)
	settle("wh-2", 24, store.OutboxDelivered)
	settle("wh-3", 25, store.OutboxDelivered)
	settle("wh-6", 31, store.OutboxDead)
	settle("wh-7", 32, store.OutboxDead)
	settle("wh-8", 33, store.OutboxDead)
	// wh-9 stays claimed, then is given back as pending: never pruned.
	_, err := s.OutboxSettle(t.Context(), &store.OutboxSettleParams{ID: "wh-9", ClaimToken: tokens["wh-9"], Now: at(34), State: store.OutboxPending, NextAttemptAt: at(100)})
	require.NoError(t, err)

	ids := func(state store.OutboxState) []string {
		t.Helper()
		es, err := s.OutboxList(t.Context(), &store.OutboxListParams{State: state})
		require.NoError(t, err)
		return entryIDs(es)
	}
	// One at a time (Limit 1): the oldest delivered goes first.
	n, err := s.OutboxPrune(t.Context(), &store.OutboxPruneParams{KeepDelivered: 3, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"wh-1", "wh-2", "wh-3", "wh-4"}, ids(store.OutboxDelivered))
	n, err = s.OutboxPrune(t.Context(), &store.OutboxPruneParams{KeepDelivered: 3})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"wh-2", "wh-3", "wh-4"}, ids(store.OutboxDelivered))
	require.Equal(t, []string{"wh-6", "wh-7", "wh-8"}, ids(store.OutboxDead), "a count of delivered entries leaves the dead ones")
	n, err = s.OutboxPrune(t.Context(), &store.OutboxPruneParams{KeepDelivered: 3})
	require.NoError(t, err)
	require.Zero(t, n, "nothing beyond the count is left")

	// A dead entry requeued is pending again and out of the prune's reach.
	_, err = s.OutboxRequeue(t.Context(), &store.OutboxRequeueParams{ID: "wh-6", Now: at(40)})
	require.NoError(t, err)
	n, err = s.OutboxPrune(t.Context(), &store.OutboxPruneParams{KeepDead: 1})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"wh-8"}, ids(store.OutboxDead))
	// Age and count together: the age removes what the count keeps.
	n, err = s.OutboxPrune(t.Context(), &store.OutboxPruneParams{KeepDelivered: 2, DeliveredBefore: at(25)})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"wh-3"}, ids(store.OutboxDelivered))
	require.Equal(t, []string{"wh-6", "wh-9"}, ids(store.OutboxPending))

	for _, p := range []*store.OutboxPruneParams{nil, {KeepDelivered: -1}, {KeepDead: -1}, {Limit: -1}, {Limit: store.MaxPruneLimit + 1}} {
		_, err := s.OutboxPrune(t.Context(), p)
		requireParamError(t, err, "prune %+v", p)
	}
	all, err := s.OutboxList(t.Context(), &store.OutboxListParams{})
	require.NoError(t, err)
	require.Equal(t, []string{"wh-3", "wh-6", "wh-8", "wh-9"}, entryIDs(all))
}

func testOutboxPersistence(t *testing.T, su *suite) {
	su.requireDurable(t)
	h := su.openHandle(t)
	run := finishedRun(t, h.s, "run-1", 0)
	require.NoError(t, h.s.RunFinish(t.Context(), &store.RunFinishParams{Run: run, Outbox: []*store.OutboxEntry{
		entry("wh-1", run, `{"n":1}`), entry("wh-2", run, `{"n":2}`),
	}}))
	got := claim(t, h.s, 1, 1)
	require.Len(t, got, 1)
	before, err := h.s.OutboxList(t.Context(), &store.OutboxListParams{})
	require.NoError(t, err)

	s := h.reopen(t)
	after, err := s.OutboxList(t.Context(), &store.OutboxListParams{})
	require.NoError(t, err)
	require.Len(t, after, len(before))
	for i := range before {
		b, a := before[i], after[i]
		require.Equal(t, b.ID, a.ID)
		require.Equal(t, string(b.Body), string(a.Body))
		require.Equal(t, b.ClaimToken, a.ClaimToken)
		requireTime(t, b.NextAttemptAt, a.NextAttemptAt, b.ID+" next attempt")
	}
	require.Equal(t, []string{"wh-2"}, entryIDs(claim(t, s, 1, 0)), "the unclaimed entry is due after a restart")
	require.Equal(t, []string{"wh-1", "wh-2"}, entryIDs(claim(t, s, 61, 0)), "claimed ones once their claim expires")
	require.Equal(t, 2, outboxStats(t, s).Pending)
}
