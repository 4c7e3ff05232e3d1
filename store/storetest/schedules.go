package storetest

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// scheduleTests check the persisted schedules.
func scheduleTests() []test {
	return []test{
		{"PutGetList", testSchedulePutGetList},
		{"DeletedWithConnection", testScheduleConnectionDelete},
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
