package nango_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// The crash loop runs a sync in a child process (this test binary, re-run with crashChildEnv
// set) and kills it with SIGKILL at random moments. After each kill the parent opens the store
// file and checks what a user relies on: the file opens, no batch is torn, the feed's cursors
// increase, the checkpoint is never ahead of its records. At the end a child runs to
// completion, and every change the parent saw committed must have reached the webhook receiver
// (in some webhook's modifiedAfter window) and the durable consumer, at least once.
//
// NANGO_CRASH_LOOPS sets the number of kills (default crashLoopsCI).

const (
	crashChildEnv = "NANGO_CRASH_CHILD" // the store file; set only in the child
	crashHookEnv  = "NANGO_CRASH_HOOK"  // the webhook receiver's URL
	crashLogEnv   = "NANGO_CRASH_LOG"   // the consumer's log file
	crashRunsEnv  = "NANGO_CRASH_RUNS"  // how many complete runs the child makes
	crashShiftEnv = "NANGO_CRASH_SHIFT" // how far ahead of the real time the child's clock is
)

// crashEncryptionKey encrypts the child's store: the kills land in the middle of sealing too
// (a connection's data key made at its first write, payloads and checkpoints sealed with it).
var crashEncryptionKey = bytes.Repeat([]byte{0x5a}, nango.EncryptionKeySize)

const (
	crashLoopsCI   = 40
	crashBatches   = 8
	crashBatchSize = 25
)

// crashCP is the crash-loop sync's checkpoint: the pass (rev) and the next batch to save.
type crashCP struct {
	Rev  int `json:"rev"`
	Next int `json:"next"`
}

// crashRecord is a record of the crash-loop sync: batch k of pass rev.
type crashRecord struct {
	ID    string `json:"id"`
	Batch int    `json:"batch"`
	Rev   int    `json:"rev"`
}

// crashIncluded reports whether pass rev saves record i of a batch: each pass leaves out a
// fifth of the records, so that the TrackDeletes sweep deletes them and the next pass adds
// them back.
func crashIncluded(rev, i int) bool { return (i+rev)%5 != 0 }

func crashID(k, i int) string { return fmt.Sprintf("b%d-%02d", k, i) }

// crashIntegration is the integration the child runs; emit reports each commit on stdout.
func crashIntegration(emit func(string)) nango.Integration {
	return nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", TrackDeletes: true, ManualStart: true,
		DeleteGuard: &nango.DeleteGuard{MaxShare: 1},
		Models:      []nango.Model{nango.ModelOf[crashRecord]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			var cp crashCP
			found, err := n.GetCheckpoint(ctx, &cp)
			if err != nil {
				return err
			}
			if !found || cp.Next >= crashBatches {
				cp = crashCP{Rev: cp.Rev + 1}
			}
			emit(fmt.Sprintf("began pass %d at batch %d", cp.Rev, cp.Next))
			for k := cp.Next; k < crashBatches; k++ {
				var page []crashRecord
				for i := range crashBatchSize {
					if crashIncluded(cp.Rev, i) {
						page = append(page, crashRecord{ID: crashID(k, i), Batch: k, Rev: cp.Rev})
					}
				}
				if err := n.BatchSave(ctx, page, "Contact", nango.WithCheckpoint(crashCP{Rev: cp.Rev, Next: k + 1})); err != nil {
					return err
				}
				emit(fmt.Sprintf("saved batch %d", k))
			}
			return nil
		}),
	}}}
}

// TestCrashLoopChild is the child's body; it does nothing in a normal test run.
func TestCrashLoopChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("runs only as the crash loop's child process")
	}
	if err := crashChild(path); err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("done")
}

