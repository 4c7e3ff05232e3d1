package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store/bolt"
)

// fuzzEndpoints are the routes FuzzAPI drives, with their methods; the fuzzer picks one by
// index, and may pick a wrong method too.
var fuzzEndpoints = []struct{ method, path string }{
	{http.MethodGet, "/records"},
	{http.MethodPost, "/sync/trigger"},
	{http.MethodPost, "/sync/start"},
	{http.MethodPost, "/sync/pause"},
	{http.MethodGet, "/sync/status"},
	{http.MethodPut, "/sync/update-connection-frequency"},
	{http.MethodGet, "/webhooks/deliveries"},
	{http.MethodPost, "/webhooks/redeliver"},
	{http.MethodDelete, "/records"},
}

// FuzzAPI sends arbitrary query strings, bodies and connection headers to every endpoint of a
// real engine on a bbolt file, in process: the answer is never a 5xx and never a panic, and
// every error is a JSON error object.
func FuzzAPI(f *testing.F) {
	seeds := []struct {
		ep          uint8
		query, body string
		conn, key   string
	}{
		{0, "model=Contact&limit=10&filter=added,updated", "", "conn-1", integration},
		{0, "model=Contact&cursor=abc&modified_after=2024-01-01T00:00:00Z&ids=a&ids=b", "", "conn-1", integration},
		{0, "model=Contact&limit=-1&delta=x&variant=v1", "", "conn-2", integration},
		{1, "", `{"provider_config_key":"crm","syncs":["contacts"],"connection_id":"conn-1","opts":{"reset":true}}`, "", ""},
		{1, "", `{"syncs":[{"name":"contacts","variant":"base"}],"sync_mode":"full_refresh_and_clear_cache"}`, "conn-1", integration},
		{2, "", `{"provider_config_key":"crm","syncs":["deals"]}`, "", ""},
		{3, "", `{"provider_config_key":"crm","syncs":["contacts"],"connection_id":"conn-2"}`, "", ""},
		{4, "syncs=contacts,deals&provider_config_key=crm&connection_id=conn-1", "", "", ""},
		{4, "syncs=*&provider_config_key=crm", "", "", ""},
		{5, "", `{"provider_config_key":"crm","sync_name":"contacts","connection_id":"conn-1","frequency":"every 2 hours"}`, "", ""},
		{6, "state=dead&limit=5&cursor=x", "", "", ""},
		{7, "", `{"id":"nope"}`, "", ""},
		{7, "", `{"all_dead":true}`, "", ""},
		{1, "", `{"syncs":` + strings.Repeat("[", 500), "", ""},
		{0, "model=%zz&limit=1e9", "", "\x00", "crm"},
	}
	for _, s := range seeds {
		f.Add(s.ep, s.query, []byte(s.body), s.conn, s.key)
	}

	st, err := bolt.Open(filepath.Join(f.TempDir(), "fuzz.db"), &bolt.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	started := make(chan struct{})
	eng, err := nango.NewEngine(st, &nango.Config{
		Logger: slog.New(&startHandler{started: started, once: &sync.Once{}}), ShutdownTimeout: 5 * time.Second,
		Webhooks: &nango.WebhookConfig{URLs: []string{"http://127.0.0.1:1/hook"}, SigningKeys: [][]byte{[]byte("k")}},
	})
	if err != nil {
		f.Fatal(err)
	}
	src := &source{contacts: []map[string]any{{"id": "c1", "name": "Ada"}, {"id": "c2", "name": "Grace"}}}
	if err := eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every hour", ManualStart: true, Models: []nango.Model{{Name: "Contact"}}, Sync: nango.SyncFunc(src.contactsSync)},
		{Name: "deals", Frequency: "every day", ManualStart: true, Models: []nango.Model{{Name: "Deal"}}, Sync: nango.SyncFunc(src.dealsSync)},
	}}); err != nil {
		f.Fatal(err)
	}
	for _, id := range []string{"conn-1", "conn-2"} {
		if err := eng.AddConnection(context.Background(), nango.Connection{Integration: integration, ID: id}); err != nil {
			f.Fatal(err)
		}
		if _, err := eng.RunSync(context.Background(), integration, "contacts", id, nil); err != nil {
			f.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.Error(err)
		}
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		f.Fatal("the engine did not start")
	}
	h, err := api.New(eng, &api.Config{SecretKeys: []string{secret}, Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, ep uint8, query string, body []byte, conn, key string) {
		e := fuzzEndpoints[int(ep)%len(fuzzEndpoints)]
		req := httptest.NewRequest(e.method, "/", bytes.NewReader(body))
		req.URL.Path, req.URL.RawQuery = e.path, query
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		if conn != "" {
			req.Header["Connection-Id"] = []string{conn}
		}
		if key != "" {
			req.Header["Provider-Config-Key"] = []string{key}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s with body %q: %d %s", e.method, e.path, query, body, rec.Code, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s?%s: answered %d with Content-Type %q", e.method, e.path, query, rec.Code, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil && rec.Code >= 400 {
			t.Fatalf("%s %s?%s: answered %d with a body that is no JSON object: %q", e.method, e.path, query, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			if _, ok := out["error"].(map[string]any); !ok {
				t.Fatalf("%s %s?%s: answered %d without an error object: %s", e.method, e.path, query, rec.Code, rec.Body.String())
			}
		}
	})
}
