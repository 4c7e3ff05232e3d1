package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// openOptions say how to open a store.
type openOptions struct {
	// Timeout is how long to wait for a store held by another process.
	Timeout time.Duration
	// Write allows the writes of checkpoint clear; without it the store rejects every write.
	Write bool
}

// opener opens a store from the part of its name after the scheme.
type opener func(target string, o *openOptions) (store.Store, error)

// openers maps the schemes of -store to the stores. The PostgreSQL store registers here once
// it exists (store/postgres): "postgres" and "postgresql" then open a connection URL.
var openers = map[string]opener{
	"bolt": openBolt,
	"file": openBolt,
	"postgres": func(string, *openOptions) (store.Store, error) {
		return nil, errNoPostgres
	},
	"postgresql": func(string, *openOptions) (store.Store, error) {
		return nil, errNoPostgres
	},
}

var errNoPostgres = errors.New("the PostgreSQL store is not part of this build yet (store/postgres); use a bbolt file")

// openStore opens the store that name designates: scheme://target, or a bbolt file path.
func openStore(name string, o *openOptions) (store.Store, error) {
	scheme, target, ok := strings.Cut(name, "://")
	if !ok {
		scheme, target = "bolt", name
	}
	open, ok := openers[strings.ToLower(scheme)]
	if !ok {
		return nil, fmt.Errorf("unknown store %q: want a file path, bolt://PATH or postgres://HOST/DB", scheme+"://")
	}
	st, err := open(target, o)
	if err != nil {
		return nil, err
	}
	if !o.Write {
		st = readOnly{st}
	}
	return st, nil
}

// openBolt opens an existing bbolt store file; it never creates one.
func openBolt(path string, o *openOptions) (store.Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no store file at %s", path)
		}
		return nil, err
	}
	// Inspection opens the file read-only (a shared lock, nothing written); only the commands
	// that write (checkpoint clear) open it for writing.
	st, err := bolt.Open(path, &bolt.Options{Timeout: o.Timeout, ReadOnly: !o.Write})
	if errors.Is(err, bolt.ErrLocked) {
		return nil, fmt.Errorf("%w: the service has it open; stop it, or use the commands mounted in its binary", err)
	}
	return st, err
}
