package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// Config configures the commands. A nil *Config or zero fields mean the defaults.
type Config struct {
	// Engine is the service's engine, with its integrations registered. The commands that run
	// code (trigger, dry-run) need it; the others use it to check names and to list every sync.
	// Nil means inspection only, from Store.
	Engine *nango.Engine
	// Store is what the inspection commands read when Engine is nil. Defaults to
	// Engine.Store().
	Store store.Store
	// Name is the program's name in usage and messages ("myservice nango"). Defaults to
	// "nango".
	Name string
	// Stdout receives the commands' output; Stderr usage, errors and progress. Default to
	// os.Stdout and os.Stderr.
	Stdout io.Writer
	Stderr io.Writer
	// EncryptionKeys are the service's Config.EncryptionKeys, to read the record payloads and
	// checkpoints it stored encrypted from Store when Engine is nil (with an Engine, its keys
	// are used). Values stored in the clear need none.
	EncryptionKeys [][]byte
	// DataKeyStore is the service's Config.DataKeyStore, where the connections' data keys are
	// kept when the service keeps them apart from Store; used with EncryptionKeys when Engine
	// is nil.
	DataKeyStore store.Connections
	// Progress shows the progress of long commands (trigger, dry-run) on Stderr: ProgressAuto
	// (the default) when Stderr is a terminal.
	Progress ProgressMode
}

// ProgressMode says when long commands show their progress.
type ProgressMode int

// The progress modes.
const (
	ProgressAuto ProgressMode = iota
	ProgressOn
	ProgressOff
)

// ErrUsage is matched by the errors of a command line that does not parse: an unknown command
// or flag, a missing or invalid value.
var ErrUsage = errors.New("usage")

// ErrNeedsEngine is returned by the commands that run a sync when Config.Engine is nil.
var ErrNeedsEngine = errors.New("this command runs the syncs' code: mount package cli in your service's binary (cli.Main) to use it")

type env struct {
	ctx    context.Context
	eng    *nango.Engine
	st     store.Store
	opener *nango.StoreOpener
	name   string
	stdout io.Writer
	stderr io.Writer
	prog   ProgressMode
}

type command struct {
	name    string
	args    string
	summary string
	run     func(e *env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"records", "-integration I -connection C -model M [-cursor C] [-filter added,updated,deleted] [-modified-after TIME] [-ids a,b] [-limit N] [-all] [-json]",
			"list records from the change feed", runRecords},
		{"status", "[-integration I] [-connection C] [-sync S] [-json]", "show the status of syncs per connection", runStatus},
		{"history", "-integration I -sync S -connection C [-limit N] [-before RUN_ID] [-log] [-json]", "list past runs, newest first", runHistory},
		{"checkpoint", "show|clear -integration I -sync S -connection C [-yes] [-json]", "show or clear a sync's checkpoint", runCheckpoint},
		{"trigger", "-integration I -sync S -connection C [-reset] [-empty-cache] [-confirm-deletes] [-json]", "run a sync now and wait for it", runTrigger},
		{"dry-run", "-integration I -sync S -connection C [-samples N] [-confirm-deletes] [-requests] [-json]", "run a sync against the real API, write nothing, report what would change", runDryRun},
	}
}

// Run runs the command line args: a command name and its flags. Errors from a command line
// that does not parse match ErrUsage; the usage has been printed on Stderr.
func Run(ctx context.Context, cfg *Config, args []string) error {
	e := &env{ctx: ctx, name: "nango", stdout: os.Stdout, stderr: os.Stderr}
	if cfg != nil {
		e.eng, e.st, e.prog = cfg.Engine, cfg.Store, cfg.Progress
		if cfg.Name != "" {
			e.name = cfg.Name
		}
		if cfg.Stdout != nil {
			e.stdout = cfg.Stdout
		}
		if cfg.Stderr != nil {
			e.stderr = cfg.Stderr
		}
	}
	if e.st == nil && e.eng != nil {
		e.st = e.eng.Store()
	}
	var keys [][]byte
	if cfg != nil {
		keys = cfg.EncryptionKeys
	}
	if e.eng != nil {
		e.opener = e.eng.StoreOpener()
	} else if e.st != nil {
		var err error
		if e.opener, err = nango.NewStoreOpener(e.st, keys); err != nil {
			return fmt.Errorf("cli: %w", err)
		}
		if cfg.DataKeyStore != nil {
			e.opener = e.opener.WithDataKeyStore(cfg.DataKeyStore)
		}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		e.usage()
		if len(args) == 0 {
			return fmt.Errorf("%w: no command", ErrUsage)
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			if e.st == nil {
				return errors.New("cli: Config has neither an Engine nor a Store")
			}
			return c.run(e, args[1:])
		}
	}
	e.usage()
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

// Main runs the command line args like Run, prints an error on Stderr, and returns the exit
// status for os.Exit: 0 on success, 2 for a command line that does not parse, 1 otherwise
// (including a run that failed).
func Main(ctx context.Context, cfg *Config, args []string) int {
	err := Run(ctx, cfg, args)
	if err == nil {
		return 0
	}
	stderr := io.Writer(os.Stderr)
	name := "nango"
	if cfg != nil && cfg.Stderr != nil {
		stderr = cfg.Stderr
	}
	if cfg != nil && cfg.Name != "" {
		name = cfg.Name
	}
	if errors.Is(err, ErrUsage) {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, bareMessage(err))
	return 1
}

// wrapf puts what the command was doing in front of an error of the store or the engine,
// without their package prefix: the program's name is the one prefix. errors.Is and errors.As
// find err.
func wrapf(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...) + ": " + bareMessage(err)
	if errors.Is(err, nango.ErrNoEncryptionKey) {
		msg += " (give the service's encryption key: cli.Config.EncryptionKeys; the nango command reads NANGO_ENCRYPTION_KEY, the key's 32 bytes in base64)"
	}
	return &wrappedError{msg: msg, err: err}
}

