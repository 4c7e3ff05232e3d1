package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/client"
)

const (
	testSecret     = "sk-service-test"
	testSigningKey = "whsk-service-test"
)

// webhook is a webhook the service sent.
type webhook struct {
	body   []byte
	header http.Header
}

// service is the program serving, against the fake org on a simulated clock.
type service struct {
	app      *app
	url      string
	webhooks chan webhook
	out      *lockedBuffer
	dbPath   string
}

func startService(t *testing.T, o options) *service {
	t.Helper()
	s := &service{webhooks: make(chan webhook, 16), out: &lockedBuffer{}}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.webhooks <- webhook{body: body, header: r.Header.Clone()}
	}))
	t.Cleanup(receiver.Close)
	o.listen = "127.0.0.1:0"
	o.dbPath = filepath.Join(t.TempDir(), "service.db")
	s.dbPath = o.dbPath
	o.webhookURL = receiver.URL
	if o.secret == "" && !o.noAuth {
		o.secret = testSecret
	}
	if o.clock == nil {
		o.clock = &simClock{t: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	ready := make(chan struct{})
	o.onReady = func(a *app, url string) {
		s.app, s.url = a, url
		close(ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s.out, o) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not start")
	}
	return s
}

// nextWebhook waits for the next webhook.
func (s *service) nextWebhook(t *testing.T) (webhook, nango.WebhookPayload) {
	t.Helper()
	select {
	case w := <-s.webhooks:
		var p nango.WebhookPayload
		require.NoError(t, json.Unmarshal(w.body, &p))
		return w, p
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
		return webhook{}, nango.WebhookPayload{}
	}
}

// changeOrg makes the walkthrough's changes in the fake org, an hour later, and runs the sync.
func (s *service) changeOrg(t *testing.T) {
	t.Helper()
	f := s.app.fake
	s.app.clock.advance(30 * time.Minute)
	f.update("Hopper", func(c *fakeContact) { e := "grace.hopper@navy.example.com"; c.Email = &e })
	f.update("Turing", func(c *fakeContact) { acct := "001FAKE00000000009"; c.AccountID = &acct })
	f.add("Margaret", "Hamilton", "margaret@example.com", true, f.clock.now())
	f.remove("Thompson")
	s.app.clock.advance(30 * time.Minute)
	s.runNow(t)
}

// runNow runs the sync and waits for it. The scheduler's run may still hold its lease for a
// moment after its webhook went out.
func (s *service) runNow(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := s.app.eng.RunSync(t.Context(), integrationKey, syncName, s.app.connection, nil)
		if errors.Is(err, nango.ErrRunActive) {
			return false
		}
		require.NoError(t, err)
		return true
	}, 10*time.Second, 5*time.Millisecond)
}