func crashChild(path string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs, _ := strconv.Atoi(os.Getenv(crashRunsEnv))
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	emit := func(s string) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintln(out, s)
		out.Flush()
	}
	shift, _ := time.ParseDuration(os.Getenv(crashShiftEnv))
	st, err := bolt.Open(path, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	eng, err := nango.NewEngine(st, &nango.Config{
		Logger:         quiet,
		Clock:          shiftedClock{nango.SystemClock(), shift},
		LeaseTTL:       300 * time.Millisecond,
		EncryptionKeys: [][]byte{crashEncryptionKey},
		Webhooks: &nango.WebhookConfig{
			URLs:           []string{os.Getenv(crashHookEnv)},
			SigningKeys:    [][]byte{[]byte("crash-loop-key")},
			InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		},
	})
	if err != nil {
		return err
	}
	if err := eng.RegisterIntegration(crashIntegration(emit)); err != nil {
		return err
	}
	if err := eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "c1"}); err != nil {
		return err
	}
	logf, err := os.OpenFile(os.Getenv(crashLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cons, err := eng.NewConsumer(nango.ConsumerConfig{
		Name: "backend", Integration: "crm", PollInterval: 20 * time.Millisecond,
		Handle: func(ctx context.Context, b *nango.ChangeBatch) error {
			var sb strings.Builder
			for _, r := range b.Records {
				fmt.Fprintf(&sb, "%s %d\n", r.ID, r.Metadata.LastModifiedAt.UnixMicro())
			}
			// One write per batch, appended: a kill keeps it or not, whole.
			if _, err := logf.WriteString(sb.String()); err != nil {
				return err
			}
			emit("consumed")
			return nil
		},
	})
	if err != nil {
		return err
	}
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	consDone := make(chan error, 1)
	go func() { consDone <- cons.Run(ctx) }()
	emit("started")

	for done := 0; done < runs; {
		res, err := eng.RunSync(ctx, "crm", "contacts", "c1", nil)
		switch {
		case errors.Is(err, nango.ErrRunActive):
			// The killed process's lease has not expired yet.
			time.Sleep(20 * time.Millisecond)
			continue
		case err != nil:
			return fmt.Errorf("run: %w", err)
		}
		done++
		emit(fmt.Sprintf("run ended (+%d ~%d -%d)", res.Models["Contact"].Added, res.Models["Contact"].Updated, res.Models["Contact"].Deleted))
	}
	// Wait until every webhook was delivered and the consumer has read everything.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ws, err := eng.WebhookStats(ctx)
		if err != nil {
			return err
		}
		if ws.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d webhooks still pending", ws.Pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	emit("webhooks delivered")
	cancel()
	if err := <-consDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("consumer: %w", err)
	}
	if err := <-engDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("engine: %w", err)
	}
	if _, err := cons.Drain(context.Background()); err != nil {
		return fmt.Errorf("consumer drain: %w", err)
	}
	return nil
}

// shiftedClock is the real clock, ahead by a duration. The last child of the crash loop runs
// ahead so that the claims on webhooks that killed children held (which last beyond the
// attempt's timeout) have expired, instead of waiting for them.
type shiftedClock struct {
	nango.Clock
	ahead time.Duration
}

func (c shiftedClock) Now() time.Time { return c.Clock.Now().Add(c.ahead) }

// crashHook is the loopback webhook receiver: it keeps every verified success webhook.
type crashHook struct {
	mu    sync.Mutex
	shift time.Duration // the child's clock is ahead by this much
	hooks []receivedHook
}

type receivedHook struct {
	from time.Time // modifiedAfter
	at   time.Time // when it arrived
}

