package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
)

type connKey struct{ integration, id string }

func cloneConn(c *store.Connection) *store.Connection {
	out := *c
	out.Metadata = slices.Clone(c.Metadata)
	out.Credentials = slices.Clone(c.Credentials)
	out.DataKey = slices.Clone(c.DataKey)
	out.WebhookURLs = slices.Clone(c.WebhookURLs)
	return &out
}

// ConnectionPut implements store.Store.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.conns[connKey{c.Integration, c.ID}] = cloneConn(c)
	return nil
}

// ConnectionUpdate implements store.Store.
func (s *Store) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	old, ok := s.conns[connKey{integration, id}]
	if !ok {
		return nil, fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
	}
	c := cloneConn(old)
	if err := store.ApplyConnectionUpdate(c, update); err != nil {
		return nil, err
	}
	s.conns[connKey{integration, id}] = cloneConn(c)
	return c, nil
}

// ConnectionGet implements store.Store.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	c, ok := s.conns[connKey{integration, id}]
	if !ok {
		return nil, fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
	}
	return cloneConn(c), nil
}

// ConnectionList implements store.Store.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := []*store.Connection{}
	for k, c := range s.conns {
		if integration == "" || k.integration == integration {
			out = append(out, cloneConn(c))
		}
	}
	slices.SortFunc(out, func(a, b *store.Connection) int {
		if a.Integration != b.Integration {
			if a.Integration < b.Integration {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// ConnectionDelete implements store.Store.
func (s *Store) ConnectionDelete(ctx context.Context, integration, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	k := connKey{integration, id}
	if _, ok := s.conns[k]; !ok {
		return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
	}
	delete(s.conns, k)
	for key, st := range s.streams {
		if key.Integration == integration && key.Connection == id {
			// As in StreamDelete: an empty stream with a new epoch, so that old cursors are stale.
			s.streams[key] = &stream{epoch: newEpoch(), byID: map[string]*entry{}, lastTime: st.lastTime}
		}
	}
	for wk := range s.windows {
		if wk.stream.Integration == integration && wk.stream.Connection == id {
			delete(s.windows, wk)
		}
	}
	for ck := range s.checkpoints {
		if ck.Integration == integration && ck.Connection == id {
			delete(s.checkpoints, ck)
		}
	}
	for sk := range s.schedules {
		if sk.Integration == integration && sk.Connection == id {
			delete(s.schedules, sk)
		}
	}
	for sk, ls := range s.leases {
		if sk.Integration == integration && sk.Connection == id {
			ls.active = false // a run still going must not write into the deleted connection
		}
	}
	for ck := range s.consumers {
		if ck.Stream.Integration == integration && ck.Stream.Connection == id {
			delete(s.consumers, ck)
		}
	}
	for sk, ids := range s.runsByKey {
		if sk.Integration == integration && sk.Connection == id {
			for _, rid := range ids {
				delete(s.runs, rid)
			}
			delete(s.runsByKey, sk)
		}
	}
	return nil
}
