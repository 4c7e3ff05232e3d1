package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

func connKey(integration, id string) []byte { return join(integration, id) }

// ConnectionPut implements store.Store.
func (s *Store) ConnectionPut(ctx context.Context, c *store.Connection) error {
	if err := store.ValidateConnection(c); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("bolt: encoding connection: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConns).Put(connKey(c.Integration, c.ID), data)
	})
}

// ConnectionUpdate implements store.Store.
func (s *Store) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	var out *store.Connection
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConns)
		v := b.Get(connKey(integration, id))
		if v == nil {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		c, err := decodeConn(v)
		if err != nil {
			return err
		}
		if err := store.ApplyConnectionUpdate(c, update); err != nil {
			return err
		}
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("bolt: encoding connection: %w", err)
		}
		out = c
		return b.Put(connKey(integration, id), data)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeConn(v []byte) (*store.Connection, error) {
	var c store.Connection
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, damaged("connections", "a connection does not decode: %v", err)
	}
	return &c, nil
}

// ConnectionGet implements store.Store.
func (s *Store) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	var c *store.Connection
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketConns).Get(connKey(integration, id))
		if v == nil {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		var err error
		c, err = decodeConn(v)
		return err
	})
	return c, err
}

// ConnectionList implements store.Store.
func (s *Store) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	out := []*store.Connection{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketConns).Cursor()
		var prefix []byte
		if integration != "" {
			prefix = append([]byte(integration), 0)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			conn, err := decodeConn(v)
			if err != nil {
				s.skip("connection "+keyName(k), err)
				continue
			}
			out = append(out, conn)
		}
		return nil
	})
	return out, err
}

// ConnectionDelete implements store.Store.
func (s *Store) ConnectionDelete(ctx context.Context, integration, id string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		conns := tx.Bucket(bucketConns)
		ck := connKey(integration, id)
		if conns.Get(ck) == nil {
			return fmt.Errorf("connection %q of %q: %w", id, integration, store.ErrNotFound)
		}
		if err := conns.Delete(ck); err != nil {
			return err
		}
		// Streams and windows are keyed integration\x00connection\x00...
		prefix := append(bytes.Clone(ck), 0)
		if err := deleteNested(tx.Bucket(bucketWindows), prefix); err != nil {
			return err
		}
		// Streams are emptied as StreamDelete does, keeping a new epoch so that cursors taken
		// before are recognised as stale.
		var streams [][]byte
		sc := tx.Bucket(bucketStreams).Cursor()
		for k, _ := sc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = sc.Next() {
			streams = append(streams, bytes.Clone(k))
		}
		for _, k := range streams {
			root, err := nestedBucket(tx.Bucket(bucketStreams), k, "stream "+keyName(k))
			if err != nil {
				return err
			}
			if root.Bucket(bucketIndex) == nil || root.Bucket(bucketLog) == nil {
				return damaged("stream "+keyName(k), "its index or change log bucket is missing")
			}
			if err := emptyStream(root); err != nil {
				return err
			}
		}
		// Checkpoints and runs are keyed integration\x00sync\x00connection.
		match := func(k []byte) bool {
			parts := bytes.Split(k, []byte{0})
			return len(parts) == 3 && string(parts[0]) == integration && string(parts[2]) == id
		}
		if err := deleteKeys(tx.Bucket(bucketCheckpoints), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := deleteKeys(tx.Bucket(bucketRunLastOK), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := deleteKeys(tx.Bucket(bucketSchedules), []byte(integration+"\x00"), match, false); err != nil {
			return err
		}
		if err := releaseLeases(tx, []byte(integration+"\x00"), match); err != nil {
			return err
		}
		if err := deleteConsumerCursors(tx, integration, id); err != nil {
			return err
		}
		runs := tx.Bucket(bucketRuns)
		var doomed [][]byte
		c := runs.Cursor()
		pfx := []byte(integration + "\x00")
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			if match(k) {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		for _, sk := range doomed {
			var runIDs [][]byte
			b, err := nestedBucket(runs, sk, "runs of "+keyName(sk))
			if err != nil {
				return err
			}
			_ = b.ForEach(func(_, v []byte) error {
				var r struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(v, &r) == nil {
					runIDs = append(runIDs, []byte(r.ID))
				}
				return nil
			})
			for _, rid := range runIDs {
				if err := tx.Bucket(bucketRunIDs).Delete(rid); err != nil {
					return err
				}
			}
			if err := runs.DeleteBucket(sk); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteNested(b *bbolt.Bucket, prefix []byte) error {
	return deleteKeys(b, prefix, func([]byte) bool { return true }, true)
}

func deleteKeys(b *bbolt.Bucket, prefix []byte, match func([]byte) bool, nested bool) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if match(k) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		var err error
		if nested {
			err = b.DeleteBucket(k)
		} else {
			err = b.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
