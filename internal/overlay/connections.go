package overlay

import (
	"bytes"
	"context"

	"github.com/gonango/nango/store"
)

// ConnectionPut implements store.Store. Refreshed credentials reach the base; any other change
// stays in the sandbox.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	s.conns[connKey{c.Integration, c.ID}] = &cp
	real, err := s.base.ConnectionGet(ctx, c.Integration, c.ID)
	if err != nil {
		return nil // not in the base: nothing to keep up to date
	}
	if bytes.Equal(real.Metadata, c.Metadata) && !bytes.Equal(real.Credentials, c.Credentials) {
		real.Credentials, real.UpdatedAt = c.Credentials, c.UpdatedAt
		return s.base.ConnectionPut(ctx, real)
	}
	return nil
}

// ConnectionGet implements store.Store: the run's version of the connection, else the base's.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	s.mu.Lock()
	c := s.conns[connKey{integration, id}]
	s.mu.Unlock()
	if c != nil {
		cp := *c
		return &cp, nil
	}
	return s.base.ConnectionGet(ctx, integration, id)
}

// ConnectionList implements store.Store with the base's connections.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	return s.base.ConnectionList(ctx, integration)
}

// ConnectionDelete implements store.Store; a sandbox never deletes a connection.
func (s *Store) ConnectionDelete(context.Context, string, string) error { return ErrUnsupported }
