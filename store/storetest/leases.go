package storetest

import (
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// leaseTests check leases and the fencing of writes.
func leaseTests() []test {
	return []test{
		{"AcquireHeldExpired", testLeaseAcquire},
		{"RenewAndRelease", testLeaseRenewRelease},
		{"FencedWrites", testLeaseFencedWrites},
		{"Invalid", testLeaseInvalid},
		{"ConnectionDeleteFences", testLeaseConnectionDelete},
	}
}

func acquire(t *testing.T, s store.Store, owner string, now time.Time) *store.Lease {
	t.Helper()
	l, err := s.LeaseAcquire(t.Context(), &store.LeaseAcquireParams{Key: syncKey, Owner: owner, TTL: 30 * time.Second, Now: now})
	require.NoError(t, err)
	return l
}

func testLeaseAcquire(t *testing.T, su *suite) {
	s := su.open(t)
	a := acquire(t, s, "replica-a", at(0))
	require.Equal(t, syncKey, a.Key)
	require.Equal(t, "replica-a", a.Owner)
	requireTime(t, at(30), a.ExpiresAt, "expiry")

	_, err := s.LeaseAcquire(t.Context(), &store.LeaseAcquireParams{Key: syncKey, Owner: "replica-b", TTL: time.Minute, Now: at(29)})
	require.ErrorIs(t, err, store.ErrLeaseHeld)
	require.Contains(t, err.Error(), "replica-a")

	// Other keys are independent.
	other := syncKey
	other.Connection = "conn-2"
	_, err = s.LeaseAcquire(t.Context(), &store.LeaseAcquireParams{Key: other, Owner: "replica-b", TTL: time.Minute, Now: at(29)})
	require.NoError(t, err)

	// Once expired, another owner takes it over with a greater token.
	b := acquire(t, s, "replica-b", at(31))
	require.Greater(t, b.Token, a.Token)
	// The same owner acquiring again (a restarted engine) gets a new token too.
	b2 := acquire(t, s, "replica-b", at(32))
	require.Greater(t, b2.Token, b.Token)
}

func testLeaseRenewRelease(t *testing.T, su *suite) {
	s := su.open(t)
	a := acquire(t, s, "replica-a", at(0))
	r, err := s.LeaseRenew(t.Context(), &store.LeaseRenewParams{Lease: a, TTL: 30 * time.Second, Now: at(20)})
	require.NoError(t, err)
	requireTime(t, at(50), r.ExpiresAt, "renewed expiry")
	require.Equal(t, a.Token, r.Token)
	_, err = s.LeaseAcquire(t.Context(), &store.LeaseAcquireParams{Key: syncKey, Owner: "replica-b", TTL: time.Minute, Now: at(40)})
	require.ErrorIs(t, err, store.ErrLeaseHeld, "the renewal extended the lease")

	// Expired but not taken over: renewing still works (nobody else wrote).
	_, err = s.LeaseRenew(t.Context(), &store.LeaseRenewParams{Lease: a, TTL: 30 * time.Second, Now: at(100)})
	require.NoError(t, err)

	// Taken over: renewing fails.
	b := acquire(t, s, "replica-b", at(200))
	_, err = s.LeaseRenew(t.Context(), &store.LeaseRenewParams{Lease: a, TTL: 30 * time.Second, Now: at(201)})
	require.ErrorIs(t, err, store.ErrLeaseLost)

	// Releasing a lost lease is not an error and does not release the new holder's.
	require.NoError(t, s.LeaseRelease(t.Context(), a))
	_, err = s.LeaseAcquire(t.Context(), &store.LeaseAcquireParams{Key: syncKey, Owner: "replica-c", TTL: time.Minute, Now: at(202)})
	require.ErrorIs(t, err, store.ErrLeaseHeld)

	// Released, it can be taken at once.
	require.NoError(t, s.LeaseRelease(t.Context(), b))
	c := acquire(t, s, "replica-c", at(203))
	require.Greater(t, c.Token, b.Token)
	_, err = s.LeaseRenew(t.Context(), &store.LeaseRenewParams{Lease: b, TTL: time.Minute, Now: at(204)})
	require.ErrorIs(t, err, store.ErrLeaseLost)
}

func testLeaseFencedWrites(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	a := acquire(t, s, "replica-a", at(0))
	cpKey := store.CheckpointKey(syncKey)
	write(t, s, store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("1", "")}, Now: at(1), Fence: a,
		Checkpoint: &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"p":1}`), ExpectedVersion: 0}})
	_, err := s.CheckpointPut(ctx, &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"p":2}`), ExpectedVersion: 1, Fence: a})
	require.NoError(t, err)

	// Another replica takes the lease over after expiry: every write of the old holder fails.
	b := acquire(t, s, "replica-b", at(60))
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("2", "")}, Now: at(61), Fence: a})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	_, err = s.CheckpointPut(ctx, &store.CheckpointPutParams{Key: cpKey, Data: []byte(`{"p":3}`), ExpectedVersion: 2, Fence: a})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.ErrorIs(t, s.CheckpointDelete(ctx, &store.CheckpointDeleteParams{Key: cpKey, ExpectedVersion: store.AnyVersion, Fence: a}), store.ErrLeaseLost)
	_, err = s.RecordsSweep(ctx, &store.RecordsSweepParams{Stream: stream, Sync: syncKey.Sync, Now: at(62), Fence: a})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.Equal(t, []string{"1"}, ids(all(t, s, stream)), "the stale writer wrote nothing")
	cp, err := s.CheckpointGet(ctx, cpKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"p":2}`, string(cp.Data))

	// The new holder writes.
	write(t, s, store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("3", "")}, Now: at(63), Fence: b})
	require.NoError(t, s.LeaseRelease(ctx, b))
	_, err = s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("4", "")}, Now: at(64), Fence: b})
	require.ErrorIs(t, err, store.ErrLeaseLost, "a released lease does not fence writes through")
}

func testLeaseInvalid(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	for _, p := range []*store.LeaseAcquireParams{
		nil,
		{Key: syncKey, Owner: "", TTL: time.Second},
		{Key: syncKey, Owner: "a", TTL: 0},
		{Key: store.SyncKey{Integration: "i", Sync: "", Connection: "c"}, Owner: "a", TTL: time.Second},
	} {
		_, err := s.LeaseAcquire(ctx, p)
		requireParamError(t, err)
	}
	_, err := s.LeaseRenew(ctx, &store.LeaseRenewParams{})
	requireParamError(t, err)
}

func testLeaseConnectionDelete(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	require.NoError(t, s.ConnectionPut(ctx, &store.Connection{Integration: syncKey.Integration, ID: syncKey.Connection}))
	a := acquire(t, s, "replica-a", at(0))
	require.NoError(t, s.ConnectionDelete(ctx, syncKey.Integration, syncKey.Connection))
	_, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: []store.RecordInput{in("1", "")}, Now: at(1), Fence: a})
	require.ErrorIs(t, err, store.ErrLeaseLost, "a run of a deleted connection cannot write it back")
	requireEmpty(t, s, stream)
	b := acquire(t, s, "replica-b", at(2))
	require.Greater(t, b.Token, a.Token, "tokens keep growing across the delete")
}
