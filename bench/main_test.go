package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

func TestRunJSON(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-records", "2000", "-json", "-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	fields := []string{"store", "workload", "records", "records_per_sec", "ratio_to_baseline", "baseline",
		"heap_peak_bytes", "heap_live_peak_bytes", "rss_anon_peak_bytes", "seconds", "target", "target_met"}
	seen := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("line %q has no %q", sc.Text(), f)
			}
		}
		w, _ := m["workload"].(string)
		seen[w] = true
		if m["store"] != "bolt" || m["records"] != float64(2000) {
			t.Errorf("line %q: wrong store or records", sc.Text())
		}
		for _, f := range []string{"records_per_sec", "ratio_to_baseline", "seconds", "heap_peak_bytes"} {
			if v, _ := m[f].(float64); v <= 0 {
				t.Errorf("%s: %s is %v", w, f, m[f])
			}
		}
	}
	for _, w := range workloadNames() {
		if !seen[w] {
			t.Errorf("no result for %s", w)
		}
	}
	if len(seen) != len(workloadNames()) {
		t.Errorf("got workloads %v", seen)
	}
	// The temporary files are gone.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind %v", ents)
	}
}

func TestRunTableSubset(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-records", "1000", "-dir", t.TempDir(), "-workloads", "list-all"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, w := range []string{"list-all", "raw-scan", "NoFreelistSync"} {
		if !strings.Contains(s, w) {
			t.Errorf("table lacks %s:\n%s", w, s)
		}
	}
	for _, w := range []string{"initial-save", "raw-put"} {
		if strings.Contains(s, w) {
			t.Errorf("table reports the set-up workload %s:\n%s", w, s)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-store", "nope"}, {"-workloads", "nope"}, {"-records", "10"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestScheduleWorkload(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"schedule", "-connections", "50", "-frequency", "1s", "-min-frequency", "1s", "-json", "-dir", t.TempDir()}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var res ScheduleResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if res.Runs != 50 || res.Connections != 50 || res.Workload != "schedule-lag" || res.CPUPerRunUS <= 0 {
		t.Fatalf("unexpected result %+v", res)
	}
}

// The scheduler workload on PostgreSQL: three engines, each with its own pool, share one
// schema; every connection runs once, on one engine, and none twice.
func TestScheduleWorkloadPostgres(t *testing.T) {
	url := os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against (e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"schedule", "-store", "postgres", "-db", url, "-engines", "3", "-connections", "60",
		"-frequency", "2s", "-min-frequency", "1s", "-json"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var res ScheduleResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if res.Runs != 60 || res.Engines != 3 || res.Store != "postgres" || len(res.RunsPerEngine) != 3 || res.Repeated != 0 || res.Overlaps != 0 {
		t.Fatalf("unexpected result %+v", res)
	}
	total := 0
	for _, n := range res.RunsPerEngine {
		total += n
	}
	if total < 60 {
		t.Fatalf("the engines ran %v, fewer than 60 runs in all", res.RunsPerEngine)
	}
}

func TestScheduleFlags(t *testing.T) {
	for _, args := range [][]string{{"-store", "nope"}, {"-engines", "0"}, {"-connections", "0"}, {"-concurrency", "0"}, {"extra"}} {
		if err := run(context.Background(), append([]string{"schedule"}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
