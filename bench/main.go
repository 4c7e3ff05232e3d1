// Command bench measures the record store against a plain database doing the same I/O with no
// logic on top: BatchSave (initial, re-save, full sync with TrackDeletes) against raw puts, and
// ListRecords against a raw scan. It reports records per second, the ratio to the baseline, and
// the peak Go heap and anonymous RSS of each workload.
//
//	go run ./bench -records 100000
//	go run ./bench -records 1000000 -json -workloads raw-put,full-sync-trackdeletes
//	go run ./bench schedule -connections 10000 -frequency "every minute"
//	go run ./bench schedule -store postgres -engines 3 -connections 10000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// Result is one workload's measurement; -json prints one per line.
type Result struct {
	Store         string  `json:"store"`
	Workload      string  `json:"workload"`
	Records       int     `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// Baseline is the raw workload this one is compared with (itself for the baselines).
	Baseline        string  `json:"baseline"`
	RatioToBaseline float64 `json:"ratio_to_baseline"`
	// Target is the minimum ratio the workload should reach; 0 for none.
	Target    float64 `json:"target"`
	TargetMet bool    `json:"target_met"`
	// HeapPeak is the peak of the bytes in heap objects, garbage not yet swept included;
	// HeapLivePeak the peak of the heap marked live by a GC.
	HeapPeak     uint64 `json:"heap_peak_bytes"`
	HeapLivePeak uint64 `json:"heap_live_peak_bytes"`
	RSSAnon      uint64 `json:"rss_anon_peak_bytes"`
	Note         string `json:"note,omitempty"`
}

type config struct {
	records   int
	jsonOut   bool
	store     string
	dir       string
	workloads []string
	seed      uint64
	cpuprof   string
	memprof   string
	sampleMS  int
	encrypt   bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	var workloads string
	fs.IntVar(&c.records, "records", 100000, "number of records")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object per workload and line")
	fs.StringVar(&c.store, "store", "bolt", "store to measure: "+strings.Join(backendNames(), ", "))
	fs.StringVar(&c.dir, "dir", os.TempDir(), "where to create the temporary database files")
	fs.StringVar(&pgURL, "db", os.Getenv("NANGO_TEST_POSTGRES_URL"), "the PostgreSQL database of -store postgres (a fresh schema per run, dropped after); defaults to $NANGO_TEST_POSTGRES_URL")
	fs.StringVar(&workloads, "workloads", "", "comma-separated subset of: "+strings.Join(workloadNames(), ", ")+" (default all)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated records")
	fs.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the measured workloads to this file")
	fs.StringVar(&c.memprof, "memprofile", "", "write an allocation profile to this file at the end")
	fs.IntVar(&c.sampleMS, "sample-ms", 5, "memory sampling interval in milliseconds")
	fs.BoolVar(&c.encrypt, "encrypt", false, "run the engine with an encryption key (Config.EncryptionKeys): record payloads and checkpoints sealed with AES-256-GCM")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.records < batchSize {
		return nil, fmt.Errorf("-records %d: at least %d", c.records, batchSize)
	}
	if c.sampleMS <= 0 {
		return nil, fmt.Errorf("-sample-ms must be positive")
	}
	if workloads != "" {
		for _, w := range strings.Split(workloads, ",") {
			w = strings.TrimSpace(w)
			if w == "raw-copy" {
				w = "raw-put" // its name on PostgreSQL
			}
			if !slices.Contains(workloadNames(), w) {
				return nil, fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(workloadNames(), ", "))
			}
			c.workloads = append(c.workloads, w)
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "schedule" {
		return runSchedule(ctx, args[1:], stdout, stderr)
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	be, err := lookupBackend(c.store)
	if err != nil {
		return err
	}
	if c.cpuprof != "" {
		f, err := os.Create(c.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	tmp, err := os.MkdirTemp(c.dir, "nango-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var results []Result
	emit := func(r Result) error {
		results = append(results, r)
		if c.jsonOut {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s\n", b)
			return err
		}
		return nil
	}
	b := &bench{cfg: c, be: be, dir: tmp, emit: emit, rates: map[string]float64{}}
	if err := b.runAll(ctx); err != nil {
		return err
	}
	if c.memprof != "" {
		f, err := os.Create(c.memprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	if !c.jsonOut {
		printTable(stdout, c, be, results)
	}
	return nil
}

func printTable(w io.Writer, c *config, be backend, results []Result) {
	fmt.Fprintf(w, "store %s, %d records of %d bytes of JSON on average, %d per transaction, files in %s\n",
		be.name, c.records, avgJSONSize(c.seed), batchSize, c.dir)
	fmt.Fprintln(w, be.note)
	if c.encrypt {
		fmt.Fprintln(w, "engine workloads with an encryption key: payloads sealed with AES-256-GCM, hashed with HMAC-SHA256")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\trecords\tseconds\trecords/s\tbaseline\tratio\ttarget\tmet\theap peak MB\tlive heap peak MB\tanon RSS peak MB\t")
	for _, r := range results {
		target, met := "-", "-"
		if r.Target > 0 {
			target = fmt.Sprintf(">= %.1fx", r.Target)
			met = map[bool]string{true: "yes", false: "NO"}[r.TargetMet]
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%.2fx\t%s\t%s\t%.1f\t%.1f\t%.1f\t\n", r.Workload, r.Records, r.Seconds,
			r.RecordsPerSec, r.Baseline, r.RatioToBaseline, target, met, mb(r.HeapPeak), mb(r.HeapLivePeak), mb(r.RSSAnon))
	}
	_ = tw.Flush()
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

// measure runs fn with the memory sampler on and returns its duration and peaks.
func (b *bench) measure(fn func() error) (time.Duration, peaks, error) {
	settle()
	s := startSampler(time.Duration(b.cfg.sampleMS) * time.Millisecond)
	start := time.Now()
	err := fn()
	d := time.Since(start)
	return d, s.finish(), err
}