func (h *crashHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !nango.VerifyWebhookSignature(body, r.Header.Get("X-Nango-Hmac-Sha256"), []byte("crash-loop-key")) {
		http.Error(w, "bad webhook", http.StatusUnauthorized)
		return
	}
	var p nango.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad webhook", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	at := time.Now().Add(h.shift)
	h.mu.Unlock()
	if p.Success && p.Model == "Contact" {
		from, err := time.Parse(time.RFC3339Nano, p.ModifiedAfter)
		if err != nil {
			http.Error(w, "bad modifiedAfter", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.hooks = append(h.hooks, receivedHook{from: from, at: at})
		h.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// covered reports whether a webhook that arrived after time t announced a window that holds t.
func (h *crashHook) covered(t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.hooks {
		if !w.from.After(t) && !w.at.Before(t) {
			return true
		}
	}
	return false
}

// crashChange is a change the parent saw committed: a record at its last modification.
type crashChange struct {
	id string
	at time.Time
}

func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	loops := crashLoopsCI
	if v := os.Getenv("NANGO_CRASH_LOOPS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "NANGO_CRASH_LOOPS")
		loops = n
	}
	dir := t.TempDir()
	hook := &crashHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	path := filepath.Join(dir, "syncs.db")
	logPath := filepath.Join(dir, "consumer.log")

	// Calibrate: how long does a child take to make two runs on a file of its own?
	var full time.Duration
	lines, err := crashRunTimed(t, filepath.Join(dir, "calibrate.db"), srv.URL, filepath.Join(dir, "calibrate.log"), 2, 0, 0, &full)
	require.NoError(t, err, "the calibration child: %v", lines)
	t.Logf("a child making two runs takes %v", full)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	points := map[string]int{}
	seen := map[crashChange]bool{}
	for i := range loops {
		// Most kills strike during the runs; one in eight counts from the start of the
		// process, to strike while it opens the store and takes over from the killed one.
		delay := time.Duration(1 + rng.Int64N(int64(full)*4/5))
		lines, err := crashRunFrom(t, path, srv.URL, logPath, 2, delay, 0, nil, i%8 == 7)
		point := "before the child started"
		for j := len(lines) - 1; j >= 0; j-- {
			if lines[j] != "consumed" {
				point = "after " + crashPoint(lines[j])
				break
			}
		}
		if err == nil {
			point = "none: the child finished first"
		}
		points[point]++
		crashCheck(t, fmt.Sprintf("kill %d (%s)", i+1, point), path, seen)
		if t.Failed() {
			return
		}
	}

	// A last child runs to completion: two complete passes, webhooks delivered, the consumer
	// drained.
	const shift = 2 * time.Minute
	hook.mu.Lock()
	hook.shift = shift
	hook.mu.Unlock()
	lines, err = crashRunShifted(t, path, srv.URL, logPath, 2, 0, shift)
	require.NoError(t, err, "the final child: %v", lines)
	cp := crashCheck(t, "the end", path, seen)

	// The last pass was complete and started with a fresh deletion window: exactly its
	// records are live, and the ones it left out are deleted.
	st, err := bolt.Open(path, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	recs := crashRecords(t, st)
	// Every run has ended: the killed ones are recorded as interrupted, none is left running.
	var interrupted, succeeded int
	before := ""
	for range 100 {
		runs, err := st.RunList(t.Context(), &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "c1"}, Limit: 1000, Before: before})
		require.NoError(t, err)
		for _, r := range runs {
			switch {
			case r.State == store.RunRunning:
				t.Errorf("run %s (started %s) is still recorded as running", r.ID, r.StartedAt)
			case r.State == store.RunSucceeded:
				succeeded++
			case r.Error == nango.InterruptedRunError:
				interrupted++
			}
		}
		if len(runs) < 1000 {
			break
		}
		before = runs[len(runs)-1].ID
	}
	require.NoError(t, st.Close())
	for k := range crashBatches {
		for i := range crashBatchSize {
			r, ok := recs[crashID(k, i)]
			require.True(t, ok, "record %s exists", crashID(k, i))
			live := r.Metadata.DeletedAt.IsZero()
			require.Equal(t, crashIncluded(cp.Rev, i), live, "record %s live after the last pass %d", crashID(k, i), cp.Rev)
		}
	}

	// Every change seen committed was announced by a webhook and handed to the consumer.
	consumed := crashConsumed(t, logPath)
	var missedHook, missedConsumer int
	for c := range seen {
		if !hook.covered(c.at) {
			missedHook++
			if missedHook <= 3 {
				t.Errorf("no webhook covers the change of %s at %s", c.id, c.at.Format(time.RFC3339Nano))
			}
		}
		if last, ok := consumed[c.id]; !ok || last < c.at.UnixMicro() {
			missedConsumer++
			if missedConsumer <= 3 {
				t.Errorf("the consumer never got the change of %s at %s", c.id, c.at.Format(time.RFC3339Nano))
			}
		}
	}
	require.Zero(t, missedHook, "changes in no webhook's window")
	require.Zero(t, missedConsumer, "changes the consumer never got")

	keys := make([]string, 0, len(points))
	for k := range points {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "\n  %3d  %s", points[k], k)
	}
	t.Logf("%d kills, %d runs succeeded, %d recorded as interrupted, %d changes checked, %d webhooks received; crash points (last event before the kill):%s",
		loops, succeeded, interrupted, len(seen), len(hook.hooks), sb.String())
}

// crashPoint names an event of the child without its numbers of passes and changes.
func crashPoint(l string) string {
	switch {
	case strings.HasPrefix(l, "began"):
		_, at, _ := strings.Cut(l, " at ")
		return "a run began at " + at
	case strings.HasPrefix(l, "run ended"):
		return "a run ended"
	}
	return l
}

// crashRunShifted starts a child making runs complete runs on the file at path, with its clock
// ahead by shift, and, when kill is not zero, kills it with SIGKILL after kill. It returns the
// child's event lines, and the child's error when it was not killed.
func crashRunShifted(t *testing.T, path, hook, logPath string, runs int, kill, shift time.Duration) ([]string, error) {
	return crashRunTimed(t, path, hook, logPath, runs, kill, shift, nil)
}

// crashRunTimed is crashRunShifted, and sets *lastRun to how long the child worked (from the
// start of its first run to done).
func crashRunTimed(t *testing.T, path, hook, logPath string, runs int, kill, shift time.Duration, lastRun *time.Duration) ([]string, error) {
	return crashRunFrom(t, path, hook, logPath, runs, kill, shift, lastRun, false)
}

// crashRunFrom is crashRunTimed; with fromStart, kill counts from the start of the process
// rather than from the start of its first run.
func crashRunFrom(t *testing.T, path, hook, logPath string, runs int, kill, shift time.Duration, lastRun *time.Duration, fromStart bool) ([]string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashHookEnv+"="+hook, crashLogEnv+"="+logPath,
		crashRunsEnv+"="+strconv.Itoa(runs), crashShiftEnv+"="+shift.String())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var startedAt, doneAt time.Time
	var lines []string
	var mu sync.Mutex
	started := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			switch l := sc.Text(); {
			case startedAt.IsZero() && (l == "started" && fromStart || strings.HasPrefix(l, "began") && !fromStart):
				startedAt = time.Now()
				close(started)
			case l == "done":
				doneAt = time.Now()
			}
		}
	}()
	exited := make(chan struct{})
	if kill > 0 {
		// The kill comes kill after the child said it started its first run, or its process
		// (fromStart), or, when it never does, whenever it ends.
		go func() {
			select {
			case <-started:
			case <-exited:
				return
			}
			select {
			case <-time.After(kill):
				_ = cmd.Process.Signal(syscall.SIGKILL)
			case <-exited:
			}
		}()
	}
	<-readDone
	err = cmd.Wait()
	close(exited)
	if lastRun != nil {
		*lastRun = doneAt.Sub(startedAt)
	}
	killed := false
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	events := make([]string, 0, len(lines))
	for _, l := range lines {
		if strings.HasPrefix(l, "error:") {
			t.Errorf("the child failed: %s", l)
		}
		if l == "started" || strings.HasPrefix(l, "saved") || strings.HasPrefix(l, "began") || strings.HasPrefix(l, "run ended") ||
			l == "consumed" || l == "webhooks delivered" || l == "done" {
			events = append(events, l)
		}
	}
	if killed {
		return events, errors.New("killed")
	}
	if err != nil {
		return events, fmt.Errorf("child: %w (output %q)", err, lines)
	}
	return events, nil
}

