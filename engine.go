package nango

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/gonango/nango/internal/scheduler"
	"github.com/gonango/nango/store"
)

// Config configures an Engine. A nil *Config means all defaults.
type Config struct {
	// Logger receives the engine's and the runs' logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Clock is the engine's one source of time: schedules, leases, run timestamps, provider
	// HTTP backoff and Retry-After, webhook delivery and consumers. Defaults to SystemClock().
	// Tests pass a fake clock (see nangotest.Clock).
	Clock Clock
	// DeleteGuard bounds TrackDeletes sweeps of syncs that set none. Defaults to
	// DefaultDeleteGuard.
	DeleteGuard *DeleteGuard
	// RunTimeout cancels a run's context after this long. Defaults to 24 hours.
	RunTimeout time.Duration
	// RunLogLines is how many log lines a run keeps in its history (the newest). Defaults to 200.
	RunLogLines int

	// MaxConcurrentRuns caps the runs the scheduler starts at once. Defaults to 16.
	MaxConcurrentRuns int
	// MaxConcurrentRunsPerIntegration caps them per integration; 0 means only the global cap.
	// Waiting runs are started round-robin across integrations, so one integration with many
	// connections cannot starve the others.
	MaxConcurrentRunsPerIntegration int
	// Retry retries failed scheduled runs with exponential backoff. Nil means no retry: a
	// failed run waits for its next scheduled slot, as in Nango.
	Retry *RetryPolicy
	// MinFrequency is the shortest frequency accepted. Defaults to MinFrequency (15 seconds).
	// Lower it only in tests.
	MinFrequency time.Duration
	// ShutdownTimeout is how long Run waits, once its context is done, for the runs it started
	// to stop. Defaults to 30 seconds.
	ShutdownTimeout time.Duration
	// LeaseTTL is how long a run's lease lasts without renewal; runs renew it every third of
	// it. A replica that stops renewing loses its runs to another after this long. Defaults to
	// 30 seconds.
	LeaseTTL time.Duration
	// InstanceID names this engine as the owner of its leases. Defaults to the host name, the
	// process id and a random suffix.
	InstanceID string
	// ReloadInterval is how often a running engine reloads connections and schedules from the
	// store, for the changes other engines sharing it made: those come at once as signals when
	// the store implements store.Signaler, and this catches up on a lost one. Defaults to 30
	// seconds.
	ReloadInterval time.Duration
	// MeterProvider receives the engine's OpenTelemetry metrics. Defaults to a no-op provider.
	MeterProvider metric.MeterProvider
	// Webhooks configures the signed webhooks sent to your backend after runs, through a
	// durable outbox (see WebhookConfig). Nil sends none.
	Webhooks *WebhookConfig
	// Retention prunes old record payloads and deletes idle streams in the background while
	// the engine runs (see RetentionConfig). Nil means DefaultRetention.
	Retention *RetentionConfig
	// EncryptionKeys encrypt at rest, with AES-256-GCM and in any store, connection
	// credentials, record payloads and checkpoints: each key is EncryptionKeySize (32) random
	// bytes. The first key encrypts; every key decrypts, since each stored value names its
	// key. Credentials are sealed with these keys; payloads and checkpoints with a data key of
	// their connection, made at its first write and kept with the connection sealed by these
	// keys, so that deleting a connection makes whatever is left of its data unreadable. To
	// rotate, put a new key first, run Engine.ReencryptCredentials (it re-wraps the data keys
	// too), and remove the old key (keep it until every sync has saved its checkpoint again if
	// checkpoints were sealed before data keys existed). Values stored in the clear before a
	// key was set stay readable; payloads are sealed at their next write or by
	// Engine.ReencryptRecords. Nil stores everything unencrypted, and Run logs a warning once
	// when an integration takes credentials.
	EncryptionKeys [][]byte
	// DataKeyStore, when set, keeps the connections' data keys (wrapped by EncryptionKeys)
	// apart from the engine's store, so that a copy or backup of the engine's store holds none:
	// deleting a connection deletes its key from here first, and its records and checkpoints
	// in any backup of the engine's store then no longer decrypt, even with the master keys.
	// A backup of the key store taken before the deletion still opens them: back it up apart,
	// and keep its backups briefly.
	//
	// It is the Connections role of a store of its own: open a second bbolt file, or the same
	// PostgreSQL database with another Options.Schema (or another database), and pass it here.
	// Taking that role rather than a new interface lets every store, and its conformance
	// suite, serve as a key store: the engine needs only a row per key and its atomic update,
	// and which key a connection uses is decided by an atomic update in the engine's store.
	// Every engine sharing the engine's store must have the same key store, which must not be
	// the engine's store: NewEngine refuses the same value, and another handle on the same data
	// (the same bbolt file, the same PostgreSQL schema of the same database; see
	// store.Identifier). Requires EncryptionKeys. The engine does not own it: close it after.
	//
	// A data key made before it was set stays in the engine's store, and works as before;
	// it moves here at the connection's next write or by ReencryptCredentials (backups of the
	// engine's store taken before then still hold it). Without a key store, reading a
	// connection whose key is in one fails. Nil keeps data keys in the engine's store
	// (store.Connection.DataKey).
	//
	// With RetentionConfig.SweepDataKeys, the retention pass (Engine.PruneExpired) deletes from
	// it the keys that no connection names, an hour after they were written: one whose engine
	// stopped between writing it and naming it, or one moved here for a connection whose
	// deletion had begun. A key store thus serves one engine's store and no other: an engine
	// with the sweep on over another store (another service, or a restored backup or copy of
	// this one) given the same key store deletes the keys that its own connections do not
	// name. The sweep is off by default; read such a copy with StoreOpener.WithDataKeyStore.
	DataKeyStore store.Connections
}

