package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
)

func post(path string, body any) req { return req{method: http.MethodPost, path: path, body: body} }

func trigger(body any) req { return post("/sync/trigger", body) }

func ok(t *testing.T, a answer) {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, `{"success":true}`, a.raw)
}

// triggered sends a trigger that must succeed. A run that just finished keeps its place in the
// scheduler for a moment after its record says it finished; a 409 is then retried.
func (f *fixture) triggered(t *testing.T, r req) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := f.do(t, r)
		if a.status == http.StatusConflict && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		ok(t, a)
		return
	}
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.src.set([]map[string]any{contact("a", "Ada")})
	body := map[string]any{"syncs": []string{"contacts"}, "provider_config_key": integration, "connection_id": "conn-1"}

	a := f.do(t, trigger(body))
	requireError(t, a, http.StatusServiceUnavailable, "engine_not_running")
	require.Contains(t, a.message(), "Engine.Run")

	f.runEngine(t)
	ok(t, f.do(t, trigger(body)))
	runs := f.waitRuns(t, "contacts", "conn-1", 1)
	require.Equal(t, nango.TriggerManual, runs[0].Trigger)
	require.Equal(t, []string{"a"}, ids(f.records(t, "conn-1", "model=Contact")))

	// The key and the connection from the headers.
	ok(t, f.do(t, req{method: http.MethodPost, path: "/sync/trigger", body: map[string]any{"syncs": []string{"contacts"}},
		header: map[string]string{"Provider-Config-Key": integration, "Connection-Id": "conn-2"}}))
	f.waitRuns(t, "contacts", "conn-2", 1)

	// No connection: all of them; syncs as objects and as name::variant.
	ok(t, f.do(t, trigger(map[string]any{"syncs": []any{map[string]string{"name": "deals", "variant": "base"}}, "provider_config_key": integration})))
	f.waitRuns(t, "deals", "conn-1", 1)
	f.waitRuns(t, "deals", "conn-2", 1)
	f.triggered(t, trigger(map[string]any{"syncs": []string{"deals::base", "deals"}, "provider_config_key": integration, "connection_id": "conn-1"}))
	f.waitRuns(t, "deals", "conn-1", 2)

	// No syncs: all of them.
	f.triggered(t, trigger(map[string]any{"syncs": []string{}, "provider_config_key": integration, "connection_id": "conn-2"}))
	f.waitRuns(t, "contacts", "conn-2", 2)
	f.waitRuns(t, "deals", "conn-2", 2)
}

func TestTriggerResets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.runEngine(t)
	f.src.set([]map[string]any{contact("a", "Ada"), contact("b", "Bob")})
	f.sync(t, "contacts", "conn-1")
	before := records(f.records(t, "conn-1", "model=Contact"))
	n := 1
	cases := []struct {
		body       map[string]any
		trigger    string
		emptyCache bool
	}{
		{map[string]any{"opts": map[string]any{"reset": true}}, nango.TriggerReset, false},
		{map[string]any{"opts": map[string]any{"reset": false}}, nango.TriggerManual, false},
		{map[string]any{"opts": map[string]any{}}, nango.TriggerManual, false},
		{map[string]any{"full_resync": true}, nango.TriggerReset, false},
		{map[string]any{"full_resync": false}, nango.TriggerManual, false},
		{map[string]any{"sync_mode": "incremental"}, nango.TriggerManual, false},
		{map[string]any{"sync_mode": "full_refresh"}, nango.TriggerReset, false},
		{map[string]any{"opts": map[string]any{"reset": true, "emptyCache": true}}, nango.TriggerReset, true},
		{map[string]any{"sync_mode": "full_refresh_and_clear_cache"}, nango.TriggerReset, true},
	}
	for _, tc := range cases {
		tc.body["syncs"] = []string{"contacts"}
		tc.body["provider_config_key"] = integration
		tc.body["connection_id"] = "conn-1"
		f.triggered(t, trigger(tc.body))
		n++
		runs := f.waitRuns(t, "contacts", "conn-1", n)
		require.Equal(t, tc.trigger, runs[0].Trigger, "%v", tc.body)
		if tc.emptyCache {
			// The records were removed and saved again: old cursors are stale.
			a := f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(meta(before[0])["cursor"].(string)))
			requireError(t, a, http.StatusBadRequest, "invalid_cursor")
			before = records(f.records(t, "conn-1", "model=Contact"))
			require.Len(t, before, 2)
		} else {
			require.Equal(t, before, records(f.records(t, "conn-1", "model=Contact")), "%v", tc.body)
		}
	}
}

func TestTriggerErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.runEngine(t)
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"syncs": []string{"contacts"}, "provider_config_key": integration, "connection_id": "conn-1"}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	a := f.do(t, trigger(base(map[string]any{"provider_config_key": nil})))
	requireError(t, a, http.StatusBadRequest, "missing_provider_config_key")
	requireError(t, f.do(t, trigger(base(map[string]any{"provider_config_key": ""}))), http.StatusBadRequest, "missing_provider_config_key")

	a = f.do(t, trigger(base(map[string]any{"opts": map[string]any{"reset": true}, "sync_mode": "full_refresh"})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "cannot use opts with the deprecated sync_mode or full_resync")
	requireError(t, f.do(t, trigger(base(map[string]any{"opts": map[string]any{}, "full_resync": false}))), http.StatusBadRequest, "invalid_body")
	a = f.do(t, trigger(base(map[string]any{"opts": map[string]any{"emptyCache": true}})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "opts.emptyCache needs opts.reset")
	a = f.do(t, trigger(base(map[string]any{"opts": map[string]any{"reset": "yes", "empty_cache": true}})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), `opts: unknown field(s) "empty_cache"`)
	require.Contains(t, a.message(), "opts.reset: Expected boolean, received string")
	requireError(t, f.do(t, trigger(base(map[string]any{"opts": []int{1}}))), http.StatusBadRequest, "invalid_body")
	a = f.do(t, trigger(base(map[string]any{"sync_mode": "full"})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "sync_mode")

	// Nango's own validation case.
	a = f.do(t, trigger(base(map[string]any{"syncs": []any{map[string]string{"invalid": "object"}, "valid-sync", nil}, "full_resync": "not a boolean"})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	msg := "Each sync must be either a string or a { name: string, variant: string } object"
	require.Equal(t, []any{
		map[string]any{"code": "invalid_union", "message": msg, "path": []any{"syncs", 0.0}},
		map[string]any{"code": "invalid_union", "message": msg, "path": []any{"syncs", 2.0}},
		map[string]any{"code": "invalid_type", "message": "Expected boolean, received string", "path": []any{"full_resync"}},
	}, a.errors())
	a = f.do(t, trigger(base(map[string]any{"syncs": nil})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "syncs: Required")
	requireError(t, f.do(t, trigger(base(map[string]any{"syncs": "contacts"}))), http.StatusBadRequest, "invalid_body")
	requireError(t, f.do(t, trigger(base(map[string]any{"syncs": []any{map[string]any{"name": "contacts", "variant": "base", "x": 1}}}))), http.StatusBadRequest, "invalid_body")
	a = f.do(t, trigger(base(map[string]any{"connection": "conn-1"})))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), `unknown field(s) "connection"`)

	a = f.do(t, trigger(base(map[string]any{"syncs": []any{map[string]string{"name": "contacts", "variant": "eu"}}})))
	requireError(t, a, http.StatusBadRequest, "unknown_variant")
	requireError(t, f.do(t, trigger(base(map[string]any{"syncs": []string{"contacts::eu"}}))), http.StatusBadRequest, "unknown_variant")
	a = f.do(t, trigger(base(map[string]any{"syncs": []string{"leads"}})))
	requireError(t, a, http.StatusBadRequest, "unknown_sync")
	require.Contains(t, a.message(), `"leads"`)
	requireError(t, f.do(t, trigger(base(map[string]any{"provider_config_key": "hubspot"}))), http.StatusBadRequest, "unknown_provider_config")
	requireError(t, f.do(t, trigger(base(map[string]any{"connection_id": "conn-9"}))), http.StatusBadRequest, "unknown_connection")

	// Query parameters and bodies that are not a JSON object.
	a = f.do(t, req{method: http.MethodPost, path: "/sync/trigger?connection_id=conn-1", body: base(nil)})
	requireError(t, a, http.StatusBadRequest, "invalid_query_params")
	for body, msg := range map[string]string{
		"":                     "the body is empty",
		"[]":                   "not a JSON object",
		"null":                 "not a JSON object",
		`{"syncs":[]`:          "not a JSON object",
		`{"syncs":[]} {}`:      "data after its JSON object",
		`{"syncs":[],"provi`:   "not a JSON object",
		"\n\t ":                "the body is empty",
		`{"syncs": [1, true]}`: "syncs.0: Each sync",
	} {
		a := f.do(t, trigger(body))
		requireError(t, a, http.StatusBadRequest, "invalid_body")
		require.Contains(t, a.message(), msg, body)
	}
}

func TestTriggerBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &api.Config{SecretKeys: []string{secret}, MaxBodyBytes: 100})
	a := f.do(t, trigger(`{"syncs":["`+strings.Repeat("x", 100)+`"]}`))
	requireError(t, a, http.StatusRequestEntityTooLarge, "payload_too_large")
	require.Contains(t, a.message(), "larger than 100 bytes")
	// The default is 1 MiB.
	g := newFixture(t, nil)
	a = g.do(t, trigger(`{"syncs":["`+strings.Repeat("x", api.DefaultMaxBodyBytes)+`"]}`))
	requireError(t, a, http.StatusRequestEntityTooLarge, "payload_too_large")
	var many []string
	for range 257 {
		many = append(many, "contacts")
	}
	a = g.do(t, trigger(map[string]any{"syncs": many, "provider_config_key": integration}))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "257 syncs, more than 256")
}

