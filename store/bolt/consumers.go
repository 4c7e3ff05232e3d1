package bolt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

func consumerKey(k store.ConsumerKey) []byte {
	return join(k.Consumer, k.Stream.Integration, k.Stream.Connection, k.Stream.Model)
}

// ConsumerCursorGet implements store.Store.
func (s *Store) ConsumerCursorGet(ctx context.Context, key store.ConsumerKey) (*store.ConsumerCursor, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.ConsumerCursor
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		k := consumerKey(key)
		v := tx.Bucket(bucketConsumers).Get(k)
		if v == nil {
			return fmt.Errorf("cursor of consumer %q in %s: %w", key.Consumer, key.Stream, store.ErrNotFound)
		}
		var err error
		out, err = decodeConsumer(k, v)
		return err
	})
	return out, err
}

// ConsumerCursorPut implements store.Store.
func (s *Store) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	if p == nil {
		return nil, &store.ParamError{Param: "params", Reason: "nil"}
	}
	if err := p.Key.Validate(); err != nil {
		return nil, err
	}
	out := &store.ConsumerCursor{Key: p.Key, Cursor: p.Cursor, UpdatedAt: store.Clock(p.Now)}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConsumers)
		k := consumerKey(p.Key)
		cur := consumerCursor(b.Get(k))
		if cur != p.Expected {
			return store.ConsumerConflictError(p.Key, cur, p.Expected)
		}
		return b.Put(k, encodeConsumer(out.UpdatedAt, p.Cursor))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerCursorList implements store.Store.
func (s *Store) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return nil, err
	}
	out := []*store.ConsumerCursor{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := append([]byte(consumer), 0)
		c := tx.Bucket(bucketConsumers).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			cc, err := decodeConsumer(k, v)
			if err != nil {
				s.skip("consumer cursor "+keyName(k), err)
				continue
			}
			out = append(out, cc)
		}
		return nil
	})
	return out, err
}

// ConsumerDelete implements store.Store.
func (s *Store) ConsumerDelete(ctx context.Context, consumer string) error {
	if err := store.ValidateName("consumer", consumer); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return deleteKeys(tx.Bucket(bucketConsumers), append([]byte(consumer), 0), func([]byte) bool { return true }, false)
	})
}

// deleteConsumerCursors removes every consumer's cursors in the streams of a connection.
func deleteConsumerCursors(tx *bbolt.Tx, integration, id string) error {
	return deleteKeys(tx.Bucket(bucketConsumers), nil, func(k []byte) bool {
		parts := bytes.Split(k, []byte{0})
		return len(parts) == 4 && string(parts[1]) == integration && string(parts[2]) == id
	}, false)
}