type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

// bareMessage is an error's text without the package prefix it carries ("nango: ", "store: "),
// for the one prefix of a message.
func bareMessage(err error) string {
	s := err.Error()
	for _, p := range []string{"nango: ", "store: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func (e *env) usage() {
	fmt.Fprintf(e.stderr, "usage: %s <command> [flags]\n\ncommands:\n", e.name)
	for _, c := range commands {
		fmt.Fprintf(e.stderr, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(e.stderr, "\nRun %s <command> -h for its flags.\n", e.name)
}

// flags is a command's flag set with the shared flags.
type flags struct {
	*flag.FlagSet
	e           *env
	cmd         string
	integration string
	connection  string
	sync        string
	model       string
	json        bool
	required    []string
}

func (e *env) flags(cmd string, args string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), e: e, cmd: cmd}
	f.SetOutput(e.stderr)
	f.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: %s %s %s\n\nflags:\n", e.name, cmd, args)
		f.PrintDefaults()
	}
	return f
}

func (f *flags) withIntegration() *flags {
	f.StringVar(&f.integration, "integration", "", "integration key (Nango's provider config key)")
	f.StringVar(&f.integration, "i", "", "short for -integration")
	f.required = append(f.required, "integration")
	return f
}

// withIntegrationOptional is -integration for the commands that default to every integration.
func (f *flags) withIntegrationOptional() *flags {
	f.StringVar(&f.integration, "integration", "", "integration key (Nango's provider config key); default: every integration")
	f.StringVar(&f.integration, "i", "", "short for -integration")
	return f
}

func (f *flags) withConnection(required bool) *flags {
	f.StringVar(&f.connection, "connection", "", "connection id")
	f.StringVar(&f.connection, "c", "", "short for -connection")
	if required {
		f.required = append(f.required, "connection")
	}
	return f
}

func (f *flags) withSync(required bool) *flags {
	f.StringVar(&f.sync, "sync", "", "sync name")
	f.StringVar(&f.sync, "s", "", "short for -sync")
	if required {
		f.required = append(f.required, "sync")
	}
	return f
}

func (f *flags) withModel() *flags {
	f.StringVar(&f.model, "model", "", "model name")
	f.StringVar(&f.model, "m", "", "short for -model")
	f.required = append(f.required, "model")
	return f
}

func (f *flags) withJSON() *flags {
	f.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	return f
}

// parse parses the flags and checks the required ones.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUsage, f.cmd, err)
	}
	if f.NArg() > 0 {
		f.Usage()
		return fmt.Errorf("%w: %s: unexpected argument %q", ErrUsage, f.cmd, f.Arg(0))
	}
	values := map[string]string{"integration": f.integration, "connection": f.connection, "sync": f.sync, "model": f.model}
	var missing []string
	for _, r := range f.required {
		if values[r] == "" {
			missing = append(missing, "-"+r)
		}
	}
	if len(missing) > 0 {
		f.Usage()
		return fmt.Errorf("%w: %s needs %s", ErrUsage, f.cmd, strings.Join(missing, ", "))
	}
	return nil
}

// syncKey is the sync key the flags name.
func (f *flags) syncKey() store.SyncKey {
	return store.SyncKey{Integration: f.integration, Sync: f.sync, Connection: f.connection}
}

// checkSync verifies, when there is an engine, that the integration and sync are registered.
func (e *env) checkSync(integration, sync string) error {
	if e.eng == nil {
		return nil
	}
	_, err := e.eng.RunHistory(e.ctx, nango.RunHistoryParams{Integration: integration, Sync: sync, Connection: "-", Limit: 1})
	if errors.Is(err, nango.ErrUnknownIntegration) || errors.Is(err, nango.ErrUnknownSync) {
		return err
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
