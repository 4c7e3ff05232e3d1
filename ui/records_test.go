package ui_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango/ui"
)

var idRE = regexp.MustCompile(`<td data-label="ID"><a [^>]*><code>([^<]+)</code>`)
var nextRE = regexp.MustCompile(`href="([^"]+)" rel="next" id="next-page"`)

func ids(body string) []string {
	var out []string
	for _, m := range idRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestRecordsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{cfg: &ui.Config{SecretKeys: []string{secret}, PageSize: 4}})
	ctx := context.Background()
	f.src.contacts = contacts(10, "Ada")
	_, err := f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.contacts = contacts(9, "Ada")
	f.src.contacts[1]["name"] = "Grace" // 002 updated, 010 deleted by TrackDeletes
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	auth := []string{"Authorization", "Bearer " + secret}
	c := browser(t)

	// Page through the feed by cursor.
	var all []string
	next := f.url + "/r/crm/acme/Contact"
	for range 10 {
		resp, body := get(t, c, next, auth...)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		all = append(all, ids(body)...)
		m := nextRE.FindStringSubmatch(body)
		if m == nil {
			break
		}
		next = f.srv.URL + html.UnescapeString(m[1])
	}
	require.Equal(t, []string{"001", "003", "004", "005", "006", "007", "008", "009", "002", "010"}, all)

	_, body := get(t, c, f.url+"/r/crm/acme/Contact?filter=updated&filter=deleted", auth...)
	require.Equal(t, []string{"002", "010"}, ids(body))
	require.Contains(t, body, `value="deleted" checked`)
	_, body = get(t, c, f.url+"/r/crm/acme/Contact?filter=deleted&modified_after=2000-01-01T00:00", auth...)
	require.Equal(t, []string{"010"}, ids(body))
	_, body = get(t, c, f.url+"/r/crm/acme/Contact?modified_after=2999-01-01T00:00", auth...)
	require.Contains(t, body, "No records match these filters.")

	_, body = get(t, c, f.url+"/r/crm/acme/Contact/record?id=010", auth...)
	body = html.UnescapeString(body)
	require.Contains(t, body, `"name": "Ada 10"`)
	require.Contains(t, body, `"_nango_metadata": {`)
	require.Contains(t, body, `"last_action": "DELETED"`)
	require.Regexp(t, `"deleted_at": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"`, body)

	// Bad input gets a page that says what is wrong, never a stack trace.
	_, first := get(t, c, f.url+"/r/crm/acme/Contact", auth...)
	cursor := html.UnescapeString(nextRE.FindStringSubmatch(first)[1])
	cursor = cursor[strings.Index(cursor, "cursor=")+7:]
	tampered := cursor[:len(cursor)-3] + "AAA"
	for path, want := range map[string]string{
		"/r/crm/acme/Contact?cursor=" + tampered:       "The cursor in this address is not valid for this list",
		"/r/crm/acme/Deal?cursor=" + cursor:            "The cursor in this address is not valid for this list",
		"/r/crm/acme/Contact?filter=removed":           `Invalid filter &#34;removed&#34;`,
		"/r/crm/acme/Contact?modified_after=yesterday": `&#34;yesterday&#34; is not a time`,
		"/r/crm/nobody/Contact":                        `There is no connection &#34;nobody&#34; in integration &#34;crm&#34;.`,
		"/r/crm/acme/Invoice":                          `Unknown model &#34;Invoice&#34;`,
		"/r/crm/acme/Contact/record?id=999":            `There is no record &#34;999&#34; of model Contact`,
		"/r/crm/acme/Contact/record":                   `Give the record&#39;s id`,
	} {
		resp, body := get(t, c, f.url+path, auth...)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, resp.StatusCode, path)
		require.Contains(t, body, want, path)
		require.NotContains(t, body, "goroutine", path)
	}
}
