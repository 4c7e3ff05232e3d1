package main

import (
	"context"
	"errors"

	"github.com/gonango/nango/store"
)

// errReadOnly is returned by the writes of a store opened for inspection.
var errReadOnly = errors.New("the store is open read-only for this command")

// readOnly is a store that refuses every write, so that the inspection commands cannot change
// what they look at. It embeds only the store's Reader: every write method is written out
// below, so a write method added to store.Store later makes this type stop compiling as a
// store.Store until it is refused here too.
type readOnly struct{ store.Reader }

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

func (readOnly) RunFinish(context.Context, *store.RunFinishParams) error { return errReadOnly }

func (readOnly) OutboxClaim(context.Context, *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	return nil, errReadOnly
}

func (readOnly) OutboxSettle(context.Context, *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	return nil, errReadOnly
}

func (readOnly) OutboxRequeue(context.Context, *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	return nil, errReadOnly
}

func (readOnly) RecordsPrune(context.Context, *store.RecordsPruneParams) (*store.RecordsPruneResult, error) {
	return nil, errReadOnly
}

func (readOnly) RunsPrune(context.Context, *store.RunsPruneParams) (*store.RunsPruneResult, error) {
	return nil, errReadOnly
}

func (readOnly) OutboxPrune(context.Context, *store.OutboxPruneParams) (int, error) {
	return 0, errReadOnly
}

func (readOnly) ConsumerCursorPut(context.Context, *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	return nil, errReadOnly
}

func (readOnly) ConsumerDelete(context.Context, string) error { return errReadOnly }

func (readOnly) ConnectionPut(context.Context, *store.Connection) error { return errReadOnly }
func (readOnly) ConnectionUpdate(context.Context, string, string, func(*store.Connection) error) (*store.Connection, error) {
	return nil, errReadOnly
}

func (readOnly) ConnectionDelete(context.Context, string, string) error { return errReadOnly }

func (readOnly) LeaseAcquire(context.Context, *store.LeaseAcquireParams) (*store.Lease, error) {
	return nil, errReadOnly
}

func (readOnly) LeaseRenew(context.Context, *store.LeaseRenewParams) (*store.Lease, error) {
	return nil, errReadOnly
}

func (readOnly) LeaseRelease(context.Context, *store.Lease) error { return errReadOnly }

func (readOnly) SchedulePut(context.Context, *store.Schedule) error { return errReadOnly }

func (readOnly) ScheduleUpdate(context.Context, store.SyncKey, func(*store.Schedule) error) (*store.Schedule, error) {
	return nil, errReadOnly
}
