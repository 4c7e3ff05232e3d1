// Command hubspot-contacts keeps a local copy of a HubSpot account's contacts with both of
// HubSpot's ways to tell what changed: a sync that polls the CRM search API every five minutes
// for contacts modified since its checkpoint, and HubSpot's webhooks (contact created, changed,
// deleted), verified with the app's client secret (signature v3) and handled by the sync's
// OnWebhook as they come, so that a change shows up in the change feed within the webhook's
// request instead of up to five minutes later. The polling run catches what the webhooks
// missed; it uses Nango's "ignore if modified after" merging strategy, so that the older copy
// of a contact it fetched never overwrites the one a webhook saved while it ran.
//
// By default it walks through a few steps against a built-in fake HubSpot on loopback, which
// sends its webhooks to the engine's provider webhook handler, and prints the change feed after
// each:
//
//	go run ./examples/hubspot-contacts
//
// With -listen it is a service instead: the engine's scheduler polls every five minutes, the
// webhook handler is served at /webhooks/hubspot on the address, and the fake changes a
// contact every -fake-activity and sends its webhook. Changes are printed as they commit.
//
//	go run ./examples/hubspot-contacts -listen 127.0.0.1:3004
//
// The store is a bbolt file in a temporary directory, removed at exit, unless -db names one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
)

// webhookPath is where the service receives HubSpot's webhooks.
const webhookPath = "/webhooks/hubspot"

// options are the program's flags.
type options struct {
	dbPath       string
	listen       string
	fakeActivity time.Duration
	logger       *slog.Logger

	onReady func(a *app) // tests: called once the service is up
}

func main() {
	var o options
	flag.StringVar(&o.dbPath, "db", "", "bbolt `file` to keep the store in (default: a temporary file, removed at exit)")
	flag.StringVar(&o.listen, "listen", "", "run as a service, receiving HubSpot's webhooks on this `address` at "+webhookPath)
	flag.DurationVar(&o.fakeActivity, "fake-activity", 10*time.Second, "as a service, how often the fake HubSpot changes a contact")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if o.listen != "" {
		err = serve(ctx, os.Stdout, o)
	} else {
		err = run(ctx, os.Stdout, o)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubspot-contacts:", err)
		os.Exit(1)
	}
}

// app is the engine over its store, with the fake HubSpot and the webhook handler.
type app struct {
	eng        *nango.Engine
	fake       *fakeHubSpot
	connection string // the HubSpot account's id
	handler    http.Handler
	hookURL    string // where the fake sends its webhooks
	where      string
	closers    []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func newApp(ctx context.Context, o options) (_ *app, err error) {
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a := &app{fake: newFakeHubSpot()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	api := httptest.NewServer(a.fake)
	a.closers = append(a.closers, api.Close)
	a.connection = strconv.FormatInt(a.fake.portal, 10)

	a.where = "a bbolt file in a temporary directory (removed at exit)"
	if o.dbPath == "" {
		dir, err := os.MkdirTemp("", "nango-hubspot-")
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { os.RemoveAll(dir) })
		o.dbPath = filepath.Join(dir, "nango.db")
	} else {
		a.where = "bbolt file " + o.dbPath
	}
	st, err := bolt.Open(o.dbPath, nil)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { st.Close() })
	if a.eng, err = nango.NewEngine(st, &nango.Config{Logger: o.logger}); err != nil {
		return nil, err
	}
	if err := a.eng.RegisterIntegration(integration(api.URL, a.fake.secret, time.Now)); err != nil {
		return nil, err
	}
	err = a.eng.AddConnection(ctx, nango.Connection{Integration: integrationKey, ID: a.connection,
		Credentials: &nango.Credentials{APIKey: a.fake.token}})
	if err != nil {
		return nil, err
	}
	if a.handler, err = a.eng.ProviderWebhookHandler(integrationKey); err != nil {
		return nil, err
	}
	return a, nil
}

