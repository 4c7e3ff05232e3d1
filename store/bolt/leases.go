package bolt

import (
	"bytes"
	"context"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

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

// releaseLeases deactivates the leases whose keys match, keeping their tokens, so that runs
// still holding them can no longer write.
func releaseLeases(tx *bbolt.Tx, prefix []byte, match func([]byte) bool) error {
	b := tx.Bucket(bucketLeases)
	type kv struct{ k, v []byte }
	var doomed []kv
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !match(k) {
			continue
		}
		if nv := deactivatedLease(v); nv != nil {
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
