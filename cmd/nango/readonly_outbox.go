package main

import (
	"context"

	"github.com/gonango/nango/store"
)

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

func (readOnly) OutboxPrune(context.Context, *store.OutboxPruneParams) (int, error) {
	return 0, errReadOnly
}

func (readOnly) ConsumerCursorPut(context.Context, *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	return nil, errReadOnly
}

func (readOnly) ConsumerDelete(context.Context, string) error { return errReadOnly }