func TestServe(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	require.Contains(t, s.out.String(), `Nango-compatible API on `+s.url+`: integration "salesforce", connection "demo", sync "salesforce-contacts" (every hour), model "SalesforceContact".`)
	require.NotContains(t, s.out.String(), testSecret)

	// The scheduler ran the new connection's sync at once; its webhook is Nango's, signed.
	// Without -webhook-signing-key, a key of its own is generated and printed once: never the
	// API's secret, which every receiver would then hold.
	m := regexp.MustCompile(`Webhook signing key \(generated[^)]*\): ([0-9a-f]{64})\n`).FindStringSubmatch(s.out.String())
	require.NotNil(t, m, s.out.String())
	w, p := s.nextWebhook(t)
	require.True(t, nango.VerifyWebhookSignature(w.body, w.header.Get("X-Nango-Hmac-Sha256"), []byte(m[1])), "signed with the generated key")
	require.False(t, nango.VerifyWebhookSignature(w.body, w.header.Get("X-Nango-Hmac-Sha256"), []byte(testSecret)), "not with the secret key")
	require.Equal(t, "application/json", w.header.Get("Content-Type"))
	require.Equal(t, nango.WebhookPayload{
		Type: "sync", From: "nango", ConnectionID: "demo", ProviderConfigKey: "salesforce", SyncName: "salesforce-contacts",
		SyncVariant: "base", Model: "SalesforceContact", SyncType: "INITIAL", Success: true,
		ModifiedAfter: p.ModifiedAfter, QueryTimeStamp: p.ModifiedAfter,
		ResponseResults: &nango.WebhookResults{Added: 10}, Checkpoints: p.Checkpoints,
	}, p)
	require.NotNil(t, p.Checkpoints, "the sync keeps a checkpoint: the webhook says where it went")
	require.JSONEq(t, `null`, string(p.Checkpoints.From), "an initial run starts from no checkpoint")
	require.Contains(t, string(p.Checkpoints.To), "lastModifiedISO")
	require.NotEmpty(t, w.header.Get(nango.WebhookDeliveryIDHeader), "a delivery id for idempotency")

	c, err := client.New(s.url, testSecret, nil)
	require.NoError(t, err)
	since, err := time.Parse(time.RFC3339Nano, p.ModifiedAfter)
	require.NoError(t, err)
	page, err := c.ListRecords(t.Context(), client.ListRecordsParams{ProviderConfigKey: "salesforce", ConnectionID: "demo", Model: "SalesforceContact", ModifiedAfter: since})
	require.NoError(t, err)
	require.Len(t, page.Records, 10, "the webhook's modifiedAfter reads what the run wrote")
	var sc SalesforceContact
	require.NoError(t, page.Records[0].Decode(&sc))
	require.Equal(t, "Ada", sc.FirstName)
	require.Equal(t, page.Records[0].ID, sc.ID)

	s.changeOrg(t)
	_, p = s.nextWebhook(t)
	require.Equal(t, "INCREMENTAL", p.SyncType)
	require.Equal(t, &nango.WebhookResults{Added: 1, Updated: 2, Deleted: 1}, p.ResponseResults)

	// Sync control through the API.
	st, err := c.Status(t.Context(), client.SyncSelector{ProviderConfigKey: "salesforce"})
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, "SUCCESS", st[0].Status)
	require.Equal(t, map[string]int{"SalesforceContact": 10}, st[0].RecordCount)
	require.NoError(t, c.Trigger(t.Context(), client.TriggerParams{SyncSelector: client.SyncSelector{ProviderConfigKey: "salesforce", ConnectionID: "demo"}}))
	freq, err := c.UpdateFrequency(t.Context(), client.UpdateFrequencyParams{ProviderConfigKey: "salesforce", ConnectionID: "demo", Sync: "salesforce-contacts", Frequency: "every 30 minutes"})
	require.NoError(t, err)
	require.Equal(t, "every 30 minutes", freq)

	// Without the key.
	anon, err := client.New(s.url, "", nil)
	require.NoError(t, err)
	_, err = anon.Status(t.Context(), client.SyncSelector{ProviderConfigKey: "salesforce"})
	require.True(t, client.IsCode(err, "missing_auth_header"), err)
}

func TestServeOptions(t *testing.T) {
	t.Parallel()
	err := serve(t.Context(), io.Discard, options{listen: "127.0.0.1:0"})
	require.EqualError(t, err, "serving the API needs a secret key: give -secret (or NANGO_SECRET_KEY); -no-auth serves without one, for local development only")
	err = serve(t.Context(), io.Discard, options{listen: "127.0.0.1:0", secret: "k", webhookSigningKey: "k", webhookURL: "http://127.0.0.1:1/"})
	require.EqualError(t, err, "-webhook-signing-key must differ from -secret: every webhook receiver holds the signing key")

	// Without a key, for local development; a connection id, a frequency and a signing key of
	// its own.
	s := startService(t, options{noAuth: true, webhookSigningKey: testSigningKey, connectionID: "acme", frequency: "every 2 hours"})
	require.Contains(t, s.out.String(), "WARNING: the API runs without a secret key")
	require.Contains(t, s.out.String(), `connection "acme", sync "salesforce-contacts" (every 2 hours)`)
	w, p := s.nextWebhook(t)
	require.Equal(t, "acme", p.ConnectionID)
	require.True(t, nango.VerifyWebhookSignature(w.body, w.header.Get("X-Nango-Hmac-Sha256"), []byte(testSigningKey)))
	c, err := client.New(s.url, "", nil)
	require.NoError(t, err)
	st, err := c.Status(t.Context(), client.SyncSelector{ProviderConfigKey: "salesforce", ConnectionID: "acme"})
	require.NoError(t, err)
	require.Equal(t, "every 2 hours", st[0].Frequency)
}

