// Command service runs the engine the way a production service does: several connections
// (customers) of a ticketing provider, each synced every 15 seconds by the in-process
// scheduler, with a status table printed while it runs, the dashboard (package ui) at /ui/ and
// the REST API (package api) at /nango/. Stop it with Ctrl-C; it stops its runs cleanly, and a
// restart on the same -db resumes from the saved checkpoints and schedules.
//
//	go run ./examples/service                 # until interrupted, store in a temporary file
//	go run ./examples/service -for 1m -db service.db
//	go run ./examples/service -addr ""        # without the dashboard and the API
//
// With -encryption-key (or the NANGO_ENCRYPTION_KEY environment variable; the flag wins) the
// engine encrypts the records it stores (Config.EncryptionKeys), and the dashboard and the API
// still show them in the clear. A restart on the same -db needs the same key:
//
//	export NANGO_ENCRYPTION_KEY="$(openssl rand -base64 32)"
//	go run ./examples/service -db service.db
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/postgres"
	"github.com/gonango/nango/ui"
)

func main() {
	o, err := parseFlags(flag.CommandLine, os.Args[1:], os.LookupEnv)
	if err != nil {
		os.Exit(2) // the flag package has printed why
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// parseFlags reads the options from the command line; -secret and -encryption-key, when not
// given there, come from the NANGO_SECRET_KEY and NANGO_ENCRYPTION_KEY environment variables
// (looked up with lookup), after parsing, so that -help never prints their values.
func parseFlags(flags *flag.FlagSet, args []string, lookup func(string) (string, bool)) (options, error) {
	var o options
	flags.StringVar(&o.db, "db", "", "the store: a bbolt `file`, or a postgres:// URL that several replicas share (default: a temporary file, removed at exit)")
	flags.DurationVar(&o.runFor, "for", 0, "stop after this long (default: run until interrupted)")
	flags.DurationVar(&o.statusEvery, "status-every", 10*time.Second, "print the status table this often")
	flags.IntVar(&o.connections, "connections", 4, "number of customer connections")
	flags.StringVar(&o.addr, "addr", "127.0.0.1:8080", "serve the dashboard (/ui/) and the REST API (/nango/) on this `address`; empty serves nothing")
	flags.StringVar(&o.secret, "secret", "", "the secret `key` of the dashboard and the API (default $NANGO_SECRET_KEY, else a random one, printed)")
	flags.StringVar(&o.encKey, "encryption-key", "", "encrypt the stored records with this `key`: 32 bytes in base64, e.g. from openssl rand -base64 32 (default: stored unencrypted) [NANGO_ENCRYPTION_KEY]")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	given := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fromEnv := func(name, env string, v *string) {
		if s, ok := lookup(env); ok && !given[name] {
			*v = s
		}
	}
	fromEnv("secret", "NANGO_SECRET_KEY", &o.secret)
	fromEnv("encryption-key", "NANGO_ENCRYPTION_KEY", &o.encKey)
	return o, nil
}

type options struct {
	db          string
	runFor      time.Duration
	statusEvery time.Duration
	connections int
	addr        string
	secret      string
	encKey      string // base64 of a 32-byte key encrypting the stored records
	// onServe, when set, is called with the server's base URL once it listens.
	onServe func(base string)
}

// Ticket is the synced model.
type Ticket struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Status  string `json:"status"`
}

func run(ctx context.Context, out io.Writer, o options) error {
	if o.connections < 1 || o.statusEvery <= 0 {
		return fmt.Errorf("need at least one connection and a positive -status-every")
	}
	var keys [][]byte
	if o.encKey != "" {
		k, err := base64.StdEncoding.DecodeString(o.encKey)
		if err != nil || len(k) != nango.EncryptionKeySize {
			return fmt.Errorf("-encryption-key must be %d bytes in base64 (openssl rand -base64 32)", nango.EncryptionKeySize)
		}
		keys = [][]byte{k}
	}
	if o.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}
	if o.db == "" {
		dir, err := os.MkdirTemp("", "nango-service-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.db = filepath.Join(dir, "service.db")
	}
	st, err := openStore(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := nango.NewEngine(st, &nango.Config{Logger: logger, MaxConcurrentRuns: 2, EncryptionKeys: keys})
	if err != nil {
		return err
	}
	desk := newHelpdesk()
	err = eng.RegisterIntegration(nango.Integration{Key: "helpdesk", Syncs: []nango.SyncConfig{{
		Name:        "tickets",
		Description: "Tickets changed since the last run",
		Frequency:   "every 15 seconds",
		Models:      []nango.Model{nango.ModelOf[Ticket]("Ticket")},
		Sync:        nango.SyncFunc(desk.sync),
	}}})
	if err != nil {
		return err
	}
	for i := 1; i <= o.connections; i++ {
		if err := eng.AddConnection(ctx, nango.Connection{Integration: "helpdesk", ID: fmt.Sprintf("customer-%d", i)}); err != nil {
			return err
		}
	}

	engCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(engCtx) }()
	// Serve once the scheduler runs, so that a trigger sent right away finds it.
	select {
	case <-eng.Ready():
	case err := <-engineDone:
		return err
	}
	fmt.Fprintf(out, "Engine running: %d connections, tickets every 15s. Ctrl-C to stop.\n", o.connections)
	if o.addr != "" {
		stopServing, err := serve(ctx, out, eng, logger, o)
		if err != nil {
			return err
		}
		defer stopServing()
	}

	ticker := time.NewTicker(o.statusEvery)
	defer ticker.Stop()
	var statusErr error
	for done := false; !done && statusErr == nil; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C:
			desk.churn() // customers keep working in the helpdesk
			statusErr = printStatus(engCtx, out, eng)
		}
	}
	// Stopping the engine cancels the runs in progress and waits for them.
	stopEngine()
	if err := <-engineDone; err != nil {
		return err
	}
	if statusErr != nil {
		return statusErr
	}
	fmt.Fprintln(out, "\nEngine stopped.")
	return nil
}

