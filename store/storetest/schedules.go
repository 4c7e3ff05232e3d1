package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// scheduleTests check the persisted schedules.
func scheduleTests() []test {
	return []test{
		{"PutGetList", testSchedulePutGetList},
		{"DeletedWithConnection", testScheduleConnectionDelete},
		{"Update", testScheduleUpdate},
	}
}

func testSchedulePutGetList(t *testing.T, su *suite) {
	h := su.openHandle(t)
	s := h.s
	ctx := t.Context()
	_, err := s.ScheduleGet(ctx, syncKey)
	require.ErrorIs(t, err, store.ErrNotFound)

	a := &store.Schedule{Key: syncKey, Paused: true, Frequency: "every 5 minutes", NextRunAt: at(10), UpdatedAt: at(1)}
	b := &store.Schedule{Key: store.SyncKey{Integration: "asana", Sync: "tasks", Connection: "c"}}
	c := &store.Schedule{Key: store.SyncKey{Integration: syncKey.Integration, Sync: syncKey.Sync, Connection: "conn-0"}}
	for _, sc := range []*store.Schedule{a, b, c} {
		require.NoError(t, s.SchedulePut(ctx, sc))
	}
	got, err := s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.Equal(t, a.Paused, got.Paused)
	require.Equal(t, a.Frequency, got.Frequency)
	requireTime(t, a.NextRunAt, got.NextRunAt, "next run")

	a.Paused, a.Frequency = false, ""
	require.NoError(t, s.SchedulePut(ctx, a))
	got, err = s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.False(t, got.Paused)
	require.Empty(t, got.Frequency)

	list, err := s.ScheduleList(ctx, syncKey.Integration)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "conn-0", list[0].Key.Connection)
	require.Equal(t, syncKey.Connection, list[1].Key.Connection)
	list, err = s.ScheduleList(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, "asana", list[0].Key.Integration)

	require.Error(t, s.SchedulePut(ctx, &store.Schedule{}))
	if su.features.Reopen != nil {
		s = h.reopen(t)
		got, err = s.ScheduleGet(ctx, c.Key)
		require.NoError(t, err)
		require.Equal(t, c.Key, got.Key)
	}
}

func testScheduleConnectionDelete(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	require.NoError(t, s.ConnectionPut(ctx, &store.Connection{Integration: syncKey.Integration, ID: syncKey.Connection}))
	require.NoError(t, s.SchedulePut(ctx, &store.Schedule{Key: syncKey}))
	other := syncKey
	other.Connection = syncKey.Connection + "0"
	require.NoError(t, s.SchedulePut(ctx, &store.Schedule{Key: other}))
	require.NoError(t, s.ConnectionDelete(ctx, syncKey.Integration, syncKey.Connection))
	_, err := s.ScheduleGet(ctx, syncKey)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ScheduleGet(ctx, other)
	require.NoError(t, err, "a connection whose id extends the deleted one keeps its schedule")
}

// ScheduleUpdate changes one schedule atomically: concurrent updates of different fields keep
// each other's, a pending trigger round-trips, and a failed or invalid update writes nothing.
func testScheduleUpdate(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	_, err := s.ScheduleUpdate(ctx, syncKey, func(*store.Schedule) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.SchedulePut(ctx, &store.Schedule{Key: syncKey, NextRunAt: at(10)}))

	trig := store.ScheduleTrigger{ID: "t1", Reset: true, EmptyCache: true, At: at(5)}
	got, err := s.ScheduleUpdate(ctx, syncKey, func(sc *store.Schedule) error {
		requireTime(t, at(10), sc.NextRunAt, "the stored next run")
		sc.Trigger = trig
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "t1", got.Trigger.ID)
	got, err = s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.Equal(t, trig.ID, got.Trigger.ID)
	require.True(t, got.Trigger.Reset && got.Trigger.EmptyCache)
	requireTime(t, trig.At, got.Trigger.At, "trigger time")

	// Two writers change different fields at once: neither undoes the other.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, fn := range []func(*store.Schedule) error{
		func(sc *store.Schedule) error { sc.Paused = true; return nil },
		func(sc *store.Schedule) error { sc.NextRunAt = at(20); return nil },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ScheduleUpdate(ctx, syncKey, fn)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err = s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.True(t, got.Paused)
	requireTime(t, at(20), got.NextRunAt, "next run")
	require.Equal(t, "t1", got.Trigger.ID, "the trigger stays")

	boom := errors.New("boom")
	_, err = s.ScheduleUpdate(ctx, syncKey, func(sc *store.Schedule) error { sc.Paused = false; return boom })
	require.ErrorIs(t, err, boom)
	for _, bad := range []func(*store.Schedule){
		func(sc *store.Schedule) { sc.Key.Connection = "other" },
		func(sc *store.Schedule) { sc.Trigger = store.ScheduleTrigger{ID: "t2", EmptyCache: true} },
		func(sc *store.Schedule) { sc.Trigger = store.ScheduleTrigger{Reset: true} },
	} {
		_, err = s.ScheduleUpdate(ctx, syncKey, func(sc *store.Schedule) error { sc.Paused = false; bad(sc); return nil })
		requireParamError(t, err)
	}
	got, err = s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.True(t, got.Paused, "a failed update wrote nothing")
	require.Equal(t, "t1", got.Trigger.ID)

	got, err = s.ScheduleUpdate(ctx, syncKey, func(sc *store.Schedule) error { sc.Trigger = store.ScheduleTrigger{}; return nil })
	require.NoError(t, err)
	require.True(t, got.Trigger.IsZero())
	got, err = s.ScheduleGet(ctx, syncKey)
	require.NoError(t, err)
	require.True(t, got.Trigger.IsZero(), "the trigger is cleared")
}
