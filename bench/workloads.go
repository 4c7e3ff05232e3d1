package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	nango "github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// batchSize is the number of records per transaction (raw) and per BatchSave call.
const batchSize = 1000

// The workloads, in the order they run. A group shares one fresh database file.
var groups = [][]string{
	{"raw-put", "raw-scan"},
	{"initial-save", "resave-10pct-changed", "full-sync-trackdeletes", "list-all"},
}

// baselines and targets of the issue.
var (
	baselineOf = map[string]string{
		"raw-put": "raw-put", "raw-scan": "raw-scan",
		"initial-save": "raw-put", "resave-10pct-changed": "raw-put", "full-sync-trackdeletes": "raw-put",
		"list-all": "raw-scan",
	}
	targetOf = map[string]float64{
		"initial-save": 0.7, "resave-10pct-changed": 1.5, "full-sync-trackdeletes": 1.0, "list-all": 0.5,
	}
)

func workloadNames() []string { return slices.Concat(groups...) }

type bench struct {
	cfg   *config
	be    backend
	dir   string
	emit  func(Result) error
	rates map[string]float64
}

// selected reports which workloads to report: the chosen ones and their baselines.
func (b *bench) selected() map[string]bool {
	sel := map[string]bool{}
	if len(b.cfg.workloads) == 0 {
		for _, w := range workloadNames() {
			sel[w] = true
		}
		return sel
	}
	for _, w := range b.cfg.workloads {
		sel[w] = true
		sel[baselineOf[w]] = true
	}
	return sel
}

// runAll runs each group up to its last selected workload; unselected workloads before it run as
// unreported set-up, since each works on the data the ones before left.
func (b *bench) runAll(ctx context.Context) error {
	sel := b.selected()
	for gi, g := range groups {
		last := -1
		for i, w := range g {
			if sel[w] {
				last = i
			}
		}
		if last < 0 {
			continue
		}
		var err error
		switch gi {
		case 0:
			err = b.runRaw(ctx, g[:last+1], sel)
		case 1:
			err = b.runEngine(ctx, g[:last+1], sel)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) report(name string, n int, d time.Duration, pk peaks, note string) error {
	r := Result{
		Store: b.be.name, Workload: b.be.display(name), Records: n, Seconds: d.Seconds(),
		RecordsPerSec: float64(n) / d.Seconds(), Baseline: b.be.display(baselineOf[name]),
		HeapPeak: pk.heap, HeapLivePeak: pk.live, RSSAnon: pk.rss, Note: note,
	}
	b.rates[name] = r.RecordsPerSec
	if base := b.rates[baselineOf[name]]; base > 0 {
		r.RatioToBaseline = r.RecordsPerSec / base
	}
	if t := b.be.target(name); t > 0 {
		r.Target = t
		r.TargetMet = r.RatioToBaseline >= t
	}
	return b.emit(r)
}

func (b *bench) groupDir(name string) (string, error) {
	return os.MkdirTemp(b.dir, name+"-")
}

// pages calls fn with the records of one pass in pages of batchSize, generated as an API would
// return them; version(i) is the version of record i, or -1 when the pass skips it.
func pages(seed uint64, n int, version func(i int) int, fn func([]Contact) error) error {
	page := make([]Contact, 0, batchSize)
	for i := 0; i < n; i++ {
		v := version(i)
		if v < 0 {
			continue
		}
		page = page[:len(page)+1]
		makeContact(&page[len(page)-1], seed, uint64(i), v)
		if len(page) == batchSize {
			if err := fn(page); err != nil {
				return err
			}
			page = page[:0]
		}
	}
	if len(page) > 0 {
		return fn(page)
	}
	return nil
}

// The passes: which records each one sends, at which version.
func initialVersion(int) int { return 0 }

// resaveVersion changes one record in ten.
func resaveVersion(i int) int {
	if i%10 == 0 {
		return 1
	}
	return 0
}

// fullVersion leaves out one record in twenty and changes another one in twenty.
func fullVersion(i int) int {
	switch i % 20 {
	case 3:
		return -1
	case 7:
		return resaveVersion(i) + 1
	}
	return resaveVersion(i)
}

func count(n int, pred func(i int) bool) int {
	c := 0
	for i := 0; i < n; i++ {
		if pred(i) {
			c++
		}
	}
	return c
}

func (b *bench) runRaw(ctx context.Context, ws []string, sel map[string]bool) error {
	dir, err := b.groupDir("raw")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := b.be.openRaw(ctx, dir)
	if err != nil {
		return err
	}
	defer db.close()
	n := b.cfg.records
	for _, w := range ws {
		var fn func() error
		got := 0
		switch w {
		case "raw-put":
			fn = func() error {
				return pages(b.cfg.seed, n, initialVersion, func(p []Contact) error { got += len(p); return db.put(ctx, p) })
			}
		case "raw-scan":
			fn = func() error {
				var c Contact
				return db.scan(ctx, func(data []byte) error {
					c = Contact{}
					got++
					return json.Unmarshal(data, &c)
				})
			}
		}
		d, pk, err := b.measure(fn)
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		if got != n {
			return fmt.Errorf("%s: %d records, want %d", w, got, n)
		}
		if sel[w] {
			if err := b.report(w, n, d, pk, b.be.note); err != nil {
				return err
			}
		}
	}
	return nil
}

const (
	integration = "crm"
	connection  = "acme-prod"
	model       = "Contact"
)

// newEngine returns an engine over st with one sync writing the Contact model. Two engines over
// the same store stand for the same integration without and with TrackDeletes.
func newEngine(st store.Store, syncName string, trackDeletes bool, plan *func(i int) int, seed uint64, n int, keys [][]byte) (*nango.Engine, error) {
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler), EncryptionKeys: keys})
	if err != nil {
		return nil, err
	}
	sc := nango.SyncConfig{
		Name:         syncName,
		Models:       []nango.Model{nango.ModelOf[Contact](model)},
		TrackDeletes: trackDeletes,
		// A full sync that lost 5% of its records must go through; 10% would not.
		DeleteGuard: &nango.DeleteGuard{MaxShare: 0.1, MinRecords: 100},
		Sync: nango.SyncFunc(func(ctx context.Context, nn *nango.Nango) error {
			return pages(seed, n, *plan, func(p []Contact) error { return nn.BatchSave(ctx, p, model) })
		}),
	}
	if err := eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{sc}}); err != nil {
		return nil, err
	}
	return eng, nil
}

