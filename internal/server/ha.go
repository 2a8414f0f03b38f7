package server

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/leader"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// errLostLeadership ends a serve whose lease expired: another bluejay may
// lead by now, and two controllers must never act at once. A supervisor
// restarts it, as a standby.
var errLostLeadership = errors.New("lost the leadership (its etcd lease expired): stopping so that only the new leader acts")

// newElector returns the election of a serve on the etcd store, nil on
// SQLite (one machine, one controller).
func (s *Server) newElector() *leader.Elector {
	st, ok := s.store.(*etcd.Store)
	if !ok {
		return nil
	}
	host, _ := os.Hostname()
	return &leader.Elector{Client: st.Client(), Key: st.Prefix() + "/leader", ID: host + " " + s.AdminAddr(),
		TTL: s.cfg.Store.Etcd.LeaseTTL.D()}
}

// lead campaigns until this serve leads, then adopts the instances the
// previous leader left (on this machine) and reports the term's loss on
// errc. Standing by, the proxy serves users from the store.
func (s *Server) lead(ctx context.Context, errc chan<- error) error {
	s.log.Info("standby: campaigning to lead the controllers on etcd", "id", s.elector.ID)
	term, err := s.elector.Campaign(ctx)
	if err != nil {
		return err
	}
	s.log.Info("leading: this bluejay runs the rollouts", "id", s.elector.ID)
	if err := s.lockInstances(); err != nil {
		return err
	}
	n, err := s.processes.Adopt(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("adopted the instances the previous leader left running", "instances", n)
	}
	if err := s.adoptContainers(ctx); err != nil {
		return err
	}
	s.leading.Store(true)
	s.background.Go(func() {
		select {
		case <-term.Lost:
			errc <- errLostLeadership
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = term.Resign(rctx) // a standby takes over at once
		}
	})
	return nil
}

// standby reports whether this serve stands by while another leads: it
// is on the etcd store and has not won the election.
func (s *Server) standby() bool { return s.elector != nil && !s.leading.Load() }

// followStore keeps the in-process proxy's table equal to the store's,
// so that a standby's proxy, and every proxy of the fleet, routes as the
// leader decided.
func (s *Server) followStore(ctx context.Context) error {
	if err := s.follower.Sync(ctx); err != nil {
		return err
	}
	s.background.Go(func() { s.follower.Run(ctx) })
	return nil
}