// RetryPolicy retries failed runs: the n-th retry waits InitialBackoff * 2^(n-1) with jitter,
// at most MaxBackoff, and there are at most MaxRetries in a row.
type RetryPolicy struct {
	MaxRetries     int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// Integration is a provider integration: a key (Nango's provider config key) and its syncs.
type Integration struct {
	// Key identifies the integration ("salesforce"). Required.
	Key string
	// BaseURL is the provider API's base URL, for the sync's HTTP calls: the paths of
	// Nango.Request are relative to it, and credentials are only sent to its origin.
	BaseURL string
	// Syncs are the integration's syncs; names must be unique.
	Syncs []SyncConfig
	// Auth says how requests authenticate with each connection's Credentials: OAuth2, APIKey,
	// BasicAuth or an AuthFunc. Nil means requests carry no credentials.
	Auth Auth
	// HTTP configures the provider HTTP client: timeout, rate limit, retries. Nil means the
	// defaults described on HTTPConfig.
	HTTP *HTTPConfig
	// Webhooks configures the webhooks the provider sends (see ProviderWebhooks and
	// Engine.ProviderWebhookHandler). Nil means the integration receives none.
	Webhooks *ProviderWebhooks
}

// Connection is one customer's account at an integration.
type Connection struct {
	// Integration is the key of a registered integration. Required.
	Integration string
	// ID identifies the connection within its integration. Required.
	ID string
	// Metadata is any JSON-encodable value the syncs read with Nango.GetMetadata.
	Metadata any
	// Credentials authenticate the connection's requests, as the integration's Auth says. They
	// are stored with the connection (see Credentials). Nil keeps the credentials the
	// connection already has.
	Credentials *Credentials
	// WebhookURLs, when not empty, receive this connection's webhooks instead of
	// WebhookConfig.URLs (Nango's per-connection webhook URL override). Absolute http or https
	// URLs.
	WebhookURLs []string
}

// Engine holds the registered integrations and runs their syncs over a store. It is safe for
// concurrent use.
type Engine struct {
	store  store.Store
	cfg    Config
	logger *slog.Logger

	mu           sync.RWMutex
	integrations map[string]*Integration
	active       map[store.SyncKey]struct{}

	sched     *scheduler.Scheduler // internal/scheduler
	ready     chan struct{}        // closed once Run has started the scheduler
	readyOnce sync.Once
	metrics   *metrics

	hooks    *outgoing     // outgoing webhooks (webhook_delivery.go, internal/delivery)
	subs     *subscribers  // in-process subscribers (subscribe.go)
	incoming *providerHook // provider webhooks (providerhook.go)

	http httpState // provider HTTP state per connection (httpclient.go); ready at its zero value

	progress progressRuns // runs in progress (progress.go); ready at its zero value

	retention       RetentionConfig // retention.go
	sealer          *sealer         // encryption at rest (crypt.go)
	keys            *keyring        // connections' data keys (datakey.go)
	unencryptedOnce sync.Once       // the warning that credentials are stored in the clear
}

// NewEngine returns an engine over st. The engine does not own st: close it after the engine is
// done.
func NewEngine(st store.Store, cfg *Config) (*Engine, error) {
	if st == nil {
		return nil, configError("nil store")
	}
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	if c.DeleteGuard == nil {
		g := DefaultDeleteGuard
		c.DeleteGuard = &g
	}
	if err := c.DeleteGuard.validate(); err != nil {
		return nil, err
	}
	switch {
	case c.RunTimeout == 0:
		c.RunTimeout = 24 * time.Hour
	case c.RunTimeout < 0:
		return nil, configError("run timeout %s is negative", c.RunTimeout)
	}
	switch {
	case c.RunLogLines == 0:
		c.RunLogLines = 200
	case c.RunLogLines < 0:
		return nil, configError("run log lines %d is negative", c.RunLogLines)
	}
	if err := c.applySchedulingDefaults(); err != nil {
		return nil, err
	}
	retention, err := c.Retention.withDefaults() // retention.go
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(c.MeterProvider)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		store:        st,
		cfg:          c,
		logger:       c.Logger,
		integrations: map[string]*Integration{},
		active:       map[store.SyncKey]struct{}{},
		metrics:      m,
		retention:    retention,
	}
	if e.sealer, err = newSealer(c.EncryptionKeys); err != nil {
		return nil, err
	}
	if err := checkDataKeyStore(&c, st); err != nil {
		return nil, err
	}
	e.keys = newKeyring(e.sealer, e.store, c.DataKeyStore, e.now)
	e.sched = newScheduler(e)
	e.ready = make(chan struct{})
	if e.hooks, err = newOutgoing(e, c.Webhooks); err != nil {
		return nil, err
	}
	e.subs = newSubscribers(e)
	e.incoming = newProviderHook(e)
	return e, nil
}

