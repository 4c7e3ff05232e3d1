package nangotest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// The methods of store.Store by what the fault store does with them. A method added to
// store.Store fails TestFaultStoreCoversEveryStoreMethod until it is listed here and, if it
// writes, wrapped in faultstore.go.
var (
	// commitPoints are the writes a run makes: counted, and where failpoints strike.
	commitPoints = []string{
		"RecordsWrite", "CheckpointPut", "CheckpointDelete", "RecordsSweep", "RecordsSweepReset", "StreamDelete",
		"RunInsert", "RunUpdate", "RunFinish",
	}
	// otherWrites are not commits of a run (connections, leases, schedules, the outbox, consumer
	// cursors); they fail once the process has crashed.
	otherWrites = []string{
		"ConnectionPut", "ConnectionUpdate", "ConnectionDelete", "LeaseAcquire", "LeaseRenew", "LeaseRelease", "SchedulePut", "ScheduleUpdate",
		"OutboxClaim", "OutboxSettle", "OutboxRequeue", "OutboxPrune", "ConsumerCursorPut", "ConsumerDelete",
		"RecordsPrune", "RunsPrune",
	}
	// passThrough are reads, and Close: they reach the store even after a crash.
	passThrough = []string{
		"RecordsList", "StreamStats", "StreamCursor", "CheckpointGet", "RunGet", "RunList", "RunLastSuccess",
		"OutboxGet", "OutboxList", "OutboxStats", "ConsumerCursorGet", "ConsumerCursorList",
		"ConnectionGet", "ConnectionList", "ScheduleGet", "ScheduleList", "Close",
	}
)

// call calls a method of the fault store with zero arguments (new values for pointers) and
// reports its error, or reached when the call got to the wrapped store (which panics: it is
// nil).
func call(t *testing.T, fs *faultStore, name string) (err error, reached bool) {
	t.Helper()
	m := reflect.ValueOf(fs).MethodByName(name)
	require.True(t, m.IsValid(), name)
	args := make([]reflect.Value, m.Type().NumIn())
	for i := range args {
		in := m.Type().In(i)
		switch {
		case in == reflect.TypeFor[context.Context]():
			args[i] = reflect.ValueOf(context.Background())
		case in.Kind() == reflect.Pointer:
			args[i] = reflect.New(in.Elem())
		default:
			args[i] = reflect.Zero(in)
		}
	}
	defer func() {
		if recover() != nil {
			reached = true
		}
	}()
	out := m.Call(args)
	if e, ok := out[len(out)-1].Interface().(error); ok {
		err = e
	}
	return err, false
}

func TestFaultStoreCoversEveryStoreMethod(t *testing.T) {
	t.Parallel()
	kind := map[string]string{}
	for _, group := range []struct {
		name    string
		methods []string
	}{{"commit point", commitPoints}, {"other write", otherWrites}, {"read", passThrough}} {
		for _, m := range group.methods {
			require.NotContains(t, kind, m, "%s is listed twice", m)
			kind[m] = group.name
		}
	}
	st := reflect.TypeFor[store.Store]()
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		k, ok := kind[name]
		if !ok {
			t.Errorf("store.Store has a method %s that the fault store does not know: wrap it in faultstore.go if it writes (a commit of a run, or a write that fails after a crash), and list it in this file", name)
			continue
		}
		delete(kind, name)

		// After a crash, writes fail without reaching the store; reads reach it.
		fs := &faultStore{Store: struct{ store.Store }{}, crashed: true}
		err, reached := call(t, fs, name)
		if k == "read" {
			require.True(t, reached, "%s is a read: it reaches the store after a crash", name)
			continue
		}
		require.False(t, reached, "%s is a write: after a crash it must not reach the store (wrap it in faultstore.go)", name)
		require.ErrorIs(t, err, ErrCrashed, name)

		// A commit point is counted, and FailCommit strikes there.
		fs = &faultStore{Store: struct{ store.Store }{}}
		fs.arm([]Failpoint{FailCommit(1)}, nil)
		err, reached = call(t, fs, name)
		if k == "commit point" {
			require.False(t, reached, name)
			require.True(t, errors.Is(err, ErrFailpoint), "%s: FailCommit(1) strikes at it", name)
			require.Len(t, fs.state().commits, 1, name)
		} else {
			require.True(t, reached, "%s is not a commit point: FailCommit does not strike there", name)
			require.Empty(t, fs.state().commits, name)
		}
	}
	for name := range kind {
		t.Errorf("%s is listed but store.Store has no such method", name)
	}
}

// The engines of a harness see the wrapped store's optional capabilities.
func TestFaultStoreKeepsOptionalCapabilities(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	var _ store.Signaler = st
	fs := &faultStore{Store: st}
	sg, ok := fs.engineStore().(store.Signaler)
	require.True(t, ok, "store.Signaler is passed on")
	ch, err := sg.Signals(t.Context())
	require.NoError(t, err)
	require.NoError(t, sg.Signal(t.Context(), store.Signal{Kind: store.SignalSchedule}))
	select {
	case <-ch: // the hub delivers before Signal returns
	default:
		t.Fatal("the signal did not reach the store")
	}
	fs.crashed = true
	require.ErrorIs(t, sg.Signal(t.Context(), store.Signal{Kind: store.SignalSchedule}), ErrCrashed)

	plain := &faultStore{Store: struct{ store.Store }{st}}
	_, ok = plain.engineStore().(store.Signaler)
	require.False(t, ok, "a store without signals gets none")
}
