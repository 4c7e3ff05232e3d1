package overlay

import (
	"bytes"
	"context"
	"errors"

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

// ConnectionUpdate implements store.Store. The update applies to the run's version of the
// connection; when it changes only the credentials (a refreshed token), the base gets them too,
// through its own atomic update, so that the real connection keeps a token that works.
func (s *Store) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	cur, err := s.ConnectionGet(ctx, integration, id)
	if err != nil {
		return nil, err
	}
	c := *cur
	c.Metadata, c.Credentials, c.DataKey = bytes.Clone(cur.Metadata), bytes.Clone(cur.Credentials), bytes.Clone(cur.DataKey)
	c.WebhookURLs = append([]string(nil), cur.WebhookURLs...)
	if err := store.ApplyConnectionUpdate(&c, update); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cp := c
	s.conns[connKey{integration, id}] = &cp
	s.mu.Unlock()
	if bytes.Equal(cur.Metadata, c.Metadata) && !bytes.Equal(cur.Credentials, c.Credentials) {
		creds, at := c.Credentials, c.UpdatedAt
		_, err := s.base.ConnectionUpdate(ctx, integration, id, func(real *store.Connection) error {
			real.Credentials, real.UpdatedAt = bytes.Clone(creds), at
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	out := c
	return &out, nil
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
