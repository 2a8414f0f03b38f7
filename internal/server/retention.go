package server

import (
	"context"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/store"
)

// pruneEvery is how often the decision log is trimmed to store.retention.
const pruneEvery = time.Hour

// prune trims the store's history to store.retention at start and every
// pruneEvery until ctx ends, if the store can (store.Pruner).
func (s *Server) prune(ctx context.Context) {
	pruner, ok := s.store.(store.Pruner)
	if !ok {
		return // the etcd store keeps all history for now
	}
	ret := store.Retention{MaxAge: s.cfg.Store.Retention.MaxAge.D(), MaxRollouts: s.cfg.Store.Retention.MaxRollouts}
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		n, evs, err := pruner.Prune(ctx, ret, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("trimming history to store.retention", "err", err)
		case n > 0:
			s.log.Info("trimmed history to store.retention", "rollouts", n, "events", evs,
				"maxAge", ret.MaxAge, "maxRollouts", ret.MaxRollouts)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
