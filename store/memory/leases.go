package memory

import (
	"context"

	"github.com/gonango/nango/store"
)

type leaseState struct {
	lease  store.Lease
	active bool
}

// checkFence fails unless the fence (if any) is its key's current lease. Callers hold s.mu.
func (s *Store) checkFence(f *store.Lease) error {
	if f == nil {
		return nil
	}
	ls := s.leases[f.Key]
	if ls == nil || !ls.active || ls.lease.Token != f.Token {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ls := s.leases[p.Key]
	if ls == nil {
		ls = &leaseState{}
		s.leases[p.Key] = ls
	}
	if ls.active && ls.lease.Owner != p.Owner && now.Before(ls.lease.ExpiresAt) {
		return nil, store.LeaseHeldError(p.Key, ls.lease.Owner, ls.lease.ExpiresAt)
	}
	ls.lease = store.Lease{Key: p.Key, Owner: p.Owner, Token: ls.lease.Token + 1, ExpiresAt: expires}
	ls.active = true
	out := ls.lease
	return &out, nil
}

// LeaseRenew implements store.Store.
func (s *Store) LeaseRenew(ctx context.Context, p *store.LeaseRenewParams) (*store.Lease, error) {
	expires, err := store.PrepareLeaseRenew(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.checkFence(p.Lease); err != nil {
		return nil, err
	}
	ls := s.leases[p.Lease.Key]
	ls.lease.ExpiresAt = expires
	out := ls.lease
	return &out, nil
}

// LeaseRelease implements store.Store.
func (s *Store) LeaseRelease(ctx context.Context, l *store.Lease) error {
	if l == nil {
		return &store.ParamError{Param: "lease", Reason: "nil"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if ls := s.leases[l.Key]; ls != nil && ls.active && ls.lease.Token == l.Token {
		ls.active = false
	}
	return nil
}