func TestFakeActivity(t *testing.T) {
	t.Parallel()
	s := startService(t, options{fakeActivity: 5 * time.Millisecond, clock: &simClock{real: true}})
	_, p := s.nextWebhook(t)
	require.GreaterOrEqual(t, p.ResponseResults.Added, 10)
	s.app.fake.mu.Lock()
	added := s.app.fake.nextID
	s.app.fake.mu.Unlock()
	require.Eventually(t, func() bool {
		s.app.fake.mu.Lock()
		defer s.app.fake.mu.Unlock()
		return s.app.fake.nextID >= added+2 // two contacts added since
	}, 10*time.Second, 5*time.Millisecond, "the org changes")
	s.runNow(t)
	_, p = s.nextWebhook(t)
	require.Positive(t, p.ResponseResults.Added)

	f := newFakeSalesforce(&simClock{t: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)})
	var did []string
	for n := range 6 {
		did = append(did, f.activity(n))
	}
	require.Equal(t, []string{
		"changed the email of contact 003FAKE00000000001",
		"added contact 003FAKE00000000011",
		"deleted contact 003FAKE00000000001",
		"changed the email of contact 003FAKE00000000005",
		"added contact 003FAKE00000000012",
		"deleted contact 003FAKE00000000002",
	}, did)
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	listen := fs.String("listen", "", "address [NANGO_LISTEN]")
	secret := fs.String("secret", "", "key [NANGO_SECRET_KEY]")
	noAuth := fs.Bool("no-auth", false, "no auth [NANGO_NO_AUTH]")
	every := fs.Duration("fake-activity", time.Second, "how often [NANGO_FAKE_ACTIVITY]")
	other := fs.String("other", "x", "no variable")
	require.NoError(t, fs.Parse([]string{"-listen", ":1"}))
	env := map[string]string{"NANGO_LISTEN": ":2", "NANGO_SECRET_KEY": "k", "NANGO_NO_AUTH": "true", "NANGO_FAKE_ACTIVITY": "1m", "OTHER": "y"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	require.NoError(t, flagsFromEnv(fs, lookup))
	require.Equal(t, ":1", *listen, "the command line wins")
	require.Equal(t, "k", *secret)
	require.True(t, *noAuth)
	require.Equal(t, time.Minute, *every)
	require.Equal(t, "x", *other)
	fs = flag.NewFlagSet("y", flag.ContinueOnError)
	fs.Duration("fake-activity", time.Second, "how often [NANGO_FAKE_ACTIVITY]")
	env["NANGO_FAKE_ACTIVITY"] = "often"
	require.ErrorContains(t, flagsFromEnv(fs, lookup), `environment variable NANGO_FAKE_ACTIVITY: parse error`)

	// Every flag of the program names its variable.
	var o options
	all := flag.NewFlagSet("salesforce-contacts", flag.ContinueOnError)
	defineFlags(all, &o)
	n := 0
	all.VisitAll(func(f *flag.Flag) {
		require.Regexp(t, envName, f.Usage, f.Name)
		n++
	})
	require.Equal(t, 17, n)
	require.NoError(t, all.Parse(nil))
	require.Equal(t, "demo", o.connectionID)
	require.Equal(t, "every hour", o.frequency)
	require.Equal(t, 30*time.Second, o.fakeActivity)
}

// TestServeEncrypted: with -encryption-key the service syncs as before, and the stored
// connection holds no token in the clear.
func TestServeEncrypted(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	s := startService(t, options{encKey: key, webhookSigningKey: testSigningKey})
	_, p := s.nextWebhook(t)
	require.True(t, p.Success)
	c, err := s.app.eng.Store().ConnectionGet(t.Context(), "salesforce", "demo")
	require.NoError(t, err)
	require.NotEmpty(t, c.Credentials)
	require.False(t, json.Valid(c.Credentials), "sealed, not JSON")
	require.NotContains(t, string(c.Credentials), s.app.fake.refreshToken)

	err = serve(t.Context(), io.Discard, options{listen: "127.0.0.1:0", noAuth: true, encKey: "c2hvcnQ="})
	require.EqualError(t, err, "-encryption-key must be 32 bytes in base64 (openssl rand -base64 32)")
}