func (c *Config) applySchedulingDefaults() error {
	defaults := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"min frequency", &c.MinFrequency, MinFrequency},
		{"shutdown timeout", &c.ShutdownTimeout, 30 * time.Second},
		{"lease TTL", &c.LeaseTTL, 30 * time.Second},
		{"reload interval", &c.ReloadInterval, 30 * time.Second},
	}
	for _, d := range defaults {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return configError("%s %s is negative", d.name, *d.v)
		}
	}
	switch {
	case c.MaxConcurrentRuns == 0:
		c.MaxConcurrentRuns = 16
	case c.MaxConcurrentRuns < 0:
		return configError("max concurrent runs %d is negative", c.MaxConcurrentRuns)
	}
	if c.MaxConcurrentRunsPerIntegration < 0 {
		return configError("max concurrent runs per integration %d is negative", c.MaxConcurrentRunsPerIntegration)
	}
	if r := c.Retry; r != nil {
		if r.MaxRetries < 0 || r.InitialBackoff <= 0 || r.MaxBackoff < r.InitialBackoff {
			return configError("retry policy needs MaxRetries >= 0 and 0 < InitialBackoff <= MaxBackoff, got %+v", *r)
		}
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.InstanceID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return nil
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// RegisterIntegration adds an integration and its syncs. The configuration is validated and
// copied; registering a key twice is an error.
func (e *Engine) RegisterIntegration(in Integration) error {
	if err := store.ValidateName("integration key", in.Key); err != nil {
		return configError("%v", err)
	}
	in.Syncs = slices.Clone(in.Syncs)
	names := map[string]bool{}
	models := map[string]string{}
	for i := range in.Syncs {
		sc := &in.Syncs[i]
		if err := sc.validate(e.cfg.MinFrequency); err != nil {
			return within(err, "integration %q", in.Key)
		}
		if names[sc.Name] {
			return configError("integration %q has two syncs named %q", in.Key, sc.Name)
		}
		names[sc.Name] = true
		for _, m := range sc.Models {
			if other, ok := models[m.Name]; ok {
				return configError("integration %q: model %q is written by both sync %q and sync %q", in.Key, m.Name, other, sc.Name)
			}
			models[m.Name] = sc.Name
		}
		sc.Models = slices.Clone(sc.Models)
	}
	if err := in.prepareWebhooks(); err != nil { // providerhook.go
		return err
	}
	e.mu.Lock()
	if _, ok := e.integrations[in.Key]; ok {
		e.mu.Unlock()
		return configError("integration %q is already registered", in.Key)
	}
	e.integrations[in.Key] = &in
	e.mu.Unlock()
	if e.sched.Running() {
		// Registered while the engine runs: schedule its existing connections now.
		if err := e.sched.AddIntegration(context.Background(), schedIntegration(&in)); err != nil {
			return fmt.Errorf("nango: %w", err)
		}
	}
	return nil
}

func (e *Engine) integration(key string) (*Integration, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	in, ok := e.integrations[key]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownIntegration, key)
	}
	return in, nil
}

func (e *Engine) syncConfig(integration, name string) (*Integration, *SyncConfig, error) {
	in, err := e.integration(integration)
	if err != nil {
		return nil, nil, err
	}
	for i := range in.Syncs {
		if in.Syncs[i].Name == name {
			return in, &in.Syncs[i], nil
		}
	}
	return nil, nil, fmt.Errorf("%w %q in integration %q", ErrUnknownSync, name, integration)
}