// run is the walkthrough.
func run(ctx context.Context, out io.Writer, o options) error {
	if o.logger == nil { // the forged webhook's warning is part of the story: it is in the output
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	a, err := newApp(ctx, o)
	if err != nil {
		return err
	}
	defer a.close()
	mux := http.NewServeMux()
	mux.Handle(webhookPath, a.handler)
	hooks := httptest.NewServer(mux)
	defer hooks.Close()
	a.hookURL = hooks.URL + webhookPath
	f := a.fake
	f.hookURL = a.hookURL

	fmt.Fprintf(out, "Fake HubSpot account %s with %d contacts. Store: %s.\n", a.connection, f.count(), a.where)
	fmt.Fprintln(out, "Its webhooks go to the engine's provider webhook handler, which verifies HubSpot's signature v3.")
	feed := &feedReader{a: a, out: out}

	step := func(title string) { fmt.Fprintf(out, "\n%s\n", title) }
	webhook := func(status int, answer string, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  webhook answered %d %s\n", status, answer)
		return nil
	}
	poll := func() error {
		res, err := a.eng.RunSync(ctx, integrationKey, syncName, a.connection, nil)
		if err != nil {
			return err
		}
		m := res.Models[modelName]
		fmt.Fprintf(out, "  polling run: added %d, updated %d, deleted %d, unchanged %d, skipped %d\n",
			m.Added, m.Updated, m.Deleted, m.Unchanged, m.Skipped)
		return nil
	}

	step("1. The first polling run (then every 5 minutes).")
	if err := poll(); err != nil {
		return err
	}
	if err := feed.show(ctx); err != nil {
		return err
	}

	step("2. Jane Doe's email changes in HubSpot, which sends a webhook: the change is in the feed at once.")
	f.setEmail("102", "jane.doe@newco.example")
	if err := webhook(f.notify(f.event("contact.propertyChange", "102", "email", "jane.doe@newco.example"))); err != nil {
		return err
	}
	if err := feed.show(ctx); err != nil {
		return err
	}

	step("3. A forged webhook that deletes Ada Lovelace, not signed with the app's secret.")
	if err := webhook(sendWebhook(a.hookURL, []byte("guessed-secret"), f.event("contact.deletion", "101", "", ""))); err != nil {
		return err
	}
	if err := feed.show(ctx); err != nil {
		return err
	}

	step("4. Alan Turing is deleted in HubSpot (polling cannot see deletions; the webhook can).")
	f.archive("103")
	if err := webhook(f.notify(f.event("contact.deletion", "103", "", ""))); err != nil {
		return err
	}
	if err := feed.show(ctx); err != nil {
		return err
	}

	step("5. Margaret Hamilton is added while webhooks are down; the next polling run finds her. While it runs,\n" +
		"   her email changes and that webhook is handled first: the run's older copy does not overwrite it.")
	id := f.add("Margaret", "Hamilton", "margaret@example.com")
	var hookErr error
	f.mu.Lock()
	f.onSearch = func() {
		f.setEmail(id, "margaret.hamilton@nasa.example")
		hookErr = webhook(f.notify(f.event("contact.propertyChange", id, "email", "margaret.hamilton@nasa.example")))
	}
	f.mu.Unlock()
	if err := poll(); err != nil {
		return err
	}
	if hookErr != nil {
		return hookErr
	}
	return feed.show(ctx)
}

// feedReader prints the change feed from where it last stopped.
type feedReader struct {
	a      *app
	out    io.Writer
	cursor string
}

func (r *feedReader) show(ctx context.Context) error {
	var lines []string
	for rec, err := range nango.RecordsOf[Contact](ctx, r.a.eng, nango.ListRecordsParams{
		Integration: integrationKey, Connection: r.a.connection, Model: modelName, Cursor: r.cursor,
	}) {
		if err != nil {
			return err
		}
		c := rec.Value
		lines = append(lines, fmt.Sprintf("    %-8s %s  %-18s %s", rec.Metadata.LastAction, c.ID, c.FirstName+" "+c.LastName, c.Email))
		r.cursor = rec.Metadata.Cursor
	}
	if len(lines) == 0 {
		fmt.Fprintln(r.out, "  feed: nothing new")
		return nil
	}
	fmt.Fprintf(r.out, "  feed: %d new\n", len(lines))
	for _, l := range lines {
		fmt.Fprintln(r.out, l)
	}
	return nil
}

// serve runs the service until ctx is done.
func serve(ctx context.Context, out io.Writer, o options) error {
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := newApp(ctx, o)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(webhookPath, a.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.hookURL = "http://" + ln.Addr().String() + webhookPath
	a.fake.hookURL = a.hookURL

	unsubscribe, err := a.eng.Subscribe(nango.SubscribeParams{Integration: integrationKey}, func(ev nango.ChangeEvent) {
		fmt.Fprintf(out, "%s  %s run: %d added, %d updated, %d deleted\n", ev.At.Format(time.TimeOnly), ev.Trigger, ev.Added, ev.Updated, ev.Deleted)
	})
	if err != nil {
		return err
	}
	defer unsubscribe()
	fmt.Fprintf(out, "Fake HubSpot account %s with %d contacts; it changes one every %s. Store: %s.\n", a.connection, a.fake.count(), o.fakeActivity, a.where)
	fmt.Fprintf(out, "HubSpot webhooks on %s; polling every 5 minutes.\n", a.hookURL)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		if err := a.eng.Run(ctx); err != nil {
			errc <- fmt.Errorf("engine: %w", err)
		}
	}()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if o.fakeActivity > 0 {
		go a.activity(ctx, o.fakeActivity, o.logger)
	}
	if o.onReady != nil {
		o.onReady(a)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdown, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdown)
	cancel()
	<-engineDone
	return runErr
}

// activity changes a contact's email every period and sends HubSpot's webhook.
func (a *app) activity(ctx context.Context, period time.Duration, logger *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		id := strconv.Itoa(101 + n%5)
		if id == "103" {
			continue
		}
		email := fmt.Sprintf("contact%s+%d@example.com", id, n)
		a.fake.setEmail(id, email)
		if status, answer, err := a.fake.notify(a.fake.event("contact.propertyChange", id, "email", email)); err != nil || status != http.StatusOK {
			logger.Warn("fake HubSpot: webhook not taken", "status", status, "answer", answer, "error", err)
		}
	}
}
