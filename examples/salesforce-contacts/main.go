// Command salesforce-contacts is the sync of Nango's documentation page on syncs, in Go: an
// incremental sync of Salesforce contacts with a checkpoint, over the REST query API
// (/services/data/vNN.0/query?q=SOQL, paged by nextRecordsUrl, filtered on LastModifiedDate),
// with deletions read from sObject Get Deleted (/services/data/vNN.0/sobjects/Contact/deleted/)
// within the window Salesforce allows. It authenticates with OAuth 2; when the session expires
// the engine refreshes it with the refresh token, stores the new token with the connection and
// sends the request again.
//
// By default it runs against a built-in fake Salesforce org on loopback whose sessions expire
// after two API calls: three runs, an hour apart, with contacts changed, added and deleted in
// between. With -instance-url and -token it runs once against a real org.
//
//	go run ./examples/salesforce-contacts
//	go run ./examples/salesforce-contacts -instance-url https://acme.my.salesforce.com -token "$SF_ACCESS_TOKEN"
//
// Add -refresh-token, -client-id and -client-secret (of the connected app) to let the engine
// refresh an expired session. The store is a bbolt file in a temporary directory, removed at
// exit, unless -db names one.
//
// # As a service
//
// With -listen it is a service instead: the engine's scheduler runs the sync at -frequency,
// the Nango-compatible REST API (package api) is served on the address, and after each run
// that changed something a webhook in Nango's format, signed with -webhook-signing-key (a key
// of its own, never the API secret; without one, a key is generated and printed at start), is
// sent to -webhook-url through the engine's durable outbox: retried until the receiver takes
// it, and not lost when the service restarts. Any language can then read the change feed and control the sync, for
// example with Nango's own client libraries pointed at it. Integration key "salesforce", sync
// "salesforce-contacts", model "SalesforceContact", connection -connection-id ("demo").
//
//	go run ./examples/salesforce-contacts -listen 127.0.0.1:3003 -secret my-secret-key
//	curl -H "Authorization: Bearer my-secret-key" -H "Connection-Id: demo" -H "Provider-Config-Key: salesforce" \
//		"http://127.0.0.1:3003/records?model=SalesforceContact&limit=5"
//
// Against the built-in fake org, the service changes a contact every -fake-activity (30s). Each
// flag can also be set through the environment variable named in its usage text
// (NANGO_LISTEN, NANGO_SECRET_KEY, ...); a flag on the command line wins.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/postgres"
)

// connectionID is the default connection id (-connection-id).
const connectionID = "demo"

// options are the program's flags.
type options struct {
	instanceURL  string
	token        string
	refreshToken string
	clientID     string
	clientSecret string
	loginURL     string
	apiVersion   string
	dbPath       string
	encKey       string       // base64 of a 32-byte key encrypting the stored token, checkpoints and records
	connectionID string       // defaults to connectionID
	frequency    string       // the sync's frequency; defaults to "every hour"
	logger       *slog.Logger // defaults to warnings on stderr (information too when serving)

	// Serving (see serve.go).
	listen            string
	secret            string
	noAuth            bool
	webhookURL        string
	webhookSigningKey string
	fakeActivity      time.Duration // how often the fake org changes a contact; 0: never

	// For tests.
	clock   *simClock                   // the fake org's clock when serving; real time if nil
	onReady func(a *app, apiURL string) // called once the API is served
}

func main() {
	var o options
	defineFlags(flag.CommandLine, &o)
	flag.Parse()
	if err := flagsFromEnv(flag.CommandLine, os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "salesforce-contacts:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if o.listen != "" {
		err = serve(ctx, os.Stdout, o)
	} else {
		err = run(ctx, os.Stdout, o)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "salesforce-contacts:", err)
		os.Exit(1)
	}
}

