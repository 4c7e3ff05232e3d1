package nangotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// DefaultBaseURL is the BaseURL of an integration that has none, in replay.
const DefaultBaseURL = "https://api.example.test"

// DefaultConnection is the connection a Harness runs its sync for unless Options.Connection
// says otherwise.
const DefaultConnection = "test-connection"

// Options configure a Harness. A nil *Options means all defaults.
type Options struct {
	// Sync names the sync to run. Defaults to the integration's only sync.
	Sync string
	// Connection is the connection id. Defaults to DefaultConnection.
	Connection string
	// Metadata is the connection's metadata (Nango.GetMetadata).
	Metadata any
	// Credentials authenticate requests when recording or Live; replays send none, and the
	// integration's Auth is not used. Read them from the environment, never from the code:
	// recorded fixtures have them redacted.
	Credentials *nango.Credentials

	// Fixtures is the fixture file or directory the runs replay, unless a run names its own
	// with WithFixtures. See Fixture for the format.
	Fixtures string
	// Record makes the runs call the provider's real API (the integration's BaseURL, Auth and
	// HTTPConfig.Transport, with Credentials) and write what they get to their fixture path,
	// redacted: the credentials, the secrets the engine knows (tokens, API keys, client
	// secrets), query parameters and JSON members with secret names, and the names in Redact.
	// Setting the environment variable NANGO_RECORD=1 turns it on for every harness with
	// Fixtures (and not Live); the others keep replaying what their runs give them.
	Record bool
	// Provider is a fake of the provider's API that keeps state (records that change between
	// runs, deletions), in place of the real API. Without Fixtures it answers every request, so
	// that an incremental sync that resumes from its checkpoint after a crash gets the answers a
	// real API would give (see CheckCrashRecovery). With Fixtures it stands in for the real API
	// when recording (Record, NANGO_RECORD=1): the runs write what it answered as fixtures, and
	// otherwise replay them. The handler is called in the test's process, without a network; the
	// request's URL keeps the integration's host (BaseURL defaults to DefaultBaseURL). Requests
	// carry the integration's Auth only when Options.Credentials is set.
	Provider http.Handler
	// Live sends the requests to the integration's BaseURL through its HTTPConfig.Transport
	// and Auth with Credentials, as in production, without fixtures: for tests with a fake
	// provider (an httptest.Server).
	Live bool
	// Redact names further query parameters, headers and JSON members whose values are
	// redacted when recording (case-insensitive).
	Redact []string
	// AllowUnusedFixtures lets a successful run leave fixtures unused. By default that fails
	// the test: the sync stopped before fetching everything the fixtures hold.
	AllowUnusedFixtures bool
	// NoValidate turns off the check of every record a run saves against its model's Go type
	// (see Validate).
	NoValidate bool

	// Start is when the fake clock starts. Defaults to DefaultStart.
	Start time.Time
	// Interval is how far the clock moves before each run after the first, as the scheduler
	// would space them. Defaults to the sync's frequency; a negative value keeps the clock
	// still.
	Interval time.Duration
	// Store holds the records. Defaults to a new memory store (closed when the test ends),
	// which passes the same conformance suite as the durable stores.
	Store store.Store
	// Config is the engine's configuration (DeleteGuard, RunLogLines, ...). Its Logger, Now,
	// Sleep and InstanceID are the harness's.
	Config *nango.Config
}

type mode int

const (
	modeReplay mode = iota
	modeRecord
	modeLive
)

// Harness runs one sync for one connection through the real engine with fake edges: a memory
// store (or the one in Options), a fake clock, fixtures for the provider's API, failpoints. It
// belongs to the test that made it; its methods fail that test (tb.Fatalf) when they cannot do
// their work. Runs are sequential: each sees the store as the previous one left it, as runs of
// a sync on one connection are in production.
type Harness struct {
	tb       testing.TB
	opts     Options
	mode     mode
	in       nango.Integration // as registered: Transport and Auth set for the mode
	sync     *nango.SyncConfig
	conn     string
	clock    *Clock
	st       store.Store
	faults   *faultStore
	tracker  *tracker
	red      *redactor
	live     http.RoundTripper // modeLive: the real transport
	logs     *logSink
	eng      *nango.Engine
	interval time.Duration
	runs     int
	restarts int
	crashed  bool
}

