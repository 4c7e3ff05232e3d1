package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/postgres"
)

// openOptions say how to open a store.
type openOptions struct {
	// Timeout is how long to wait for a store held by another process.
	Timeout time.Duration
	// Write allows the writes of checkpoint clear; without it the store rejects every write.
	Write bool
	// Schema is the PostgreSQL schema of the store; empty means the store's default.
	Schema string
}

// opener opens a store from its name: the part after the scheme for files, the whole URL for
// PostgreSQL.
type opener func(name string, o *openOptions) (store.Store, error)

// openers maps the schemes of -store and -db to the stores.
var openers = map[string]opener{
	"bolt":       func(name string, o *openOptions) (store.Store, error) { return openBolt(afterScheme(name), o) },
	"file":       func(name string, o *openOptions) (store.Store, error) { return openBolt(afterScheme(name), o) },
	"postgres":   openPostgres,
	"postgresql": openPostgres,
}

func afterScheme(name string) string {
	_, target, _ := strings.Cut(name, "://")
	return target
}

// openStore opens the store that name designates: scheme://target, or a bbolt file path.
func openStore(name string, o *openOptions) (store.Store, error) {
	scheme, _, ok := strings.Cut(name, "://")
	if !ok {
		scheme, name = "bolt", "bolt://"+name
	}
	open, ok := openers[strings.ToLower(scheme)]
	if !ok {
		return nil, fmt.Errorf("unknown store %q: want a file path, bolt://PATH or postgres://HOST/DB", scheme+"://")
	}
	st, err := open(name, o)
	if err != nil {
		return nil, err
	}
	if !o.Write {
		st = readOnly{st}
	}
	return st, nil
}

// openPostgres opens the store in a PostgreSQL database: read-only (the schema must exist and
// be migrated) unless the command writes; only writes migrate a schema.
func openPostgres(url string, o *openOptions) (store.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: o.Schema, ReadOnly: !o.Write})
	if errors.Is(err, postgres.ErrSchemaMissing) {
		return nil, fmt.Errorf("%w: is -schema the one the service uses (default %q)?", err, postgres.DefaultSchema)
	}
	return st, err
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
