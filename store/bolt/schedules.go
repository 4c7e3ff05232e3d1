package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

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

// ScheduleUpdate implements store.Store.
func (s *Store) ScheduleUpdate(ctx context.Context, key store.SyncKey, update func(*store.Schedule) error) (*store.Schedule, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var out *store.Schedule
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSchedules)
		v := b.Get(syncKey(key))
		if v == nil {
			return store.ErrNotFound
		}
		sc, err := decodeSchedule(v)
		if err != nil {
			return err
		}
		if err := store.ApplyScheduleUpdate(sc, update); err != nil {
			return err
		}
		data, err := json.Marshal(sc)
		if err != nil {
			return fmt.Errorf("bolt: encoding schedule: %w", err)
		}
		out = sc
		return b.Put(syncKey(key), data)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