// New returns a harness for a sync of the integration in, registered on a new engine with a
// connection. In replay (the default), requests are answered from fixtures and the
// integration's Auth is not used; BaseURL defaults to DefaultBaseURL.
func New(tb testing.TB, in nango.Integration, opts *Options) *Harness {
	tb.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	h := &Harness{tb: tb, opts: o, logs: &logSink{}, conn: o.Connection}
	switch {
	case o.Record || (recordFromEnv() && o.Fixtures != "" && !o.Live):
		h.mode = modeRecord
	case o.Live || (o.Provider != nil && o.Fixtures == ""):
		h.mode = modeLive
	}
	if h.conn == "" {
		h.conn = DefaultConnection
	}
	if in.Key == "" {
		in.Key = "test"
	}
	name := o.Sync
	if name == "" {
		if len(in.Syncs) != 1 {
			tb.Fatalf("nangotest: integration %q has %d syncs: name the one to run in Options.Sync", in.Key, len(in.Syncs))
		}
		name = in.Syncs[0].Name
	}
	in.Syncs = slices.Clone(in.Syncs)
	for i := range in.Syncs {
		if in.Syncs[i].Name == name {
			h.sync = &in.Syncs[i]
		}
	}
	if h.sync == nil {
		tb.Fatalf("nangotest: integration %q has no sync %q", in.Key, name)
	}
	h.interval = o.Interval
	if h.interval == 0 {
		freq := h.sync.Frequency
		if freq == "" {
			freq = "every day"
		}
		d, err := nango.ParseFrequency(freq)
		if err != nil {
			d = 24 * time.Hour
		}
		h.interval = d
	}
	start := o.Start
	if start.IsZero() {
		start = DefaultStart
	}
	h.clock = NewClock(start)
	h.st = o.Store
	if h.st == nil {
		st := memory.New()
		tb.Cleanup(func() { _ = st.Close() })
		h.st = st
	}
	h.faults = &faultStore{Store: h.st}
	h.red = newRedactor(o.Redact, o.Credentials, in.Auth)
	h.tracker = &tracker{red: h.red}

	hc := nango.HTTPConfig{}
	if in.HTTP != nil {
		hc = *in.HTTP
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if o.Provider != nil {
		next = handlerTransport{o.Provider}
		if in.BaseURL == "" {
			in.BaseURL = DefaultBaseURL
		}
		if o.Credentials == nil {
			in.Auth = nil
		}
	}
	switch h.mode {
	case modeReplay:
		in.Auth = nil
		if in.BaseURL == "" {
			in.BaseURL = DefaultBaseURL
		}
	case modeRecord:
		rec := &recorder{next: next, red: h.red}
		if u, err := url.Parse(in.BaseURL); err == nil && in.BaseURL != "" {
			rec.base = u
		}
		if a, ok := in.Auth.(*nango.OAuth2); ok && a.Config != nil {
			rec.token = a.Config.Endpoint.TokenURL
		}
		h.live = rec
	case modeLive:
		h.live = next
	}
	hc.Transport = h.tracker
	h.tracker.arm(h.live, nil, nil)
	in.HTTP = &hc
	h.in = in
	h.eng = h.newEngine()

	conn := nango.Connection{Integration: in.Key, ID: h.conn, Metadata: o.Metadata}
	if h.mode != modeReplay && in.Auth != nil {
		if o.Credentials == nil {
			tb.Fatalf("nangotest: integration %q has an Auth: recording and Live runs need Options.Credentials", in.Key)
		}
		conn.Credentials = o.Credentials
	}
	if err := h.eng.AddConnection(tb.Context(), conn); err != nil {
		tb.Fatalf("nangotest: adding connection %q: %v", h.conn, err)
	}
	return h
}

// newEngine starts an engine over the harness's store: at New, and again after a crash, as a
// restarted process would.
func (h *Harness) newEngine() *nango.Engine {
	h.tb.Helper()
	var cfg nango.Config
	if h.opts.Config != nil {
		cfg = *h.opts.Config
	}
	cfg.Logger = slog.New(&sinkHandler{sink: h.logs})
	cfg.Clock = h.clock
	cfg.InstanceID = fmt.Sprintf("nangotest-%d", h.restarts)
	eng, err := nango.NewEngine(h.faults.engineStore(), &cfg)
	if err != nil {
		h.tb.Fatalf("nangotest: %v", err)
	}
	if err := eng.RegisterIntegration(h.in); err != nil {
		h.tb.Fatalf("nangotest: %v", err)
	}
	return eng
}

// Engine returns the engine the runs use, for the calls a test wants to make itself
// (ListRecords, Status, RunHistory, GetCheckpoint). A crash replaces it at the next run. Runs
// started on it directly (RunSync, DryRun) reach the provider in Live and record mode; in
// replay their requests fail, as no fixtures are loaded outside Run.
func (h *Harness) Engine() *nango.Engine { return h.eng }

// Store returns the store the runs write to.
func (h *Harness) Store() store.Store { return h.st }

// Clock returns the fake clock of the engine.
func (h *Harness) Clock() *Clock { return h.clock }

// Integration returns the key of the harness's integration, for calls to the engine.
func (h *Harness) Integration() string { return h.in.Key }

// Connection returns the id of the connection the harness runs the sync for.
func (h *Harness) Connection() string { return h.conn }

// Sync returns the name of the sync the harness runs.
func (h *Harness) Sync() string { return h.sync.Name }

// SetCheckpoint stores v as the sync's checkpoint, as if an earlier run had saved it.
func (h *Harness) SetCheckpoint(v any) {
	h.tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		h.tb.Fatalf("nangotest: encoding checkpoint: %v", err)
	}
	key := h.checkpointKey()
	var version int64
	if cp, err := h.st.CheckpointGet(h.tb.Context(), key); err == nil {
		version = cp.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		h.tb.Fatalf("nangotest: %v", err)
	}
	if _, err := h.st.CheckpointPut(h.tb.Context(), &store.CheckpointPutParams{Key: key, Data: data, ExpectedVersion: version, Now: h.clock.Now()}); err != nil {
		h.tb.Fatalf("nangotest: saving checkpoint: %v", err)
	}
}

