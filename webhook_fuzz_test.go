package nango_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
)

// FuzzVerifyWebhookSignature checks the signature check against arbitrary bodies, signatures
// and keys: it never panics, accepts the body's own signature under a non-empty key (in any
// letter case), and accepts nothing else.
func FuzzVerifyWebhookSignature(f *testing.F) {
	f.Add([]byte(`{"type":"sync"}`), "", []byte("key"))
	f.Add([]byte(`{}`), strings.Repeat("a", 64), []byte(""))
	f.Add([]byte(""), "zz", []byte("k"))
	f.Fuzz(func(t *testing.T, body []byte, sig string, key []byte) {
		good := nango.SignWebhook(key, body)
		if got := nango.VerifyWebhookSignature(body, good, key); got != (len(key) > 0) {
			t.Fatalf("its own signature under key %q: %v", key, got)
		}
		if len(key) > 0 && !nango.VerifyWebhookSignature(body, strings.ToUpper(good), []byte("other"), key) {
			t.Fatal("an upper-case signature under the second key is refused")
		}
		if nango.VerifyWebhookSignature(body, sig, key) && !strings.EqualFold(sig, good) {
			t.Fatalf("accepted signature %q of body %q under key %q; the signature is %s", sig, body, key, good)
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set(nango.WebhookSignatureHeader, sig)
		got, err := nango.VerifyWebhook(r, key)
		if !bytes.Equal(got, body) {
			t.Fatalf("VerifyWebhook returned body %q, want %q", got, body)
		}
		if (err == nil) != (sig != "" && nango.VerifyWebhookSignature(body, sig, key)) {
			t.Fatalf("VerifyWebhook with signature %q: %v", sig, err)
		}
		if err != nil && !errors.Is(err, nango.ErrInvalidWebhookSignature) {
			t.Fatalf("VerifyWebhook: %v is not ErrInvalidWebhookSignature", err)
		}
	})
}

// fuzzProviderEvent is the provider payload FuzzProviderWebhook's integration understands.
type fuzzProviderEvent struct {
	Connection string            `json:"connection"`
	Type       string            `json:"type"`
	Records    []json.RawMessage `json:"records"`
}

// FuzzProviderWebhook posts arbitrary bodies, signed or not, to the provider webhook handler of
// a real engine on a bbolt file, whose OnWebhook saves the records of the payload: a request
// with a wrong signature is refused with 401 and changes nothing; any other request is
// answered with a JSON result; the only 5xx is a failed webhook run, and it says why.
func FuzzProviderWebhook(f *testing.F) {
	f.Add([]byte(`{"connection":"c1","type":"contact.updated","records":[{"id":"a","n":1}]}`), "", true)
	f.Add([]byte(`{"connection":"c1","type":"contact.updated","records":[{"n":1}]}`), "", true)
	f.Add([]byte(`{"connection":"nobody","type":"x"}`), "", true)
	f.Add([]byte(`[1,2`), "", true)
	f.Add([]byte(`{"connection":"c1","type":"contact.updated","records":[{"id":"b"}]}`), strings.Repeat("0", 64), false)
	key := []byte("provider-secret")

	st, err := bolt.Open(filepath.Join(f.TempDir(), "hooks.db"), &bolt.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	if err := eng.RegisterIntegration(nango.Integration{
		Key: "crm",
		Webhooks: &nango.ProviderWebhooks{
			MaxBytes: 16 << 10,
			Verify: func(r *http.Request, body []byte) error {
				if !nango.VerifyWebhookSignature(body, r.Header.Get("X-Provider-Signature"), key) {
					return errors.New("bad signature")
				}
				return nil
			},
			Events: func(r *http.Request, body []byte) ([]nango.ProviderEvent, error) {
				var ev fuzzProviderEvent
				if err := json.Unmarshal(body, &ev); err != nil {
					return nil, err
				}
				return []nango.ProviderEvent{{Connection: ev.Connection, Type: ev.Type}}, nil
			},
		},
		Syncs: []nango.SyncConfig{{
			Name: "contacts", ManualStart: true, Models: []nango.Model{{Name: "Contact"}},
			Sync:                 nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil }),
			WebhookSubscriptions: []string{"contact.updated"},
			OnWebhook: func(ctx context.Context, n *nango.Nango, payload json.RawMessage) error {
				var ev fuzzProviderEvent
				if err := json.Unmarshal(payload, &ev); err != nil {
					return err
				}
				if len(ev.Records) == 0 {
					return nil
				}
				return n.BatchSave(ctx, ev.Records, "Contact")
			},
		}},
	}); err != nil {
		f.Fatal(err)
	}
	if err := eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "c1"}); err != nil {
		f.Fatal(err)
	}
	h, err := eng.ProviderWebhookHandler("crm")
	if err != nil {
		f.Fatal(err)
	}
	runs := func(t *testing.T) string {
		hist, err := eng.WebhookRunHistory(context.Background(), nango.RunHistoryParams{Integration: "crm", Sync: "contacts", Connection: "c1", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) == 0 {
			return ""
		}
		return hist[0].ID
	}

	f.Fuzz(func(t *testing.T, body []byte, sig string, sign bool) {
		if sign {
			sig = nango.SignWebhook(key, body)
		}
		valid := nango.VerifyWebhookSignature(body, sig, key)
		before := runs(t)
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Provider-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var res nango.ProviderWebhookResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("answered %d with a body that is not a JSON result: %q", rec.Code, rec.Body.String())
		}
		switch {
		case len(body) > 16<<10:
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("a body of %d bytes: %d %s", len(body), rec.Code, rec.Body.String())
			}
		case !valid:
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("signature %q: %d %s", sig, rec.Code, rec.Body.String())
			}
			if runs(t) != before {
				t.Fatal("a request with a wrong signature made a webhook run")
			}
		case rec.Code >= 500 && res.Error == "":
			t.Fatalf("answered %d without saying why: %s", rec.Code, rec.Body.String())
		case rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusInternalServerError:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body.String())
		}
	})
}
