// Command nango inspects the store of a service built with github.com/gonango/nango: it lists
// records from the change feed, shows the status and run history of syncs, and shows or
// clears checkpoints, on a bbolt file, without the service's code.
//
//	nango -store syncs.db records -integration crm -connection acme -model Contact -filter added,updated
//	nango -store syncs.db history -integration crm -sync contacts -connection acme -log
//	nango -store syncs.db checkpoint clear -integration crm -sync contacts -connection acme -yes
//
// Running syncs (trigger, dry-run) needs their code: mount package cli in the service's
// binary for those. The store is named by -store or NANGO_STORE: a file path or bolt://path.
// bbolt lets one process open a file at a time, so stop the service (or use its mounted
// commands) first; the inspection commands never write records, checkpoints or runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/gonango/nango/cli"
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
	target := fs.String("store", def, "the store: a bbolt file path or bolt://path (postgres:// once the PostgreSQL store exists); defaults to $NANGO_STORE")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for a store file that another process holds")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nango [-store PATH] [-timeout D] <command> [flags]\n\nflags:\n")
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
	if *target == "" {
		fmt.Fprintln(stderr, "nango: name the store with -store or NANGO_STORE")
		return 2
	}
	writes := len(cmd) > 2 && cmd[0] == "checkpoint" && cmd[1] == "clear"
	st, err := openStore(*target, &openOptions{Timeout: *timeout, Write: writes})
	if err != nil {
		fmt.Fprintf(stderr, "nango: %v\n", err)
		return 1
	}
	defer st.Close()
	return cli.Main(ctx, &cli.Config{Store: st, Stdout: stdout, Stderr: stderr, Name: "nango"}, cmd)
}