func (h *Harness) checkpointKey() store.CheckpointKey {
	return store.CheckpointKey{Integration: h.in.Key, Sync: h.sync.Name, Connection: h.conn}
}

// RunOption adjusts one run.
type RunOption func(*runConfig)

type runConfig struct {
	fixtures     string
	interactions []Fixture
	failpoints   []Failpoint
	opts         nango.RunOptions
	allowUnused  bool
}

// WithFixtures replays the fixture file or directory at path in this run (or, when
// recording, writes it), instead of Options.Fixtures.
func WithFixtures(path string) RunOption {
	return func(c *runConfig) { c.fixtures = path }
}

// WithInteractions adds these fixtures, written in Go, to those this run replays.
func WithInteractions(fixtures ...Fixture) RunOption {
	return func(c *runConfig) { c.interactions = append(c.interactions, fixtures...) }
}

// WithFailpoints makes requests or commits of this run fail, or the process crash after a
// commit.
func WithFailpoints(fps ...Failpoint) RunOption {
	return func(c *runConfig) { c.failpoints = append(c.failpoints, fps...) }
}

// WithRunOptions runs with these engine options (Reset, EmptyCache, ConfirmDeletes).
func WithRunOptions(o nango.RunOptions) RunOption {
	return func(c *runConfig) { c.opts = o }
}

// AllowUnusedFixtures lets this run leave fixtures unused.
func AllowUnusedFixtures() RunOption {
	return func(c *runConfig) { c.allowUnused = true }
}

// Run runs the sync once and returns what it did; it fails the test when the run fails. Run
// again for the next run: it sees the store and checkpoint this one left, with the fixtures
// its options name.
func (h *Harness) Run(opts ...RunOption) *Result {
	h.tb.Helper()
	res := h.run(opts)
	if res.Err != nil {
		h.tb.Fatalf("nangotest: run %d of sync %s failed: %s\n%s", res.Number, h.sync.Name, res.errText(), res.describe())
	}
	return res
}

// RunFailing runs the sync once and returns what it did; it fails the test when the run
// succeeds. Use it with failpoints, and to test how a sync reports bad data.
func (h *Harness) RunFailing(opts ...RunOption) *Result {
	h.tb.Helper()
	res := h.run(opts)
	if res.Err == nil {
		h.tb.Fatalf("nangotest: run %d of sync %s succeeded; the test expected it to fail\n%s", res.Number, h.sync.Name, res.describe())
	}
	return res
}

