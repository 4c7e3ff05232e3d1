package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/cli"
	"github.com/gonango/nango/nangotest"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

type contact struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// provider is a fake CRM whose contacts the test changes.
type provider struct {
	mu       sync.Mutex
	contacts []contact
}

func (p *provider) set(cs ...contact) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.contacts = cs
}

func (p *provider) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = json.NewEncoder(w).Encode(p.contacts)
}

// fixture is a service: an engine on a bbolt file (run through nangotest's harness, live
// against a fake provider) with one sync that saves every contact and counts its runs in its
// checkpoint.
type fixture struct {
	h   *nangotest.Harness
	api *provider
	st  store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	api := &provider{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	in := nango.Integration{Key: "crm", BaseURL: srv.URL, Syncs: []nango.SyncConfig{{
		Name: "contacts", TrackDeletes: true, Models: []nango.Model{nango.ModelOf[contact]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			var cp struct{ Runs int }
			if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
				return err
			}
			resp, err := n.Get(ctx, &nango.Request{Path: "/contacts"})
			if err != nil {
				return err
			}
			var cs []contact
			if err := resp.Decode(&cs); err != nil {
				return err
			}
			cp.Runs++
			return n.BatchSave(ctx, cs, "Contact", nango.WithCheckpoint(cp))
		}),
	}}}
	h := nangotest.New(t, in, &nangotest.Options{Live: true, Store: st, Connection: "acme"})
	return &fixture{h: h, api: api, st: st}
}

// run runs a command line with the fixture's engine (or only its store).
func (f *fixture) run(t *testing.T, withEngine bool, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cfg := &cli.Config{Stdout: &out, Stderr: &errOut, Progress: cli.ProgressOff}
	if withEngine {
		cfg.Engine = f.h.Engine()
	} else {
		cfg.Store = f.st
	}
	code = cli.Main(t.Context(), cfg, args)
	return out.String(), errOut.String(), code
}

var sel = []string{"-integration", "crm", "-connection", "acme"}

func args(extra ...string) []string { return append(append([]string(nil), sel...), extra...) }

