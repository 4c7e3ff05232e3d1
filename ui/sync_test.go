package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

var locRE = regexp.MustCompile(`/ui/s/crm/contacts/acme/runs/(run_\w+)`)

func TestSyncPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := t.Context()
	auth := []string{"Authorization", "Bearer " + secret}
	c := browser(t)

	f.src.contacts = contacts(120, "Ada")
	_, err := f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.contacts = nil // the provider "returns nothing": the delete guard refuses the sweep
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.panicMsg = "index out of range in the mapper"
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.Error(t, err)

	resp, body := get(t, c, f.url+"/s/crm/contacts/acme", auth...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<span class="state state-paused">paused</span>`)
	require.Contains(t, body, "&#34;updated_after&#34;: &#34;2026-01-02T03:04:05Z&#34;", "the checkpoint, indented")
	require.Contains(t, body, "TrackDeletes refused to delete 120 of 120 records of model Contact")
	require.Contains(t, body, `<span class="err">nango: sync panicked: index out of range in the mapper</span>`)
	require.Contains(t, body, `>120 Contact</a>`)
	runs := locRE.FindAllStringSubmatch(body, -1)
	require.Len(t, runs, 3)

	// The newest run is the panic: its page shows the stack apart from the log.
	_, body = get(t, c, f.url+"/s/crm/contacts/acme/runs/"+runs[0][1], auth...)
	require.Regexp(t, `(?s)<pre id="panic-stack">.*ui_test\.\(\*source\)\.contactsSync`, body)
	require.Contains(t, body, "sync panicked panic=index out of range in the mapper (stack below)")
	_, body = get(t, c, f.url+"/s/crm/contacts/acme/runs/"+runs[2][1], auth...)
	require.Regexp(t, `(?s)<td data-label="Added" class="num">120</td>`, body)
	require.Contains(t, body, "fetched contacts count=120")

	for path, want := range map[string]string{
		"/s/crm/contacts/nobody":               `There is no connection &#34;nobody&#34; in integration &#34;crm&#34;.`,
		"/s/crm/invoices/acme":                 `Integration &#34;crm&#34; has no sync &#34;invoices&#34;.`,
		"/s/erp/contacts/acme":                 `There is no integration &#34;erp&#34;.`,
		"/s/crm/contacts/acme/runs/run_nope":   `Sync &#34;contacts&#34; has no run &#34;run_nope&#34; for connection &#34;acme&#34;.`,
		"/s/crm/deals/acme/runs/" + runs[0][1]: `Sync &#34;deals&#34; has no run`,
		"/s/crm/contacts/acme?before=run_nope": `There is no run &#34;run_nope&#34; to continue the history after.`,
	} {
		resp, body := get(t, c, f.url+path, auth...)
		require.Contains(t, []int{http.StatusNotFound, http.StatusBadRequest}, resp.StatusCode, path)
		require.Contains(t, body, want, path)
		require.NotContains(t, body, "goroutine", path)
	}
}

func TestSyncActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	c := browser(t)
	f.signIn(t, c)
	page := f.url + "/s/crm/deals/globex"
	act := func(action string, extra ...string) (*http.Response, string) {
		t.Helper()
		_, body := get(t, c, page)
		form := url.Values{"csrf": {csrfOf(t, body)}, "action": {action}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return post(t, c, page, form)
	}
	answer := func(resp *http.Response) string {
		t.Helper()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body := get(t, c, f.srv.URL+resp.Header.Get("Location"))
		m := regexp.MustCompile(`id="flash">([^<]*)<`).FindStringSubmatch(body)
		require.NotNil(t, m, body)
		return m[1]
	}

	// The first POST asks; nothing happens until it is confirmed.
	resp, body := act("trigger")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Trigger a run?")
	require.Contains(t, body, `name="confirmed" value="yes"`)
	require.Contains(t, answer(must(act("trigger", "confirmed", "yes"))), "the engine&#39;s scheduler is not running")

	f.runEngine(t)
	require.Contains(t, answer(must(act("start", "confirmed", "yes"))), "Started: the sync is scheduled again")
	require.Contains(t, answer(must(act("start", "confirmed", "yes"))), "Already scheduled")
	require.Contains(t, answer(must(act("pause", "confirmed", "yes"))), "Paused: no more scheduled runs")
	sts, err := f.eng.Status(t.Context(), nango.SyncSelector{Integration: "crm", Syncs: []string{"deals"}, Connection: "globex"})
	require.NoError(t, err)
	require.True(t, sts[0].NextScheduledRun.IsZero(), "paused: nothing scheduled")
	require.Contains(t, []string{nango.StatusPaused, nango.StatusRunning}, sts[0].Status, "the run Start began may still be going")

	_, body = act("frequency", "frequency", "every 2 hours")
	require.Contains(t, body, "Run this sync every 2 hours for this connection instead of every day.")
	require.Contains(t, answer(must(act("frequency", "frequency", "every 2 hours", "confirmed", "yes"))),
		"Frequency override saved. This sync now runs every 2 hours for this connection.")
	require.Contains(t, answer(must(act("frequency", "frequency", "", "confirmed", "yes"))), "Frequency override removed")
	resp, body = act("frequency", "frequency", "every blue moon", "confirmed", "yes")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "every blue moon")
	resp, body = act("explode", "confirmed", "yes")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "&#34;explode&#34; is not something this page can do.")
}

func must(resp *http.Response, _ string) *http.Response { return resp }
