package nango_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

// levels records the log records at WARN and above.
type levels struct {
	mu   sync.Mutex
	msgs []string
}

func (l *levels) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

func (l *levels) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// hourly builds an engine over st with one hourly sync of rec and one connection.
func hourly(t *testing.T, st store.Store, rec *recorder, log slog.Handler, id string) *nango.Engine {
	t.Helper()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(log), InstanceID: id})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "things", Frequency: "every hour", Models: []nango.Model{{Name: "Thing"}}, Sync: rec,
	}}}))
	require.NoError(t, eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "c0"}))
	return eng
}

// A run cut short by a clean shutdown is due again as soon as the engine runs again, not at its
// next slot an hour later, and the shutdown logs no error.
func TestRunCutShortByShutdownResumesAtStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), &bolt.Options{NoSync: true})
		require.NoError(t, err)
		defer st.Close()
		rec := newRecorder()
		log := &levels{}
		rec.block = make(chan struct{}) // the first run hangs until cancelled
		stop := start(t, hourly(t, st, rec, log, "first"))
		require.Len(t, rec.runs("crm/c0"), 1)
		require.NoError(t, stop())
		require.Empty(t, log.got(), "a clean shutdown logs no warning or error")
		runs, err := st.RunList(context.Background(), &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "things", Connection: "c0"}})
		require.NoError(t, err)
		require.Equal(t, store.RunCancelled, runs[0].State)

		time.Sleep(time.Minute)
		rec.mu.Lock()
		rec.block = nil
		rec.mu.Unlock()
		eng := hourly(t, st, rec, log, "second")
		stop = start(t, eng)
		require.Len(t, rec.runs("crm/c0"), 2, "the cut run is due again at once")
		sts, err := eng.Status(context.Background(), nango.SyncSelector{Integration: "crm"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusSuccess, sts[0].Status)
		require.NoError(t, stop())
	})
}

// A process that died mid-run (its lease neither renewed nor released) leaves its run
// RUNNING: the next engine on the store runs the sync as soon as the lease expires, records the
// dead run as interrupted, and status says RUNNING, not STOPPED, meanwhile.
func TestRunOfADeadProcessIsTakenOverWhenItsLeaseExpires(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), &bolt.Options{NoSync: true})
		require.NoError(t, err)
		defer st.Close()
		rec := newRecorder()
		log := &levels{}
		rec.block = make(chan struct{})
		dead := &partition{Store: st}
		stopDead := start(t, hourly(t, dead, rec, log, "dead"))
		require.Len(t, rec.runs("crm/c0"), 1)
		dead.cut.Store(true) // killed: nothing it does reaches the store any more

		killed := time.Now()
		eng := hourly(t, st, rec, &levels{}, "next")
		stop := start(t, eng)
		sts, err := eng.Status(context.Background(), nango.SyncSelector{Integration: "crm"})
		require.NoError(t, err)
		require.Equal(t, nango.StatusRunning, sts[0].Status, "the dead run is still RUNNING in the store")
		require.Len(t, rec.runs("crm/c0"), 1, "the dead process's lease still holds")

		rec.mu.Lock()
		rec.block = nil
		rec.mu.Unlock()
		time.Sleep(30 * time.Second) // the lease TTL
		synctest.Wait()
		runs := rec.runs("crm/c0")
		require.Len(t, runs, 2, "taken over when the lease expired")
		require.Equal(t, 30*time.Second, runs[1].Sub(killed))
		hist, err := st.RunList(context.Background(), &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "things", Connection: "c0"}})
		require.NoError(t, err)
		require.Len(t, hist, 2)
		require.Equal(t, store.RunSucceeded, hist[0].State)
		require.Equal(t, store.RunFailed, hist[1].State)
		require.Equal(t, nango.InterruptedRunError, hist[1].Error)
		require.NoError(t, stop())
		_ = stopDead() // its context ends its hung run; nothing reaches the store
	})
}