func (b *bench) runEngine(ctx context.Context, ws []string, sel map[string]bool) error {
	dir, err := b.groupDir("engine")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := b.be.open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	n := b.cfg.records
	var plan func(i int) int
	var keys [][]byte
	if b.cfg.encrypt {
		keys = [][]byte{[]byte("bench-encryption-key-32-bytes-ok")}
	}
	plain, err := newEngine(st, "contacts", false, &plan, b.cfg.seed, n, keys)
	if err != nil {
		return err
	}
	full, err := newEngine(st, "contacts-full", true, &plan, b.cfg.seed, n, keys)
	if err != nil {
		return err
	}
	if err := plain.AddConnection(ctx, nango.Connection{Integration: integration, ID: connection}); err != nil {
		return err
	}
	runSync := func(eng *nango.Engine, name string, want nango.ModelResult) error {
		res, err := eng.RunSync(ctx, integration, name, connection, nil)
		if err != nil {
			return err
		}
		if len(res.RefusedDeletes) > 0 {
			return fmt.Errorf("the delete guard refused: %v", res.Warnings)
		}
		if got := res.Models[model]; got != want {
			return fmt.Errorf("run counted %+v, want %+v", got, want)
		}
		return nil
	}
	for _, w := range ws {
		var fn func() error
		switch w {
		case "initial-save":
			plan = initialVersion
			fn = func() error { return runSync(plain, "contacts", nango.ModelResult{Added: n}) }
		case "resave-10pct-changed":
			plan = resaveVersion
			changed := count(n, func(i int) bool { return i%10 == 0 })
			fn = func() error {
				return runSync(plain, "contacts", nango.ModelResult{Updated: changed, Unchanged: n - changed})
			}
		case "full-sync-trackdeletes":
			plan = fullVersion
			absent := count(n, func(i int) bool { return i%20 == 3 })
			changed := count(n, func(i int) bool { return i%20 == 7 })
			fn = func() error {
				return runSync(full, "contacts-full", nango.ModelResult{Updated: changed, Deleted: absent, Unchanged: n - changed - absent})
			}
		case "list-all":
			fn = func() error {
				p := nango.ListRecordsParams{Integration: integration, Connection: connection, Model: model, Limit: batchSize}
				got := 0
				var c Contact
				for {
					page, err := plain.ListRecords(ctx, p)
					if err != nil {
						return err
					}
					for _, r := range page.Records {
						c = Contact{}
						if err := json.Unmarshal(r.Data, &c); err != nil {
							return err
						}
						got++
					}
					if page.NextCursor == "" {
						break
					}
					p.Cursor = page.NextCursor
				}
				if got != n {
					return fmt.Errorf("listed %d records, want %d", got, n)
				}
				return nil
			}
		}
		d, pk, err := b.measure(fn)
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		if sel[w] {
			if err := b.report(w, n, d, pk, ""); err != nil {
				return err
			}
		}
	}
	return nil
}
