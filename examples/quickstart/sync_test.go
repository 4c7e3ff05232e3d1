package main

import (
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/stretchr/testify/require"
)

// The contacts sync tested with nangotest, as a sync of yours would be.
//
// TestContactsSync replays the fixtures in testdata/. To record them again, run
//
//	NANGO_RECORD=1 go test -run TestContactsSync ./examples/quickstart
//
// which calls the API instead: for a real provider, the integration's BaseURL with credentials
// read from the environment (nangotest.Getenv); here the fake CRM stands in for it
// (Options.Provider), so recording needs no network. The fake is only called when recording.

// credentials are the connection's, as a recording needs them (they are redacted from the
// fixtures). For a real API: &nango.Credentials{APIKey: nangotest.Getenv(t, "CRM_API_KEY")}.
var credentials = &nango.Credentials{APIKey: apiKey}

// crmBefore and crmChanges are the CRM's data before the initial run and what its users change
// before the next one, the same as in the quickstart's second run.
func crmBefore() *crm {
	api := newCRM()
	api.add(25)
	return api
}

func crmChanges(api *crm) {
	api.add(3)
	api.update("ct_003", func(c *crmContact) { c.Email = "grace@navy.example.com" })
	api.update("ct_007", func(c *crmContact) { c.Company = "IBM" })
	api.remove("ct_012")
}

func TestContactsSync(t *testing.T) {
	t.Parallel()
	api := crmBefore()
	h := nangotest.New(t, integration("", &contactsSync{}), &nangotest.Options{
		Fixtures: "testdata/initial.json", Provider: api.handler(), Credentials: credentials,
	})
	first := h.Run()
	require.True(t, first.Initial)
	require.Len(t, first.AddedIDs(modelName), 25)
	require.Equal(t, Contact{ID: "ct_001", FirstName: "Ada", LastName: "Lovelace", Email: "ada.lovelace@example.com", Company: "Analytical Engines"},
		nangotest.Added[Contact](first, modelName)[0])
	require.Len(t, first.Requests, 4, "3 pages of contacts and the tombstones")
	cp, ok := nangotest.CheckpointAs[contactsCheckpoint](first)
	require.True(t, ok)
	require.Equal(t, "2025-01-06T09:25:00Z", cp.UpdatedAfter.Format("2006-01-02T15:04:05Z07:00"))

	crmChanges(api) // only matters when recording
	next := h.Run(nangotest.WithFixtures("testdata/incremental.json"))
	require.False(t, next.Initial)
	require.Equal(t, []string{"ct_026", "ct_027", "ct_028"}, next.AddedIDs(modelName))
	require.Equal(t, []string{"ct_003", "ct_007"}, next.UpdatedIDs(modelName))
	require.Equal(t, []string{"ct_012"}, next.DeletedIDs(modelName))
	require.Equal(t, "2025-01-06T09:25:00Z", next.Requests[0].Query.Get("updated_after"), "it resumed from the checkpoint")
	require.Len(t, nangotest.Records[Contact](h, modelName), 27)
}

// TestContactsSyncSurvivesCrashes crashes the incremental run at each of its commits (and
// makes each fail), and checks that the run after it ends where a clean run does. The fake
// CRM answers the requests of the runs that resume from a checkpoint, which no recorded
// fixture would.
func TestContactsSyncSurvivesCrashes(t *testing.T) {
	t.Parallel()
	newHarness := func(tb testing.TB) *nangotest.Harness {
		api := crmBefore()
		h := nangotest.New(tb, integration("", &contactsSync{}), &nangotest.Options{Provider: api.handler(), Credentials: credentials})
		h.Run() // the initial run
		crmChanges(api)
		return h
	}
	h := newHarness(t)
	res := h.Run()
	require.Equal(t, []string{
		"the run's start", "BatchSave of Contact with the checkpoint", "BatchDelete of Contact with the checkpoint", "the run's end with its webhooks",
	}, res.Commits)
	nangotest.CheckCrashRecovery(t, newHarness)
}