// serve mounts the dashboard and the REST API and serves them until the returned function is
// called.
func serve(ctx context.Context, out io.Writer, eng *nango.Engine, logger *slog.Logger, o options) (stop func(), err error) {
	secret, shown := o.secret, "the -secret key"
	if secret == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		secret = "sk-" + hex.EncodeToString(b[:])
		shown = secret
	}
	dash, err := ui.New(eng, &ui.Config{SecretKeys: []string{secret}, Logger: logger})
	if err != nil {
		return nil, err
	}
	rest, err := api.New(eng, &api.Config{SecretKeys: []string{secret}, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", dash))
	mux.Handle("/nango/", http.StripPrefix("/nango", rest))
	mux.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusFound))
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w (another replica on this machine? give each its own -addr, or -addr \"\")", err)
		}
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Dashboard: %s/ui/ (sign in with %s); REST API: %s/nango/\n", base, shown, base)
	if o.onServe != nil {
		go o.onServe(base)
	}
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // live pages (server-sent events) end with their requests
	}, nil
}

func printStatus(ctx context.Context, out io.Writer, eng *nango.Engine) error {
	sts, err := eng.Status(ctx, nango.SyncSelector{Integration: "helpdesk"})
	if err != nil {
		return err
	}
	sort.Slice(sts, func(i, j int) bool { return sts[i].Connection < sts[j].Connection })
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tSTATUS\tTICKETS\tLAST RUN\tNEXT RUN IN")
	for _, s := range sts {
		last := "-"
		if r := s.LatestRun; r != nil {
			m := r.Results["Ticket"]
			last = fmt.Sprintf("%s +%d ~%d", r.State, m.Added, m.Updated)
		}
		next := "-"
		if !s.NextScheduledRun.IsZero() {
			next = time.Until(s.NextScheduledRun).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.Connection, s.Status, s.RecordCounts["Ticket"], last, next)
	}
	return tw.Flush()
}

var subjects = []string{"Cannot log in", "Invoice missing", "Export is slow", "Feature request", "Password reset"}

// helpdesk is an in-process stand-in for a ticketing API (examples/quickstart shows one over
// HTTP): every connection has its own tickets, and each churn adds one and solves one.
type helpdesk struct {
	version atomic.Int64
}

func newHelpdesk() *helpdesk { return &helpdesk{} }

func (h *helpdesk) churn() { h.version.Add(1) }

// sync is the sync's code: it "fetches" the connection's tickets and saves them; the store
// keeps only what changed.
func (h *helpdesk) sync(ctx context.Context, n *nango.Nango) error {
	page := h.fetch(n.ConnectionID())
	return n.BatchSave(ctx, page, "Ticket")
}

func (h *helpdesk) fetch(conn string) []Ticket {
	// Deterministic per connection and version: each churn adds a ticket and moves one on.
	v := int(h.version.Load())
	out := make([]Ticket, 3+v)
	for i := range out {
		status := "open"
		if i < v {
			status = "solved"
		}
		out[i] = Ticket{ID: fmt.Sprintf("%s-%03d", strings.TrimPrefix(conn, "customer-"), i), Subject: subjects[i%len(subjects)], Status: status}
	}
	return out
}

// openStore opens a PostgreSQL store for a postgres:// URL (several replicas of the service
// may share it), else a bbolt file.
func openStore(ctx context.Context, db string) (store.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return postgres.Open(ctx, db, nil)
	}
	return bolt.Open(db, nil)
}
