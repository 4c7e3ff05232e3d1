package nangotest

import (
	"context"

	"github.com/gonango/nango/store"
)

// RunFinish implements store.Store; it fails after a crash, so that a crashed run's end and its
// webhooks are not recorded.
func (s *faultStore) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if err := s.dead(); err != nil {
		return err
	}
	return s.Store.RunFinish(ctx, p)
}
