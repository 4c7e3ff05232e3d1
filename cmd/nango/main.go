// Command nango inspects the store of a service built with github.com/gonango/nango: it lists
// records from the change feed, shows the status and run history of syncs, and shows or
// clears checkpoints, on a bbolt file or a PostgreSQL database, without the service's code.
//
//	nango -store syncs.db records -integration crm -connection acme -model Contact -filter added,updated
//	nango -db postgres://user@host/db -schema nango status                 # every integration
//	nango -store syncs.db history -integration crm -sync contacts -connection acme -log
//	nango -store syncs.db checkpoint clear -integration crm -sync contacts -connection acme -yes
//
// Running syncs (trigger, dry-run) needs their code: mount package cli in the service's
// binary for those. The store is named by -store or NANGO_STORE (a file path or bolt://path),
// or -db (a postgres:// URL, with -schema when the service uses another schema than "nango").
// bbolt lets one process open a file at a time, so stop the service (or use its mounted
// commands) first; a PostgreSQL store can be inspected while the service runs. The inspection
// commands never write records, checkpoints or runs.
//
// A service with Config.EncryptionKeys stores record payloads and checkpoints encrypted: set
// NANGO_ENCRYPTION_KEY to its key (the 32 bytes in base64; several keys separated by commas)
// to read them, and, when the service keeps its data keys apart (Config.DataKeyStore), name
// that store with -key-store (a file path, bolt://path or postgres:// URL, with
// -key-store-schema) or NANGO_KEY_STORE.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/cli"
	"github.com/gonango/nango/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nango", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("NANGO_STORE")
	target := fs.String("store", def, "the store: a bbolt file path, bolt://path or postgres://...; defaults to $NANGO_STORE")
	db := fs.String("db", "", "a PostgreSQL database URL (postgres://user@host:port/db), instead of -store")
	schema := fs.String("schema", "", "the PostgreSQL schema of the store (default \"nango\")")
	keyStore := fs.String("key-store", os.Getenv("NANGO_KEY_STORE"), "the service's data key store (Config.DataKeyStore), opened read-only: a bbolt file path, bolt://path or postgres://...; defaults to $NANGO_KEY_STORE")
	keySchema := fs.String("key-store-schema", "", "the PostgreSQL schema of the data key store (default \"nango\")")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for a store file that another process holds, or to connect to a database")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nango [-store PATH | -db URL [-schema S]] [-key-store PATH|URL] [-timeout D] <command> [flags]\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(stderr)
		_ = cli.Run(ctx, &cli.Config{Stdout: stdout, Stderr: stderr, Name: "nango"}, []string{"help"})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cmd := fs.Args()
	if len(cmd) == 0 || cmd[0] == "help" {
		fs.Usage()
		if len(cmd) == 0 {
			return 2
		}
		return 0
	}
	if cmd[0] == "trigger" || cmd[0] == "dry-run" {
		fmt.Fprintf(stderr, "nango: %s: %v\n", cmd[0], cli.ErrNeedsEngine)
		return 1
	}
	if *db != "" {
		storeSet := false
		fs.Visit(func(f *flag.Flag) { storeSet = storeSet || f.Name == "store" })
		if storeSet {
			fmt.Fprintln(stderr, "nango: -store and -db both name the store: give one")
			return 2
		}
		if !strings.HasPrefix(*db, "postgres://") && !strings.HasPrefix(*db, "postgresql://") {
			fmt.Fprintf(stderr, "nango: -db %q: want a postgres:// URL (a bbolt file goes to -store)\n", *db)
			return 2
		}
		*target = *db
	}
	if *target == "" {
		fmt.Fprintln(stderr, "nango: name the store with -store, -db or NANGO_STORE")
		return 2
	}
	keys, err := encryptionKeys(os.Getenv("NANGO_ENCRYPTION_KEY"))
	if err != nil {
		fmt.Fprintf(stderr, "nango: NANGO_ENCRYPTION_KEY: %v\n", err)
		return 2
	}
	writes := len(cmd) > 2 && cmd[0] == "checkpoint" && cmd[1] == "clear"
	st, err := openStore(*target, &openOptions{Timeout: *timeout, Write: writes, Schema: *schema})
	if err != nil {
		fmt.Fprintf(stderr, "nango: %v\n", err)
		return 1
	}
	defer st.Close()
	cfg := &cli.Config{Store: st, EncryptionKeys: keys, Stdout: stdout, Stderr: stderr, Name: "nango"}
	if *keyStore != "" {
		if len(keys) == 0 {
			fmt.Fprintln(stderr, "nango: -key-store holds data keys wrapped by the service's encryption key: set NANGO_ENCRYPTION_KEY too")
			return 2
		}
		ks, err := openStore(*keyStore, &openOptions{Timeout: *timeout, Schema: *keySchema})
		if err != nil {
			fmt.Fprintf(stderr, "nango: the data key store: %v\n", err)
			return 1
		}
		defer ks.Close()
		if store.SameData(underlying(st), underlying(ks)) {
			fmt.Fprintln(stderr, "nango: -key-store names the store itself: give the store the service keeps its data keys in (Config.DataKeyStore)")
			return 2
		}
		cfg.DataKeyStore = ks
	}
	return cli.Main(ctx, cfg, cmd)
}

// underlying returns the store a read-only wrapper holds.
func underlying(st store.Store) any {
	if r, ok := st.(readOnly); ok {
		return r.Reader
	}
	return st
}

// encryptionKeys decodes NANGO_ENCRYPTION_KEY: the service's encryption keys, each its 32 bytes
// in standard base64, separated by commas; empty for none.
func encryptionKeys(v string) ([][]byte, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, s := range strings.Split(v, ",") {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil || len(k) != nango.EncryptionKeySize {
			return nil, fmt.Errorf("key %d is not %d bytes in base64 (as openssl rand -base64 32 makes)", i+1, nango.EncryptionKeySize)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