// crashCheck opens the store after a kill and checks its invariants; it adds the changes it
// finds to seen and returns the checkpoint.
func crashCheck(t *testing.T, when, path string, seen map[crashChange]bool) crashCP {
	t.Helper()
	st, err := bolt.Open(path, &bolt.Options{ReadOnly: true})
	require.NoError(t, err, "%s: the store opens", when)
	defer st.Close()
	ctx := t.Context()

	// The feed: each id once, cursors strictly increasing, modification times not decreasing.
	stream := store.Stream{Integration: "crm", Connection: "c1", Model: "Contact"}
	codec := store.NewCursorCodec(stream)
	var lastSeq uint64
	var lastAt time.Time
	ids := map[string]bool{}
	cursor := ""
	for range 1000 {
		page, err := st.RecordsList(ctx, &store.RecordsListParams{Stream: stream, Cursor: cursor, Limit: 17})
		require.NoError(t, err, "%s: listing", when)
		for _, r := range page.Records {
			seq, _, err := codec.Decode(r.Cursor)
			require.NoError(t, err, "%s: cursor of %s", when, r.ID)
			require.Greater(t, seq, lastSeq, "%s: cursors increase in the feed (%s)", when, r.ID)
			require.False(t, r.LastModifiedAt.Before(lastAt), "%s: modification times do not decrease (%s)", when, r.ID)
			require.False(t, ids[r.ID], "%s: %s once in the feed", when, r.ID)
			lastSeq, lastAt, ids[r.ID] = seq, r.LastModifiedAt, true
			seen[crashChange{id: r.ID, at: r.LastModifiedAt}] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}

	recs := crashRecords(t, st)
	var cp crashCP
	key := store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "c1"}
	c, err := st.CheckpointGet(ctx, key)
	if !errors.Is(err, store.ErrNotFound) {
		require.NoError(t, err, "%s: checkpoint", when)
		require.True(t, bytes.HasPrefix(c.Data, []byte(`"nango-sealed:`)), "%s: the checkpoint is stored sealed: %q", when, c.Data)
		data, err := crashOpener(t, st).OpenCheckpoint(ctx, key, c.Data)
		require.NoError(t, err, "%s: the checkpoint opens", when)
		require.NoError(t, json.Unmarshal(data, &cp), "%s: checkpoint", when)
	}
	for k := range crashBatches {
		// The batch's newest pass wrote all of its records together.
		top := 0
		for i := range crashBatchSize {
			if r, ok := recs[crashID(k, i)]; ok {
				var d crashRecord
				require.NoError(t, json.Unmarshal(r.Data, &d))
				top = max(top, d.Rev)
			}
		}
		for i := range crashBatchSize {
			if top == 0 || !crashIncluded(top, i) {
				continue
			}
			r, ok := recs[crashID(k, i)]
			require.True(t, ok, "%s: batch %d of pass %d is torn: %s is missing", when, k, top, crashID(k, i))
			var d crashRecord
			require.NoError(t, json.Unmarshal(r.Data, &d))
			require.Equal(t, top, d.Rev, "%s: batch %d of pass %d is torn: %s is at pass %d", when, k, top, crashID(k, i), d.Rev)
			require.True(t, r.DeletedAt.IsZero(), "%s: %s saved by pass %d is deleted", when, crashID(k, i), top)
		}
		// The checkpoint is where the records are: batches before it are of its pass, the
		// others of an earlier one.
		if cp.Rev > 0 {
			if k < cp.Next {
				require.Equal(t, cp.Rev, top, "%s: checkpoint %+v is ahead of batch %d", when, cp, k)
			} else {
				require.Less(t, top, cp.Rev, "%s: batch %d is ahead of checkpoint %+v", when, k, cp)
			}
		} else {
			require.Zero(t, top, "%s: records without a checkpoint", when)
		}
	}
	return cp
}