func (h *Harness) run(opts []RunOption) *Result {
	h.tb.Helper()
	var rc runConfig
	for _, o := range opts {
		o(&rc)
	}
	if h.crashed {
		// The crashed process is gone; a new one starts once its lease has expired.
		h.restarts++
		h.crashed = false
		ttl := 30 * time.Second
		if h.opts.Config != nil && h.opts.Config.LeaseTTL > 0 {
			ttl = h.opts.Config.LeaseTTL
		}
		h.clock.Advance(ttl)
		h.eng = h.newEngine()
	}
	if h.runs > 0 && h.interval > 0 {
		h.clock.Advance(h.interval)
	}
	path := rc.fixtures
	if path == "" {
		path = h.opts.Fixtures
	}
	var p *player
	var next http.RoundTripper
	switch h.mode {
	case modeRecord:
		if path == "" {
			h.tb.Fatalf("nangotest: recording needs a fixture path: set Options.Fixtures or pass WithFixtures")
		}
		rec := h.live.(*recorder)
		rec.mu.Lock()
		rec.fixtures = nil
		rec.mu.Unlock()
		next = rec
	case modeLive:
		next = h.live
	default:
		var fixtures []Fixture
		if path != "" {
			fx, err := LoadFixtures(path)
			if err != nil {
				h.tb.Fatalf("%v", err)
			}
			fixtures = fx
		}
		fixtures = append(fixtures, rc.interactions...)
		p = newPlayer(fixtures)
	}
	ctx, cancel := context.WithCancel(h.tb.Context())
	defer cancel()
	h.tracker.arm(next, p, rc.failpoints)
	h.faults.arm(rc.failpoints, cancel)
	before := h.snapshot()
	logStart := h.logs.len()

	rr, err := h.eng.RunSync(ctx, h.in.Key, h.sync.Name, h.conn, &rc.opts)
	fs := h.faults.state()
	if rr == nil {
		if !fs.failed && !fs.crashed {
			h.tb.Fatalf("nangotest: the run could not start: %v", err)
		}
		// A failpoint struck before the run began (its start, or a reset).
		rr = &nango.RunResult{Integration: h.in.Key, Sync: h.sync.Name, Connection: h.conn, State: nango.RunFailed, Err: err,
			StartedAt: h.clock.Now(), EndedAt: h.clock.Now(), Models: map[string]nango.ModelResult{}}
	}
	h.runs++
	h.faults.arm(nil, nil)
	h.crashed = fs.crashed
	res := &Result{RunResult: rr, Number: h.runs, Err: rr.Err, Crashed: fs.crashed, Saves: fs.saves, Commits: fs.commits, h: h}
	var unmatched []*UnmatchedRequestError
	res.Requests, unmatched = h.tracker.results()
	h.tracker.arm(h.live, nil, nil)
	res.Logs = h.logs.since(logStart)
	if fs.crashed {
		res.Err = fmt.Errorf("%w after commit %d, %s (the run's own error: %v)", ErrCrashed, fs.crashAt, fs.commits[fs.crashAt-1], rr.Err)
	}
	if cp, err := h.st.CheckpointGet(h.tb.Context(), h.checkpointKey()); err == nil {
		if res.Checkpoint, err = h.opener().OpenCheckpoint(h.tb.Context(), h.checkpointKey(), cp.Data); err != nil {
			h.tb.Fatalf("nangotest: reading the checkpoint: %v", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		h.tb.Fatalf("nangotest: reading the checkpoint: %v", err)
	}
	res.changes = h.changes(before)
	res.Webhooks = nango.WebhookPayloads(rr, false)

	res.unmatched = len(unmatched) > 0
	seen := map[string]bool{}
	for _, u := range unmatched {
		if !seen[u.Request] {
			seen[u.Request] = true
			h.tb.Errorf("%v", u)
		}
	}
	switch {
	case h.mode == modeRecord:
		fixtures := h.live.(*recorder).recorded()
		if err := WriteFixtures(path, fixtures); err != nil {
			h.tb.Fatalf("%v", err)
		}
		h.tb.Logf("nangotest: recorded %d interactions to %s", len(fixtures), path)
	case p != nil && res.Err == nil && !h.opts.AllowUnusedFixtures && !rc.allowUnused && len(unmatched) == 0:
		if unused := p.unused(); len(unused) > 0 {
			h.tb.Errorf("nangotest: run %d succeeded without using %d fixtures (the sync stopped early, or allow it with AllowUnusedFixtures):\n  %s",
				res.Number, len(unused), strings.Join(unused, "\n  "))
		}
	}
	if !h.opts.NoValidate {
		for _, m := range h.sync.Models {
			if m.Type() == nil {
				continue
			}
			for _, v := range res.typeViolations(m) {
				h.tb.Errorf("nangotest: run %d saved a record that does not fit its model: %s", res.Number, v)
			}
		}
	}
	return res
}

// streamState is a model's stream before a run: the last cursor and whether each id was live.
type streamState struct {
	cursor string
	live   map[string]bool
}

func (h *Harness) stream(model string) store.Stream {
	return store.Stream{Integration: h.in.Key, Connection: h.conn, Model: model}
}

// opener reads what the store holds encrypted, with the engine's keys.
func (h *Harness) opener() *nango.StoreOpener {
	h.tb.Helper()
	var keys [][]byte
	var dataKeys store.Connections
	if h.opts.Config != nil {
		keys, dataKeys = h.opts.Config.EncryptionKeys, h.opts.Config.DataKeyStore
	}
	o, err := nango.NewStoreOpener(h.st, keys)
	if err != nil {
		h.tb.Fatalf("nangotest: %v", err)
	}
	if dataKeys != nil {
		o = o.WithDataKeyStore(dataKeys)
	}
	return o
}

// scan lists a stream's whole feed.
func (h *Harness) scan(model, cursor string, fn func(store.Record)) string {
	h.tb.Helper()
	p := &store.RecordsListParams{Stream: h.stream(model), Cursor: cursor, Limit: store.MaxListLimit}
	opener := h.opener()
	last := cursor
	for {
		page, err := h.st.RecordsList(h.tb.Context(), p)
		if err != nil {
			h.tb.Fatalf("nangotest: listing records of %s: %v", model, err)
		}
		if err := opener.OpenRecords(h.tb.Context(), p.Stream, page.Records); err != nil {
			h.tb.Fatalf("nangotest: reading records of %s: %v", model, err)
		}
		for _, r := range page.Records {
			fn(r)
			last = r.Cursor
		}
		if page.NextCursor == "" {
			return last
		}
		p.Cursor = page.NextCursor
	}
}

func (h *Harness) snapshot() map[string]*streamState {
	h.tb.Helper()
	out := map[string]*streamState{}
	for _, m := range h.sync.Models {
		s := &streamState{live: map[string]bool{}}
		s.cursor = h.scan(m.Name, "", func(r store.Record) { s.live[r.ID] = r.LastAction != store.ActionDeleted })
		out[m.Name] = s
	}
	return out
}

// changes classifies what changed in each model since the snapshot.
func (h *Harness) changes(before map[string]*streamState) map[string]*modelChanges {
	h.tb.Helper()
	out := map[string]*modelChanges{}
	for _, m := range h.sync.Models {
		b := before[m.Name]
		mc := &modelChanges{}
		h.scan(m.Name, b.cursor, func(r store.Record) {
			rec := nango.Record{ID: r.ID, Data: r.Data, Metadata: nango.RecordMetadata(r.Metadata)}
			wasLive, isLive := b.live[r.ID], r.LastAction != store.ActionDeleted
			switch {
			case isLive && !wasLive:
				mc.added = append(mc.added, rec)
			case isLive:
				mc.updated = append(mc.updated, rec)
			case wasLive:
				mc.deleted = append(mc.deleted, rec)
			}
		})
		out[m.Name] = mc
	}
	return out
}

// Getenv returns the environment variable key, for the credentials a recording needs. When it
// is empty in record mode (NANGO_RECORD=1), the test is skipped rather than recording
// failures.
func Getenv(tb testing.TB, key string) string {
	tb.Helper()
	v := os.Getenv(key)
	if v == "" && recordFromEnv() {
		tb.Skipf("nangotest: recording needs %s", key)
	}
	return v
}
