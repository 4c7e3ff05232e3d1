package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gonango/nango/store"
)

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, key store.ConsumerKey) (*store.ConsumerCursor, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	c, ok := s.consumers[key]
	if !ok {
		return nil, fmt.Errorf("cursor of consumer %q in %s: %w", key.Consumer, key.Stream, store.ErrNotFound)
	}
	out := *c
	return &out, nil
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	cur := ""
	if c, ok := s.consumers[p.Key]; ok {
		cur = c.Cursor
	}
	if cur != p.Expected {
		return nil, store.ConsumerConflictError(p.Key, cur, p.Expected)
	}
	c := &store.ConsumerCursor{Key: p.Key, Cursor: p.Cursor, UpdatedAt: store.Clock(p.Now)}
	s.consumers[p.Key] = c
	out := *c
	return &out, nil
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := []*store.ConsumerCursor{}
	for k, c := range s.consumers {
		if k.Consumer == consumer {
			cc := *c
			out = append(out, &cc)
		}
	}
	slices.SortFunc(out, func(a, b *store.ConsumerCursor) int {
		x, y := a.Key.Stream, b.Key.Stream
		return strings.Compare(x.Integration+"\x00"+x.Connection+"\x00"+x.Model, y.Integration+"\x00"+y.Connection+"\x00"+y.Model)
	})
	return out, nil
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	for k := range s.consumers {
		if k.Consumer == consumer {
			delete(s.consumers, k)
		}
	}
	return nil
}