// defineFlags defines the program's flags on flags; each usage text ends with the name of the
// environment variable that sets it too, in brackets.
func defineFlags(flags *flag.FlagSet, o *options) {
	flags.StringVar(&o.instanceURL, "instance-url", "", "the org's instance `URL` (with -token: sync a real org) [SALESFORCE_INSTANCE_URL]")
	flags.StringVar(&o.token, "token", "", "an OAuth access `token` of the org [SALESFORCE_TOKEN]")
	flags.StringVar(&o.refreshToken, "refresh-token", "", "a refresh `token`, to refresh expired sessions [SALESFORCE_REFRESH_TOKEN]")
	flags.StringVar(&o.clientID, "client-id", "", "the connected app's consumer `key`, for refreshing [SALESFORCE_CLIENT_ID]")
	flags.StringVar(&o.clientSecret, "client-secret", "", "the connected app's consumer `secret`, for refreshing [SALESFORCE_CLIENT_SECRET]")
	flags.StringVar(&o.loginURL, "login-url", "https://login.salesforce.com", "the `URL` whose /services/oauth2/token refreshes tokens [SALESFORCE_LOGIN_URL]")
	flags.StringVar(&o.apiVersion, "api-version", "v62.0", "the REST API `version` [SALESFORCE_API_VERSION]")
	flags.StringVar(&o.dbPath, "db", "", "the store: a bbolt `file`, or a postgres:// URL that several replicas share (default: a temporary file, removed at exit) [NANGO_DB]")
	flags.StringVar(&o.connectionID, "connection-id", connectionID, "the connection's `id` [NANGO_CONNECTION_ID]")
	flags.StringVar(&o.frequency, "frequency", "every hour", "how often the service runs the sync, as Nango writes it (\"every 30 minutes\") [NANGO_FREQUENCY]")
	flags.StringVar(&o.listen, "listen", "", "serve the Nango-compatible API on this `address` (such as 127.0.0.1:3003) and run as a service [NANGO_LISTEN]")
	flags.StringVar(&o.encKey, "encryption-key", "", "encrypt the stored token, checkpoints and records with this `key`: 32 bytes in base64, e.g. from openssl rand -base64 32 (default: stored unencrypted) [NANGO_ENCRYPTION_KEY]")
	flags.StringVar(&o.secret, "secret", "", "the API's secret `key`: clients send \"Authorization: Bearer <key>\" [NANGO_SECRET_KEY]")
	flags.BoolVar(&o.noAuth, "no-auth", false, "serve the API without a secret key: local development only [NANGO_NO_AUTH]")
	flags.StringVar(&o.webhookURL, "webhook-url", "", "send a webhook to this `URL` after each run that changed records [NANGO_WEBHOOK_URL]")
	flags.StringVar(&o.webhookSigningKey, "webhook-signing-key", "", "sign webhooks (X-Nango-Hmac-Sha256) with this `key`, not the -secret key (default: one generated and printed at start) [NANGO_WEBHOOK_SIGNING_KEY]")
	flags.DurationVar(&o.fakeActivity, "fake-activity", 30*time.Second, "when serving with the fake org, change a contact this often (0: never) [NANGO_FAKE_ACTIVITY]")
}

// envName matches the environment variable named at the end of a flag's usage text.
var envName = regexp.MustCompile(`\[([A-Z][A-Z0-9_]*)\]$`)

// flagsFromEnv sets each flag not given on the command line from its environment variable.
func flagsFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		m := envName.FindStringSubmatch(f.Usage)
		if m == nil || given[f.Name] || err != nil {
			return
		}
		if v, ok := lookup(m[1]); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", m[1], e)
			}
		}
	})
	return err
}

