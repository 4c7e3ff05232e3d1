// Package nangotest tests syncs in go test, in milliseconds: a Harness runs a sync through the
// real engine (nango.NewEngine over the memory store, which passes the same conformance suite
// as the durable stores) with fake edges: a fake clock, the provider's API answered from
// recorded fixtures or a fake provider, and failpoints. Its helpers take a testing.TB and do
// not depend on any assertion library.
//
// # Running a sync
//
// New takes the integration as the service registers it; Run runs its sync once and fails the
// test if the run fails; the next Run sees the store and checkpoint the previous one left:
//
//	func TestContacts(t *testing.T) {
//		h := nangotest.New(t, crmIntegration, &nangotest.Options{Fixtures: "testdata/initial.json"})
//		first := h.Run()
//		// first.AddedIDs("Contact"), nangotest.Added[Contact](first, "Contact"), first.Checkpoint ...
//		next := h.Run(nangotest.WithFixtures("testdata/incremental.json"))
//		// next.UpdatedIDs("Contact"), nangotest.Updated[Contact](next, "Contact") ...
//	}
//
// A Result has the engine's report (state, counts per model, warnings), the records each model
// gained, changed and lost in the run (typed with Added, Updated, Deleted and Saved), the
// checkpoint after the run (CheckpointAs), the requests sent, the run's log lines and the
// webhooks its changes would send. Records returns what the store holds now.
//
// # Fixtures
//
// A fixture file is JSON that a person can read and edit (see Fixture): one interaction, or
// an "interactions" array; a directory holds one file per interaction. A request matches a
// fixture on method, path, query and body; each fixture answers once, in order. A request no
// fixture answers fails at once, without retries (its error matches nango.ErrPermanent), and
// fails the test with the fixtures that came closest and how they differ, and
// a successful run that leaves fixtures unused fails it too. Fixtures answer the requests the
// sync sends through its handle (Nango.Get, Request, Paginate, HTTPClient), not those of an
// http.Client of its own. Small fixtures can be written in
// Go with JSONFixture and WithInteractions. In replay, requests carry no credentials: the
// integration's Auth is not used.
//
// # Fake providers
//
// Options.Provider is an http.Handler that answers the runs' requests in place of the real
// API: a fake that keeps state, whose data the test changes between runs. Without fixtures it
// answers every request, also those of a run that resumes from its checkpoint after a crash,
// which is what CheckCrashRecovery needs for an incremental sync. With Options.Fixtures it
// stands in for the real API when recording, and the runs replay the fixtures otherwise.
//
// # Recording
//
// With NANGO_RECORD=1 in the environment (for the harnesses with Options.Fixtures) or
// Options.Record, runs call the provider's real API
// with the integration's Auth and Options.Credentials, and write the fixture file or directory
// they would replay. Recorded fixtures leave out the credentials, the OAuth token exchanges
// and noisy headers (Date, Set-Cookie, ...), and redact the secrets the harness knows (tokens,
// API keys, passwords, client secrets, tokens seen in responses), query parameters and JSON
// members with secret names (access_token, password, ...) and the names in Options.Redact.
//
//	NANGO_RECORD=1 CRM_API_KEY=... go test -run TestContacts ./syncs/crm
//
// # Failpoints
//
// WithFailpoints makes the n-th request of a run fail (FailRequest, FailRequestNetwork,
// RateLimitRequest with Retry-After) or its n-th commit (FailCommit), or makes the process
// "crash" right after the n-th commit (CrashAfterCommit). A run's commits are its start, each
// BatchSave, BatchUpdate and BatchDelete, SaveCheckpoint, ClearCheckpoint, the TrackDeletes
// sweeps and its end (Result.Commits lists them); FailBatchSave and CrashAfterBatchSave count
// BatchSave calls only. The fake clock makes retries and waits instant. The next Run resumes
// as production would, in a restarted process after a crash, so a test can assert that it
// loses nothing and duplicates nothing. CheckCrashRecovery does that for every commit of a
// run at once.
//
// # Validation
//
// After every run, the records saved to a model declared with nango.ModelOf[T] are checked
// against T: JSON members T has no field for, fields of T that are missing, nulls where T
// cannot hold one. Every violation fails the test with the record's id and the field.
// Violations and Validate check the records of a run against a type and a function of the
// test's.
package nangotest