// checkModel verifies that some sync of the integration declares the model.
func (e *Engine) checkModel(integration, model string) error {
	in, err := e.integration(integration)
	if err != nil {
		return err
	}
	var all []string
	for i := range in.Syncs {
		if _, ok := in.Syncs[i].model(model); ok {
			return nil
		}
		all = append(all, in.Syncs[i].modelNames()...)
	}
	return fmt.Errorf("%w %q in integration %q (declared: %v)", ErrUnknownModel, model, integration, all)
}

// AddConnection adds a connection to a registered integration, or replaces its metadata if it
// exists. A connection whose deletion stopped midway (DeleteConnection failed after destroying
// its data key) is refused until DeleteConnection, called again, finishes the deletion.
func (e *Engine) AddConnection(ctx context.Context, c Connection) error {
	if _, err := e.integration(c.Integration); err != nil {
		return err
	}
	if err := store.ValidateName("connection id", c.ID); err != nil {
		return fmt.Errorf("nango: adding connection: %w", err)
	}
	var meta []byte
	if c.Metadata != nil {
		var err error
		if meta, err = json.Marshal(c.Metadata); err != nil {
			return fmt.Errorf("nango: encoding metadata of connection %q: %w", c.ID, err)
		}
	}
	now := e.now()
	for _, u := range c.WebhookURLs {
		if err := checkWebhookURL(u); err != nil {
			return fmt.Errorf("nango: adding connection %q: %w", c.ID, err)
		}
	}
	sc := &store.Connection{Integration: c.Integration, ID: c.ID, Metadata: meta, CreatedAt: now, UpdatedAt: now,
		WebhookURLs: slices.Clone(c.WebhookURLs)}
	if err := e.setCredentials(sc, c.Credentials); err != nil {
		return err
	}
	// An existing connection is updated in one step, its credentials kept unless new ones are
	// given, so that a token refreshed meanwhile is not overwritten with an older one.
	_, err := e.store.ConnectionUpdate(ctx, c.Integration, c.ID, func(old *store.Connection) error {
		if beingDeleted(old.DataKey) {
			return errUnfinishedDeletion
		}
		old.Metadata, old.WebhookURLs, old.UpdatedAt = sc.Metadata, sc.WebhookURLs, now
		if c.Credentials != nil {
			old.Credentials = sc.Credentials
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = e.store.ConnectionPut(ctx, sc)
	}
	if errors.Is(err, errUnfinishedDeletion) {
		return fmt.Errorf("nango: adding connection %q of %q: a deletion of it stopped midway, after its data key was destroyed: call DeleteConnection again to finish it, then add the connection", c.ID, c.Integration)
	}
	if err != nil {
		return fmt.Errorf("nango: adding connection %q: %w", c.ID, err)
	}
	defer e.signal(ctx, store.Signal{Kind: store.SignalConnection, Integration: c.Integration, Connection: c.ID})
	if e.sched.Running() {
		in, err := e.integration(c.Integration)
		if err != nil {
			return err
		}
		if err := e.sched.AddConnection(ctx, schedIntegration(in), c.ID); err != nil {
			return fmt.Errorf("nango: %w", err)
		}
	}
	return nil
}

// DeleteConnection removes a connection with its records, checkpoints and run history. With
// Config.DataKeyStore, it deletes the connection's data key from there first, so that a failure
// midway leaves data that no longer decrypts rather than a key for deleted data (calling it
// again finishes the deletion); a key store that cannot be reached fails it before anything is
// deleted.
func (e *Engine) DeleteConnection(ctx context.Context, integration, id string) error {
	resume := e.sched.RemoveConnection(integration, id)
	defer resume()
	// The key goes first: if the deletion stops in between, what is left no longer decrypts.
	if err := e.keys.destroy(ctx, integration, id); err != nil {
		return err
	}
	if err := e.store.ConnectionDelete(ctx, integration, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, id, integration)
		}
		return fmt.Errorf("nango: deleting connection %q: %w", id, err)
	}
	e.http.forget(integration, id)
	e.signal(ctx, store.Signal{Kind: store.SignalConnection, Integration: integration, Connection: id})
	return nil
}

// errUnfinishedDeletion aborts AddConnection's update of a connection marked as being deleted.
var errUnfinishedDeletion = errors.New("the connection is being deleted")

func (e *Engine) now() time.Time { return store.Timestamp(e.cfg.Clock.Now()) }

func newRunID(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("run_%012x%s", t.UnixMilli(), hex.EncodeToString(b[:]))
}