// app is the program's engine, store, sync and (by default) fake org.
type app struct {
	eng         *nango.Engine
	contacts    *contactsSync
	fake        *fakeSalesforce // nil against a real org
	clock       *simClock       // the fake org's clock
	where       string          // the store, for the output
	instanceURL string          // the org's (or the fake's) URL
	connection  string          // the connection's id
	frequency   string          // the sync's
	logger      *slog.Logger
	refreshes   atomic.Int64 // OAuth refreshes, counted by OAuth2.OnRefresh
	closers     []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func newApp(ctx context.Context, o options) (_ *app, err error) {
	if (o.instanceURL == "") != (o.token == "") {
		return nil, errors.New("give both -instance-url and -token for a real org, or neither for the built-in fake")
	}
	if o.apiVersion == "" {
		o.apiVersion = "v62.0"
	}
	if o.connectionID == "" {
		o.connectionID = connectionID
	}
	if o.frequency == "" {
		o.frequency = "every hour"
	}
	if o.logger == nil {
		level := slog.LevelWarn
		if o.listen != "" {
			level = slog.LevelInfo
		}
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	a := &app{connection: o.connectionID, frequency: o.frequency, logger: o.logger}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	now := time.Now
	if o.instanceURL == "" {
		switch {
		case o.clock != nil:
			a.clock = o.clock
		case o.listen != "":
			a.clock = &simClock{real: true} // a service runs in real time
		default:
			a.clock = &simClock{t: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)}
		}
		a.fake = newFakeSalesforce(a.clock)
		srv := httptest.NewServer(a.fake)
		a.closers = append(a.closers, srv.Close)
		o.instanceURL, o.loginURL, o.apiVersion = srv.URL, srv.URL, a.fake.version
		o.token, o.refreshToken = a.fake.session(), a.fake.refreshToken
		o.clientID, o.clientSecret = a.fake.clientID, a.fake.secret
		now = a.clock.now
	}
	a.instanceURL = o.instanceURL

	a.where = "a bbolt file in a temporary directory (removed at exit)"
	if o.dbPath == "" {
		dir, err := os.MkdirTemp("", "nango-salesforce-")
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { os.RemoveAll(dir) })
		o.dbPath = filepath.Join(dir, "nango.db")
	} else if isPostgres(o.dbPath) {
		a.where = "PostgreSQL"
	} else {
		// The walkthrough's output needs a fresh store; a service restarts on its own.
		if _, err := os.Stat(o.dbPath); a.fake != nil && o.listen == "" && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s already exists: the fake org starts afresh, remove it or choose another -db path", o.dbPath)
		}
		a.where = "bbolt file " + o.dbPath
	}
	var keys [][]byte
	if o.encKey != "" {
		k, err := base64.StdEncoding.DecodeString(o.encKey)
		if err != nil || len(k) != nango.EncryptionKeySize {
			return nil, fmt.Errorf("-encryption-key must be %d bytes in base64 (openssl rand -base64 32)", nango.EncryptionKeySize)
		}
		keys = [][]byte{k}
	}
	var st store.Store
	if isPostgres(o.dbPath) {
		st, err = postgres.Open(context.Background(), o.dbPath, nil)
	} else {
		st, err = bolt.Open(o.dbPath, nil)
	}
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { st.Close() })
	if a.eng, err = nango.NewEngine(st, &nango.Config{Logger: o.logger, Webhooks: webhookConfig(o), EncryptionKeys: keys}); err != nil {
		return nil, err
	}
	a.contacts = &contactsSync{version: o.apiVersion, now: now}
	err = a.eng.RegisterIntegration(nango.Integration{
		Key:     integrationKey,
		BaseURL: o.instanceURL,
		Auth: &nango.OAuth2{
			Config: &oauth2.Config{
				ClientID: o.clientID, ClientSecret: o.clientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: strings.TrimSuffix(o.loginURL, "/") + "/services/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
			},
			// The engine already stored the new token with the connection; an app that keeps
			// tokens elsewhere too would save it here.
			OnRefresh: func(context.Context, string, string, *oauth2.Token) error {
				a.refreshes.Add(1)
				return nil
			},
		},
		Syncs: []nango.SyncConfig{{
			Name:        syncName,
			Description: "Fetches contacts from Salesforce",
			Version:     "1.0.0",
			Frequency:   o.frequency,
			Models:      []nango.Model{nango.ModelOf[SalesforceContact](modelName)},
			Sync:        a.contacts,
		}},
	})
	if err != nil {
		return nil, err
	}
	err = a.eng.AddConnection(ctx, nango.Connection{
		Integration: integrationKey, ID: a.connection,
		Credentials: &nango.Credentials{Token: &oauth2.Token{AccessToken: o.token, RefreshToken: o.refreshToken, TokenType: "Bearer"}},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// step is one run, with what happened in the org in the hour before it.
type step struct {
	change string
	do     func()
}

func (a *app) steps() []step {
	if a.fake == nil {
		return []step{{}}
	}
	f := a.fake
	return []step{
		{},
		{
			change: "Grace Hopper's email changed, Alan Turing moved to another account, Margaret Hamilton added, Ken Thompson deleted",
			do: func() {
				f.update("Hopper", func(c *fakeContact) { e := "grace.hopper@navy.example.com"; c.Email = &e })
				f.update("Turing", func(c *fakeContact) { acct := "001FAKE00000000009"; c.AccountID = &acct })
				f.add("Margaret", "Hamilton", "margaret@example.com", true, f.clock.now())
				f.remove("Thompson")
			},
		},
		{
			change: "Edsger Dijkstra got an email address",
			do:     func() { f.update("Dijkstra", func(c *fakeContact) { e := "ewd@example.com"; c.Email = &e }) },
		},
	}
}

func run(ctx context.Context, out io.Writer, o options) error {
	a, err := newApp(ctx, o)
	if err != nil {
		return err
	}
	defer a.close()
	if a.fake != nil {
		fmt.Fprintf(out, "Fake Salesforce org with %d contacts; its sessions expire after %d API calls. Store: %s.\n",
			a.fake.count(), a.fake.sessionCalls, a.where)
	} else {
		fmt.Fprintf(out, "Salesforce org %s. Store: %s.\n", o.instanceURL, a.where)
	}
	feedCursor := ""
	for i, s := range a.steps() {
		fmt.Fprintln(out)
		if s.do != nil {
			a.clock.advance(30 * time.Minute)
			s.do()
			a.clock.advance(30 * time.Minute)
			fmt.Fprintf(out, "An hour later. Salesforce: %s.\n", s.change)
		}
		before := a.refreshes.Load()
		res, err := a.eng.RunSync(ctx, integrationKey, syncName, a.connection, nil)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		st := a.contacts.stats()
		from := "initial: no checkpoint"
		if !res.Initial {
			from = "checkpoint: lastModifiedISO " + st.From.LastModifiedISO + ", deletedSince " + st.From.DeletedSince
		}
		fmt.Fprintf(out, "Run %d (%s)\n", i+1, from)
		fmt.Fprintf(out, "  query:  %s\n", st.Query)
		fmt.Fprintf(out, "  API:    %s, %s; %s; %s\n", plural(st.Pages, "page"), plural(st.Contacts, "contact"),
			st.Deletions, plural(int(a.refreshes.Load()-before), "token refresh"))
		m := res.Models[modelName]
		fmt.Fprintf(out, "  result: added %d, updated %d, deleted %d, unchanged %d\n", m.Added, m.Updated, m.Deleted, m.Unchanged)

		var recs []nango.TypedRecord[SalesforceContact]
		for rec, err := range nango.RecordsOf[SalesforceContact](ctx, a.eng, nango.ListRecordsParams{
			Integration: integrationKey, Connection: a.connection, Model: modelName, Cursor: feedCursor,
		}) {
			if err != nil {
				return fmt.Errorf("run %d: reading the change feed: %w", i+1, err)
			}
			recs = append(recs, rec)
			feedCursor = rec.Metadata.Cursor
		}
		fmt.Fprintf(out, "  feed:   %s\n", plural(len(recs), "record"))
		for j, r := range recs {
			if j == 10 {
				fmt.Fprintf(out, "    ... and %d more\n", len(recs)-j)
				break
			}
			c := r.Value
			account := "-"
			if c.AccountID != nil {
				account = *c.AccountID
			}
			fmt.Fprintf(out, "    %-8s %s  %-20s %-32s %s\n", r.Metadata.LastAction, c.ID, c.FirstName+" "+c.LastName, c.Email, account)
		}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "sh") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// isPostgres reports whether -db names a PostgreSQL database rather than a bbolt file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}