func TestTriggerWhileRunning(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.runEngine(t)
	block := make(chan struct{})
	f.src.mu.Lock()
	f.src.block = block
	f.src.mu.Unlock()
	body := map[string]any{"syncs": []string{"contacts"}, "provider_config_key": integration, "connection_id": "conn-1"}
	ok(t, f.do(t, trigger(body)))
	waitStatus(t, f, "conn-1", nango.StatusRunning)

	a := f.do(t, trigger(body))
	requireError(t, a, http.StatusConflict, "sync_already_running")
	require.Contains(t, a.message(), "contacts/conn-1")
	// For all connections: conn-2 is triggered all the same.
	delete(body, "connection_id")
	a = f.do(t, trigger(body))
	requireError(t, a, http.StatusConflict, "sync_already_running")
	require.Contains(t, a.message(), "the others were triggered")
	waitStatus(t, f, "conn-2", nango.StatusRunning)
	close(block)
	f.waitRuns(t, "contacts", "conn-1", 1)
	f.waitRuns(t, "contacts", "conn-2", 1)
}

// waitStatus waits until the contacts sync of conn has this status.
func waitStatus(t *testing.T, f *fixture, conn, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := f.eng.Status(t.Context(), nango.SyncSelector{Integration: integration, Syncs: []string{"contacts"}, Connection: conn})
		require.NoError(t, err)
		if st[0].Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("contacts for %s is %s, want %s", conn, st[0].Status, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, f *fixture, query string) answer {
	t.Helper()
	return f.do(t, req{method: http.MethodGet, path: "/sync/status?" + query})
}

func statuses(a answer) []map[string]any {
	l, _ := a.body["syncs"].([]any)
	out := make([]map[string]any, len(l))
	for i, s := range l {
		out[i] = s.(map[string]any)
	}
	return out
}

func TestStartAndPause(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.src.set([]map[string]any{contact("a", "Ada")})
	sel := map[string]any{"syncs": []string{"contacts"}, "provider_config_key": integration, "connection_id": "conn-1"}
	one := func() map[string]any {
		s := statuses(status(t, f, "syncs=contacts&provider_config_key=crm&connection_id=conn-1"))
		require.Len(t, s, 1)
		return s[0]
	}
	require.Equal(t, "PAUSED", one()["status"], "ManualStart")

	// Without the scheduler running, the change is saved for when it runs.
	ok(t, f.do(t, post("/sync/start", sel)))
	require.Equal(t, "STOPPED", one()["status"], "started, never run")
	ok(t, f.do(t, post("/sync/pause", sel)))
	require.Equal(t, "PAUSED", one()["status"])

	f.runEngine(t)
	ok(t, f.do(t, post("/sync/start", sel)))
	f.waitRuns(t, "contacts", "conn-1", 1) // starting runs it now
	waitStatus(t, f, "conn-1", nango.StatusSuccess)
	s := one()
	require.Equal(t, "SUCCESS", s["status"])
	require.NotNil(t, s["nextScheduledSyncAt"])
	ok(t, f.do(t, post("/sync/pause", sel)))
	s = one()
	require.Equal(t, "PAUSED", s["status"])
	require.Nil(t, s["nextScheduledSyncAt"])
	require.Equal(t, "PAUSED", statuses(status(t, f, "syncs=contacts&provider_config_key=crm&connection_id=conn-2"))[0]["status"], "conn-2 untouched")

	// All syncs of all connections.
	ok(t, f.do(t, post("/sync/start", map[string]any{"syncs": []string{}, "provider_config_key": integration})))
	for _, s := range statuses(status(t, f, "syncs=*&provider_config_key=crm")) {
		require.NotEqual(t, "PAUSED", s["status"], s)
	}

	for _, path := range []string{"/sync/start", "/sync/pause"} {
		a := f.do(t, post(path, map[string]any{"syncs": []string{"contacts"}}))
		requireError(t, a, http.StatusBadRequest, "invalid_body")
		require.Contains(t, a.message(), "provider_config_key: Required")
		a = f.do(t, post(path, map[string]any{"provider_config_key": integration}))
		requireError(t, a, http.StatusBadRequest, "invalid_body")
		require.Contains(t, a.message(), "syncs: Required")
		requireError(t, f.do(t, post(path, map[string]any{"syncs": []string{}, "provider_config_key": integration, "opts": map[string]any{}})), http.StatusBadRequest, "invalid_body")
		requireError(t, f.do(t, post(path, map[string]any{"syncs": []string{"leads"}, "provider_config_key": integration})), http.StatusBadRequest, "unknown_sync")
		requireError(t, f.do(t, post(path, map[string]any{"syncs": []string{"contacts::eu"}, "provider_config_key": integration})), http.StatusBadRequest, "unknown_variant")
		requireError(t, f.do(t, post(path, map[string]any{"syncs": []string{}, "provider_config_key": "hubspot"})), http.StatusBadRequest, "unknown_provider_config")
		requireError(t, f.do(t, post(path, map[string]any{"syncs": []string{}, "provider_config_key": integration, "connection_id": "conn-9"})), http.StatusBadRequest, "unknown_connection")
		requireError(t, f.do(t, req{method: http.MethodPost, path: path + "?x=1", body: sel}), http.StatusBadRequest, "invalid_query_params")
	}
}

var uuid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	f.src.mu.Lock()
	f.src.deals = []map[string]any{{"amount": 10}} // no id: the run fails
	f.src.mu.Unlock()
	_, err := f.eng.RunSync(t.Context(), integration, "deals", "conn-1", nil)
	require.Error(t, err)

	a := status(t, f, "syncs=contacts&provider_config_key=crm&connection_id=conn-1")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	s := statuses(a)
	require.Len(t, s, 1)
	got := s[0]
	require.Regexp(t, uuid, got["id"])
	id := got["id"]
	require.Regexp(t, `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`, got["finishedAt"])
	delete(got, "id")
	delete(got, "finishedAt")
	require.Equal(t, map[string]any{
		"connection_id":         "conn-1",
		"name":                  "contacts",
		"variant":               "base",
		"status":                "PAUSED",
		"type":                  "INCREMENTAL",
		"nextScheduledSyncAt":   nil,
		"frequency":             "every hour",
		"latestResult":          map[string]any{"Contact": map[string]any{"added": 0.0, "updated": 1.0, "deleted": 1.0}},
		"latestExecutionStatus": "SUCCESS",
		"recordCount":           map[string]any{"Contact": 4.0},
		"checkpoint":            map[string]any{"seen": 1.0},
	}, got)

	// All syncs of all connections, in the integration's order then the connections'.
	ok(t, f.do(t, post("/sync/start", map[string]any{"syncs": []string{"deals"}, "provider_config_key": integration, "connection_id": "conn-1"})))
	all := statuses(status(t, f, "syncs=*&provider_config_key=crm"))
	require.Len(t, all, 4)
	var names []string
	ids := map[any]bool{}
	for _, s := range all {
		names = append(names, s["name"].(string)+"/"+s["connection_id"].(string))
		ids[s["id"]] = true
	}
	require.Equal(t, []string{"contacts/conn-1", "contacts/conn-2", "deals/conn-1", "deals/conn-2"}, names)
	require.Len(t, ids, 4, "ids differ per sync and connection")
	require.Equal(t, id, all[0]["id"], "ids are stable")
	failed := all[2]
	require.Equal(t, "ERROR", failed["status"])
	require.Equal(t, "STOPPED", failed["latestExecutionStatus"], "Nango's name of a failed job")
	require.Equal(t, "INITIAL", failed["type"])
	require.Nil(t, failed["checkpoint"])
	never := all[3]
	require.Equal(t, "PAUSED", never["status"])
	require.NotContains(t, never, "latestExecutionStatus")
	require.NotContains(t, never, "finishedAt")
	require.Equal(t, map[string]any{"Deal": 0.0}, never["recordCount"])

	require.Len(t, statuses(status(t, f, "syncs=contacts,deals&provider_config_key=crm&connection_id=conn-2")), 2)
	require.Len(t, statuses(status(t, f, "syncs=contacts::base&provider_config_key=crm")), 2)

	for q, code := range map[string]string{
		"provider_config_key=crm":                                      "invalid_query_params",
		"syncs=*":                                                      "invalid_query_params",
		"syncs=&provider_config_key=crm":                               "invalid_query_params",
		"syncs=contacts,,deals&provider_config_key=crm":                "invalid_query_params",
		"syncs=*&provider_config_key=crm&limit=1":                      "invalid_query_params",
		"syncs=*&syncs=deals&provider_config_key=crm":                  "invalid_query_params",
		"syncs=*&provider_config_key=crm&connection_id=":               "invalid_query_params",
		"syncs=leads&provider_config_key=crm":                          "unknown_sync",
		"syncs=contacts::eu&provider_config_key=crm":                   "unknown_variant",
		"syncs=*&provider_config_key=hubspot":                          "unknown_provider_config",
		"syncs=*&provider_config_key=crm&connection_id=conn-9":         "unknown_connection",
		"syncs=contacts&provider_config_key=hubspot&connection_id=c-1": "unknown_connection",
	} {
		requireError(t, status(t, f, q), http.StatusBadRequest, code)
	}
}