// crashRecords returns the crash-loop stream's records by id.
func crashRecords(t *testing.T, st *bolt.Store) map[string]store.Record {
	t.Helper()
	out := map[string]store.Record{}
	stream := store.Stream{Integration: "crm", Connection: "c1", Model: "Contact"}
	cursor := ""
	for range 100 {
		page, err := st.RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Cursor: cursor, Limit: store.MaxListLimit})
		require.NoError(t, err)
		for _, r := range page.Records {
			require.False(t, json.Valid(r.Data), "the payload of %s is stored sealed", r.ID)
		}
		require.NoError(t, crashOpener(t, st).OpenRecords(t.Context(), stream, page.Records), "the payloads open with the key")
		for _, r := range page.Records {
			out[r.ID] = r
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return out
}

// crashOpener opens what the child sealed in st.
func crashOpener(t *testing.T, st *bolt.Store) *nango.StoreOpener {
	t.Helper()
	o, err := nango.NewStoreOpener(st, [][]byte{crashEncryptionKey})
	require.NoError(t, err)
	return o
}

// crashConsumed reads the consumer's log: the latest modification time handed for each id.
func crashConsumed(t *testing.T, path string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		id, at, ok := strings.Cut(l, " ")
		require.True(t, ok, "consumer log line %q", l)
		n, err := strconv.ParseInt(at, 10, 64)
		require.NoError(t, err, "consumer log line %q", l)
		out[id] = max(out[id], n)
	}
	return out
}
