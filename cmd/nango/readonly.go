package main

import (
	"context"
	"errors"

	"github.com/gonango/nango/store"
)

// errReadOnly is returned by the writes of a store opened for inspection.
var errReadOnly = errors.New("the store is open read-only for this command")

// readOnly is a store that rejects every write, so that the inspection commands cannot change
// what they look at.
type readOnly struct{ store.Store }

var _ store.Store = readOnly{}

func (readOnly) RecordsWrite(context.Context, *store.RecordsWriteParams) (*store.RecordsWriteResult, error) {
	return nil, errReadOnly
}

func (readOnly) RecordsSweep(context.Context, *store.RecordsSweepParams) (*store.RecordsSweepResult, error) {
	return nil, errReadOnly
}

func (readOnly) RecordsSweepReset(context.Context, *store.RecordsSweepResetParams) error {
	return errReadOnly
}

func (readOnly) StreamDelete(context.Context, store.Stream) error { return errReadOnly }

func (readOnly) CheckpointPut(context.Context, *store.CheckpointPutParams) (*store.Checkpoint, error) {
	return nil, errReadOnly
}

func (readOnly) CheckpointDelete(context.Context, *store.CheckpointDeleteParams) error {
	return errReadOnly
}

func (readOnly) RunInsert(context.Context, *store.Run) error { return errReadOnly }

func (readOnly) RunUpdate(context.Context, *store.Run) error { return errReadOnly }

func (readOnly) ConnectionPut(context.Context, *store.Connection) error { return errReadOnly }

func (readOnly) ConnectionDelete(context.Context, string, string) error { return errReadOnly }

func (readOnly) LeaseAcquire(context.Context, *store.LeaseAcquireParams) (*store.Lease, error) {
	return nil, errReadOnly
}

func (readOnly) LeaseRenew(context.Context, *store.LeaseRenewParams) (*store.Lease, error) {
	return nil, errReadOnly
}

func (readOnly) LeaseRelease(context.Context, *store.Lease) error { return errReadOnly }

func (readOnly) SchedulePut(context.Context, *store.Schedule) error { return errReadOnly }