func putFrequency(body any) req {
	return req{method: http.MethodPut, path: "/sync/update-connection-frequency", body: body}
}

func TestUpdateFrequency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	body := func(freq any, extra ...any) map[string]any {
		b := map[string]any{"sync_name": "contacts", "provider_config_key": integration, "connection_id": "conn-1", "frequency": freq}
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(b, extra[i].(string))
			} else {
				b[extra[i].(string)] = extra[i+1]
			}
		}
		return b
	}
	freqOf := func(conn string) string {
		return statuses(status(t, f, "syncs=contacts&provider_config_key=crm&connection_id="+conn))[0]["frequency"].(string)
	}
	a := f.do(t, putFrequency(body("every 2 hours")))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, `{"frequency":"every 2 hours"}`, a.raw)
	require.Equal(t, "every 2 hours", freqOf("conn-1"))
	require.Equal(t, "every hour", freqOf("conn-2"))
	a = f.do(t, putFrequency(body("30m", "sync_variant", "base")))
	require.Equal(t, `{"frequency":"30m"}`, a.raw)
	// null reverts to the sync's own.
	a = f.do(t, putFrequency(body(nil)))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, `{"frequency":"every hour"}`, a.raw)
	require.Equal(t, "every hour", freqOf("conn-1"))

	// With the scheduler running too.
	f.runEngine(t)
	a = f.do(t, putFrequency(body("every day")))
	require.Equal(t, `{"frequency":"every day"}`, a.raw)
	require.Equal(t, "every day", freqOf("conn-1"))

	a = f.do(t, putFrequency(body("every banana")))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "frequency: Sync interval is invalid")
	requireError(t, f.do(t, putFrequency(body("5s"))), http.StatusBadRequest, "invalid_body")
	requireError(t, f.do(t, putFrequency(body(""))), http.StatusBadRequest, "invalid_body")
	requireError(t, f.do(t, putFrequency(body(60))), http.StatusBadRequest, "invalid_body")
	a = f.do(t, putFrequency(body("1h", "frequency", nil)))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), "frequency: Required")
	a = f.do(t, putFrequency(body("1h", "sync_name", nil, "connection_id", nil, "extra", true)))
	requireError(t, a, http.StatusBadRequest, "invalid_body")
	require.Contains(t, a.message(), `unknown field(s) "extra"`)
	require.Contains(t, a.message(), "sync_name: Required")
	require.Contains(t, a.message(), "connection_id: Required")

	a = f.do(t, putFrequency(body("1h", "connection_id", "conn-9")))
	requireError(t, a, http.StatusBadRequest, "unknown_connection")
	requireError(t, f.do(t, putFrequency(body("1h", "provider_config_key", "hubspot"))), http.StatusBadRequest, "unknown_connection")
	requireError(t, f.do(t, putFrequency(body("1h", "sync_name", "leads"))), http.StatusBadRequest, "unknown_sync")
	requireError(t, f.do(t, putFrequency(body("1h", "sync_variant", "eu"))), http.StatusBadRequest, "unknown_variant")
	requireError(t, f.do(t, req{method: http.MethodPut, path: "/sync/update-connection-frequency?a=b", body: body("1h")}), http.StatusBadRequest, "invalid_query_params")
	require.Equal(t, "every day", freqOf("conn-1"), "no failed request changed it")
}
