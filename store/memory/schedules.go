package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/gonango/nango/store"
)

// SchedulePut implements store.Store.
func (s *Store) SchedulePut(ctx context.Context, sched *store.Schedule) error {
	if err := store.ValidateSchedule(sched); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	c := *sched
	s.schedules[sched.Key] = &c
	return nil
}

// ScheduleUpdate implements store.Store.
func (s *Store) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	old, ok := s.schedules[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *old
	if err := store.ApplyScheduleUpdate(&c, update); err != nil {
		return nil, err
	}
	kept := c
	s.schedules[key] = &kept
	return &c, nil
}

// ScheduleGet implements store.Store.
func (s *Store) ScheduleGet(ctx context.Context, key store.SyncKey) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	sc, ok := s.schedules[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *sc
	return &c, nil
}

// ScheduleList implements store.Store.
func (s *Store) ScheduleList(ctx context.Context, integration string) ([]*store.Schedule, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := []*store.Schedule{}
	for k, sc := range s.schedules {
		if integration == "" || k.Integration == integration {
			c := *sc
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *store.Schedule) int {
		return strings.Compare(a.Key.Integration+"\x00"+a.Key.Sync+"\x00"+a.Key.Connection,
			b.Key.Integration+"\x00"+b.Key.Sync+"\x00"+b.Key.Connection)
	})
	return out, nil
}
