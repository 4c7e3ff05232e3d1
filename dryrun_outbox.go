package nango

import (
	"context"

	"github.com/gonango/nango/store"
)

// The outbox and consumer cursors of a dry run live in the sandbox; a dry run sends no webhook.

// RunFinish implements store.Store: the run is kept in the sandbox and its webhooks are dropped.
func (s *dryStore) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if p == nil {
		return s.mem.RunFinish(ctx, nil)
	}
	return s.mem.RunFinish(ctx, &store.RunFinishParams{Run: p.Run})
}

// StreamCursor implements store.Store with the real store's cursor.
func (s *dryStore) StreamCursor(ctx context.Context, st store.Stream) (string, error) {
	return s.base.StreamCursor(ctx, st)
}

// OutboxClaim implements store.Store.
func (s *dryStore) OutboxClaim(ctx context.Context, p *store.OutboxClaimParams) ([]*store.OutboxEntry, error) {
	return s.mem.OutboxClaim(ctx, p)
}

// OutboxSettle implements store.Store.
func (s *dryStore) OutboxSettle(ctx context.Context, p *store.OutboxSettleParams) (*store.OutboxEntry, error) {
	return s.mem.OutboxSettle(ctx, p)
}

// OutboxRequeue implements store.Store.
func (s *dryStore) OutboxRequeue(ctx context.Context, p *store.OutboxRequeueParams) (*store.OutboxEntry, error) {
	return s.mem.OutboxRequeue(ctx, p)
}

// OutboxGet implements store.Store.
func (s *dryStore) OutboxGet(ctx context.Context, id string) (*store.OutboxEntry, error) {
	return s.mem.OutboxGet(ctx, id)
}

// OutboxList implements store.Store.
func (s *dryStore) OutboxList(ctx context.Context, p *store.OutboxListParams) ([]*store.OutboxEntry, error) {
	return s.mem.OutboxList(ctx, p)
}

// OutboxStats implements store.Store.
func (s *dryStore) OutboxStats(ctx context.Context) (*store.OutboxStats, error) {
	return s.mem.OutboxStats(ctx)
}

// OutboxPrune implements store.Store.
func (s *dryStore) OutboxPrune(ctx context.Context, p *store.OutboxPruneParams) (int, error) {
	return s.mem.OutboxPrune(ctx, p)
}

// ConsumerCursorGet implements store.Store.
func (s *dryStore) ConsumerCursorGet(ctx context.Context, k store.ConsumerKey) (*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorGet(ctx, k)
}

// ConsumerCursorPut implements store.Store.
func (s *dryStore) ConsumerCursorPut(ctx context.Context, p *store.ConsumerCursorPutParams) (*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorPut(ctx, p)
}

// ConsumerCursorList implements store.Store.
func (s *dryStore) ConsumerCursorList(ctx context.Context, consumer string) ([]*store.ConsumerCursor, error) {
	return s.mem.ConsumerCursorList(ctx, consumer)
}

// ConsumerDelete implements store.Store.
func (s *dryStore) ConsumerDelete(ctx context.Context, consumer string) error {
	return s.mem.ConsumerDelete(ctx, consumer)
}