func TestRecords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"}, contact{"2", "Bob"}, contact{"3", "Cy"})
	f.h.Run()
	f.api.set(contact{"1", "Ada"}, contact{"2", "Bobby"})
	f.h.Run()

	for _, engine := range []bool{true, false} {
		out, errOut, code := f.run(t, engine, append([]string{"records"}, args("-model", "Contact")...)...)
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Regexp(t, `^ID\s+ACTION\s+LAST MODIFIED\s+DATA$`, lines[0])
		require.Regexp(t, `^1\s+ADDED\s+2025-01-01 00:00:00Z\s+\{"id":"1","name":"Ada"\}$`, lines[1])
		require.Regexp(t, `^2\s+UPDATED\s+2025-01-02 00:00:00Z\s+\{"id":"2","name":"Bobby"\}$`, lines[2])
		require.Regexp(t, `^3\s+DELETED\s+`, lines[3])
		require.Equal(t, "3 records; end of the feed", lines[len(lines)-1])
	}

	out, _, code := f.run(t, true, append([]string{"records"}, args("-model", "Contact", "-limit", "1", "-filter", "added,updated")...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, "1 records; more after -cursor ")
	next := strings.TrimSpace(out[strings.Index(out, "-cursor ")+len("-cursor "):])
	out, _, code = f.run(t, true, append([]string{"records"}, args("-model", "Contact", "-cursor", next, "-all", "-limit", "1", "-filter", "added,updated")...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, `{"id":"2","name":"Bobby"}`)
	require.NotContains(t, out, `"Ada"`)
	require.Contains(t, out, "1 records; end of the feed")

	out, _, code = f.run(t, true, append([]string{"records"}, args("-model", "Contact", "-json", "-modified-after", "2025-01-02")...)...)
	require.Equal(t, 0, code)
	var page struct {
		Records []map[string]any `json:"records"`
		Next    *string          `json:"next_cursor"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &page))
	require.Len(t, page.Records, 2)
	require.Nil(t, page.Next)
	require.Equal(t, "Bobby", page.Records[0]["name"])
	meta := page.Records[0]["_nango_metadata"].(map[string]any)
	require.Equal(t, "UPDATED", meta["last_action"])
	require.Equal(t, "2025-01-02T00:00:00.000000+00:00", meta["last_modified_at"])
	require.Nil(t, meta["deleted_at"])
	require.Contains(t, meta, "pruned_at", "as the REST API writes it")
	require.Nil(t, meta["pruned_at"])
	require.NotEmpty(t, meta["cursor"])
	require.Equal(t, "DELETED", page.Records[1]["_nango_metadata"].(map[string]any)["last_action"])

	out, _, code = f.run(t, true, append([]string{"records"}, args("-model", "Contact", "-ids", "3, 1", "-filter", "deleted")...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, "1 records")
}

func TestStatusAndHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"})
	f.h.Run()
	f.h.RunFailing(nangotest.WithFailpoints(nangotest.FailRequest(1, http.StatusBadRequest)))

	out, errOut, code := f.run(t, true, "status", "-i", "crm")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Regexp(t, `^SYNC\s+CONNECTION\s+STATUS\s+FREQUENCY\s+NEXT RUN\s+LATEST RUN\s+STATE\s+RECORDS\s+CHECKPOINT$`, lines[0])
	require.Regexp(t, `^contacts\s+acme\s+ERROR\s+every day\s+-\s+2025-01-02 00:00:00Z\s+failed: nango: GET .*400 Bad Request.*\s+Contact=1\s+\{"Runs":1\}$`, lines[1])

	out, _, code = f.run(t, true, "status", "-i", "crm", "-json")
	require.Equal(t, 0, code)
	var st struct{ Syncs []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, "ERROR", st.Syncs[0]["status"])
	require.Equal(t, map[string]any{"Contact": 1.0}, st.Syncs[0]["record_counts"])

	// Without the engine, the sync is found by name.
	out, _, code = f.run(t, false, append([]string{"status", "-s", "contacts"}, sel...)...)
	require.Equal(t, 0, code)
	require.Regexp(t, `contacts\s+acme\s+ERROR\s+-\s+-\s+2025-01-02`, out)
	out, _, code = f.run(t, false, "status", "-i", "crm")
	require.Equal(t, 0, code)
	require.Contains(t, out, "no syncs found")

	for _, engine := range []bool{true, false} {
		out, errOut, code = f.run(t, engine, append([]string{"history", "-sync", "contacts"}, sel...)...)
		require.Equal(t, 0, code, errOut)
		lines = strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3)
		require.Regexp(t, `^run_\S+\s+manual\s+failed\s+2025-01-02 00:00:00Z\s+0s\s+Contact \+0 ~0 -0\s+nango: GET`, lines[1])
		require.Regexp(t, `^run_\S+\s+manual\s+success\s+2025-01-01 00:00:00Z\s+0s\s+Contact \+1 ~0 -0\s+-$`, lines[2])
	}
	out, _, code = f.run(t, true, append([]string{"history", "-sync", "contacts", "-log", "-limit", "1"}, sel...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, "  error: nango: GET")
	require.Contains(t, out, "  | ")
	require.NotContains(t, out, "success")

	out, _, code = f.run(t, true, append([]string{"history", "-sync", "contacts", "-json", "-log"}, sel...)...)
	require.Equal(t, 0, code)
	var hist struct{ Runs []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	require.Len(t, hist.Runs, 2)
	require.Equal(t, "success", hist.Runs[1]["state"])
	require.NotEmpty(t, hist.Runs[1]["log"])
}

func TestCheckpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"})
	f.h.Run()
	show := append([]string{"checkpoint", "show", "-sync", "contacts"}, sel...)
	out, _, code := f.run(t, true, show...)
	require.Equal(t, 0, code)
	require.Equal(t, "version 1, saved 2025-01-01 00:00:00Z\n{\n  \"Runs\": 1\n}\n", out)
	out, _, _ = f.run(t, true, append(show, "-json")...)
	require.JSONEq(t, `{"checkpoint":{"Runs":1},"version":1,"updated_at":"2025-01-01T00:00:00Z"}`, out)

	clear := append([]string{"checkpoint", "clear", "-sync", "contacts"}, sel...)
	out, errOut, code := f.run(t, true, clear...)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "run again with -yes")
	require.Contains(t, out, `{"Runs":1}`)
	_, _, code = f.run(t, true, show...)
	require.Equal(t, 0, code)

	out, _, code = f.run(t, true, append(clear, "-yes")...)
	require.Equal(t, 0, code)
	require.Contains(t, out, "cleared the checkpoint")
	out, _, _ = f.run(t, true, show...)
	require.Contains(t, out, "no checkpoint: the next run of contacts for \"acme\" is an initial run")
	out, _, _ = f.run(t, true, append(show, "-json")...)
	require.JSONEq(t, `{"checkpoint":null}`, out)
	require.False(t, f.h.Run().Initial, "the run history still has a success")

	_, errOut, code = f.run(t, true, "checkpoint", "show", "-i", "crm", "-s", "nope", "-c", "acme")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "unknown sync")
}

func TestTriggerAndDryRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"}, contact{"2", "Bob"})
	trigger := append([]string{"trigger", "-sync", "contacts"}, sel...)

	var out, errOut bytes.Buffer
	code := cli.Main(t.Context(), &cli.Config{Engine: f.h.Engine(), Stdout: &out, Stderr: &errOut, Progress: cli.ProgressOn}, trigger)
	require.Equal(t, 0, code, errOut.String())
	require.Contains(t, errOut.String(), "running contacts for \"acme\"")
	require.Regexp(t, `^run run_\S+ of contacts for "acme": success in 0s \(initial run\)\n`, out.String())
	require.Regexp(t, `Contact\s+2\s+0\s+0\s+0\s+0`, out.String())

	f.api.set(contact{"2", "Bobby"}, contact{"3", "Cy"})
	before, _, _ := f.run(t, true, append([]string{"records", "-model", "Contact", "-json"}, sel...)...)
	dry := append([]string{"dry-run", "-sync", "contacts", "-requests"}, sel...)
	outS, errS, code := f.run(t, true, dry...)
	require.Equal(t, 0, code, errS)
	require.Contains(t, outS, "dry run of contacts for \"acme\": success, 1 requests; nothing was written")
	require.Regexp(t, `Contact\s+1\s+1\s+1\s+0\s+0`, outS)
	require.Contains(t, outS, `+ {"id":"3","name":"Cy"}`)
	require.Contains(t, outS, `~ {"id":"2","name":"Bobby"}`)
	require.Contains(t, outS, `was {"id":"2","name":"Bob"}`)
	require.Contains(t, outS, `- {"id":"1","name":"Ada"}`)
	require.Contains(t, outS, `checkpoint: {"Runs":1} -> {"Runs":2}`)
	require.Regexp(t, `GET http://127\.0\.0\.1:\d+/contacts -> 200`, outS)
	after, _, _ := f.run(t, true, append([]string{"records", "-model", "Contact", "-json"}, sel...)...)
	require.Equal(t, before, after, "a dry run writes nothing")

	outS, _, code = f.run(t, true, append(dry, "-json", "-samples", "1")...)
	require.Equal(t, 0, code)
	var rep struct {
		State             string
		Models            map[string]map[string]any
		CheckpointChanged bool `json:"checkpoint_changed"`
		RequestCount      int  `json:"request_count"`
		Requests          []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(outS), &rep))
	require.Equal(t, "success", rep.State)
	require.Equal(t, 1.0, rep.Models["Contact"]["would_delete"])
	require.True(t, rep.CheckpointChanged)
	require.Equal(t, 1, rep.RequestCount)
	require.Len(t, rep.Requests, 1)

	// The JSON result of a real run.
	outS, _, code = f.run(t, true, append(trigger, "-json")...)
	require.Equal(t, 0, code)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(outS), &res))
	require.Equal(t, map[string]any{"added": 1.0, "updated": 1.0, "deleted": 1.0}, res["results"].(map[string]any)["Contact"])

	// A failed run fails the command.
	f.api.set(contact{"", "no id"})
	outS, errS, code = f.run(t, true, trigger...)
	require.Equal(t, 1, code)
	require.Contains(t, outS, ": failed in")
	require.Contains(t, errS, "the run failed: invalid record at index 0")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		engine bool
		args   []string
		code   int
		want   string
	}{
		{true, nil, 2, "usage: nango <command> [flags]"},
		{true, []string{"help"}, 0, "dry-run     run a sync against the real API"},
		{true, []string{"nope"}, 2, `unknown command "nope"`},
		{true, []string{"records", "-i", "crm"}, 2, "records needs -connection, -model"},
		{true, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contact", "-filter", "new"}, 2, `invalid filter "new"`},
		{true, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contact", "-modified-after", "soon"}, 2, `"soon" is not a time`},
		{true, []string{"records", "-i", "crm", "-c", "acme", "-m", "Nope"}, 1, `unknown model "Nope"`},
		{true, []string{"records", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{true, []string{"status", "-h"}, 0, "usage: nango status [-integration I]"},
		{true, []string{"checkpoint"}, 2, "checkpoint needs show or clear"},
		{true, []string{"status", "-i", "crm", "extra"}, 2, `unexpected argument "extra"`},
		{false, []string{"trigger", "-i", "crm", "-s", "contacts", "-c", "acme"}, 1, "mount package cli in your service's binary"},
		{false, []string{"dry-run", "-i", "crm", "-s", "contacts", "-c", "acme"}, 1, "mount package cli in your service's binary"},
	} {
		_, errOut, code := f.run(t, tc.engine, tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.want, tc.args)
	}
}

// A misspelt connection, model or integration is an error, not an empty feed.
func TestMisspeltNamesFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"})
	f.h.Run()
	require.NoError(t, f.st.SchedulePut(t.Context(), &store.Schedule{Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "acme"}}))
	for _, tc := range []struct {
		engine bool
		args   []string
		want   string
	}{
		{true, []string{"records", "-i", "crm", "-c", "acm", "-m", "Contact"}, `unknown connection "acm" of integration "crm"`},
		{false, []string{"records", "-i", "crm", "-c", "acm", "-m", "Contact"}, `no connection "acm" of integration "crm" (its connections: acme)`},
		{false, []string{"records", "-i", "cmr", "-c", "acme", "-m", "Contact"}, `no connection "acme" of integration "cmr": the store has no connections of "cmr" (integrations with connections: crm)`},
		{true, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contacts"}, `unknown model "Contacts"`},
		{false, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contacts"}, `no records of model "Contacts" for connection "acme" of integration "crm" (its syncs write: Contact)`},
		{true, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contact", "-cursor", "bad"}, `listing records of crm/acme/Contact: invalid cursor "bad"`},
		{false, []string{"records", "-i", "crm", "-c", "acme", "-m", "Contact", "-cursor", "bad"}, `listing records of crm/acme/Contact: invalid cursor "bad"`},
		{true, []string{"history", "-i", "crm", "-c", "acme", "-s", "contactz"}, `unknown sync "contactz"`},
	} {
		out, errOut, code := f.run(t, tc.engine, tc.args...)
		require.Equal(t, 1, code, "%v: %s", tc.args, out)
		require.Contains(t, errOut, tc.want, tc.args)
		require.True(t, strings.HasPrefix(errOut, "nango: "), errOut)
		require.Equal(t, 1, strings.Count(errOut, "nango: "), "one prefix: %s", errOut)
		require.NotContains(t, errOut, "store: ", "one prefix")
		require.NotContains(t, out, "end of the feed")
	}
}

// status needs no -integration: the store knows its integrations.
func TestStatusOfEveryIntegration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"})
	f.h.Run()
	out, errOut, code := f.run(t, true, "status")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^contacts\s+acme\s+SUCCESS\s`, out)

	require.NoError(t, f.st.SchedulePut(t.Context(), &store.Schedule{Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "acme"}}))
	out, errOut, code = f.run(t, false, "status", "-json")
	require.Equal(t, 0, code, errOut)
	var st struct{ Syncs []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st.Syncs, 1)
	require.Equal(t, "crm", st.Syncs[0]["integration"])
	require.Equal(t, "SUCCESS", st.Syncs[0]["status"])
}
