package memory

import (
	"context"

	"github.com/gonango/nango/store"
)

var _ store.Signaler = (*Store)(nil)

// Signal implements store.Signaler: every receiver of Signals on this store gets sig, the
// engines that share the store in this process.
func (s *Store) Signal(ctx context.Context, sig store.Signal) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.signals.Signal(ctx, sig)
}

// Signals implements store.Signaler.
func (s *Store) Signals(ctx context.Context) (<-chan store.Signal, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	return s.signals.Signals(ctx)
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}
