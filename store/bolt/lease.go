package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// A lease value is token(8) expires_at(8) active(1) owner. The value stays after a release (not
// active) so that tokens keep growing.
func decodeLease(key store.SyncKey, v []byte) (store.Lease, bool, error) {
	if len(v) < 17 {
		return store.Lease{}, false, damaged(fmt.Sprintf("lease of %s/%s/%s", key.Integration, key.Sync, key.Connection), "%d bytes, shorter than its header", len(v))
	}
	return store.Lease{
		Key:       key,
		Token:     binary.BigEndian.Uint64(v[0:8]),
		ExpiresAt: fromMicros(binary.BigEndian.Uint64(v[8:16])),
		Owner:     string(v[17:]),
	}, v[16] == 1, nil
}

func encodeLease(l store.Lease, active bool) []byte {
	v := make([]byte, 17+len(l.Owner))
	binary.BigEndian.PutUint64(v[0:8], l.Token)
	binary.BigEndian.PutUint64(v[8:16], micros(l.ExpiresAt))
	if active {
		v[16] = 1
	}
	copy(v[17:], l.Owner)
	return v
}

// checkFence fails unless f (if any) is its key's current lease.
func checkFence(tx *bbolt.Tx, f *store.Lease) error {
	if f == nil {
		return nil
	}
	v := tx.Bucket(bucketLeases).Get(syncKey(f.Key))
	if v == nil {
		return store.LeaseLostError(f)
	}
	cur, active, err := decodeLease(f.Key, v)
	if err != nil {
		return err
	}
	if !active || cur.Token != f.Token {
		return store.LeaseLostError(f)
	}
	return nil
}

// LeaseAcquire implements store.Store.
func (s *Store) LeaseAcquire(ctx context.Context, p *store.LeaseAcquireParams) (*store.Lease, error) {
	expires, err := store.PrepareLease(p)
	if err != nil {
		return nil, err
	}
	now := store.Clock(p.Now)
	var out store.Lease
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		k := syncKey(p.Key)
		var token uint64
		if v := b.Get(k); v != nil {
			cur, active, err := decodeLease(p.Key, v)
			if err != nil {
				return err
			}
			if active && cur.Owner != p.Owner && now.Before(cur.ExpiresAt) {
				return store.LeaseHeldError(p.Key, cur.Owner, cur.ExpiresAt)
			}
			token = cur.Token
		}
		out = store.Lease{Key: p.Key, Owner: p.Owner, Token: token + 1, ExpiresAt: expires}
		return b.Put(k, encodeLease(out, true))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LeaseRenew implements store.Store.
func (s *Store) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	expires, err := store.PrepareLeaseRenew(p)
	if err != nil {
		return nil, err
	}
	out := *p.Lease
	out.ExpiresAt = expires
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		if err := checkFence(tx, p.Lease); err != nil {
			return err
		}
		cur, _, err := decodeLease(p.Lease.Key, tx.Bucket(bucketLeases).Get(syncKey(p.Lease.Key)))
		if err != nil {
			return err
		}
		out.Owner = cur.Owner
		return tx.Bucket(bucketLeases).Put(syncKey(p.Lease.Key), encodeLease(out, true))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LeaseRelease implements store.Store.
func (s *Store) LeaseRelease(ctx context.Context, l *store.Lease) error {
	if l == nil {
		return &store.ParamError{Param: "lease", Reason: "nil"}
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if checkFence(tx, l) != nil {
			return nil // lost already: nothing to release
		}
		b := tx.Bucket(bucketLeases)
		cur, _, err := decodeLease(l.Key, b.Get(syncKey(l.Key)))
		if err != nil {
			return err
		}
		return b.Put(syncKey(l.Key), encodeLease(cur, false))
	})
}

// SchedulePut implements store.Store.
func (s *Store) SchedulePut(ctx context.Context, sched *store.Schedule) error {
	if err := store.ValidateSchedule(sched); err != nil {
		return err
	}
	data, err := json.Marshal(sched)
	if err != nil {
		return fmt.Errorf("bolt: encoding schedule: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSchedules).Put(syncKey(sched.Key), data)
	})
}

func decodeSchedule(v []byte) (*store.Schedule, error) {
	var sc store.Schedule
	if err := json.Unmarshal(v, &sc); err != nil {
		return nil, damaged("schedules", "a schedule does not decode: %v", err)
	}
	return &sc, nil
}

// ScheduleGet implements store.Store.
func (s *Store) ScheduleGet(ctx context.Context, key store.SyncKey) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var sc *store.Schedule
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSchedules).Get(syncKey(key))
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		sc, err = decodeSchedule(v)
		return err
	})
	return sc, err
}

// ScheduleList implements store.Store.
func (s *Store) ScheduleList(ctx context.Context, integration string) ([]*store.Schedule, error) {
	out := []*store.Schedule{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var prefix []byte
		if integration != "" {
			prefix = append([]byte(integration), 0)
		}
		c := tx.Bucket(bucketSchedules).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			sc, err := decodeSchedule(v)
			if err != nil {
				s.skip("schedule "+keyName(k), err)
				continue
			}
			out = append(out, sc)
		}
		return nil
	})
	return out, err
}

// releaseLeases deactivates the leases whose keys match, keeping their tokens, so that runs
// still holding them can no longer write.
func releaseLeases(tx *bbolt.Tx, prefix []byte, match func([]byte) bool) error {
	b := tx.Bucket(bucketLeases)
	type kv struct{ k, v []byte }
	var doomed []kv
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if match(k) && len(v) >= 17 && v[16] == 1 {
			nv := bytes.Clone(v)
			nv[16] = 0
			doomed = append(doomed, kv{bytes.Clone(k), nv})
		}
	}
	for _, d := range doomed {
		if err := b.Put(d.k, d.v); err != nil {
			return err
		}
	}
	return nil
}
