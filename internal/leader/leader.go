// Package leader elects one bluejay controller among several that share
// an etcd store: etcd's own election (concurrency.Election) on a session
// whose lease the holder keeps alive. A controller campaigns before its
// loops run and stops them when its session ends (the lease expired: it
// was cut off from etcd, or it died), so at most one controller acts on
// the rollouts at a time, and a standby takes over within one lease TTL
// of the leader's death. Written on etcd's primitives because leader
// election is exactly what they are for; nothing here is hand-rolled
// consensus.
package leader

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultTTL is the lease TTL when Elector.TTL is zero: how long a dead
// leader holds on before a standby takes over.
const DefaultTTL = 5 * time.Second

// Elector campaigns for leadership under Key.
type Elector struct {
	// Client talks to etcd. Required.
	Client *clientv3.Client
	// Key is the election's key prefix, e.g. /bluejay/leader. Required.
	Key string
	// ID names this candidate in the election (host:admin address).
	// Required.
	ID string
	// TTL is the lease's time to live. Zero means DefaultTTL.
	TTL time.Duration
}

// Term is one leadership: Lost is closed when it ends (the session's
// lease expired or was revoked), and Resign ends it on purpose.
type Term struct {
	Lost   <-chan struct{}
	resign func(context.Context) error
}

// Resign gives leadership up at once, so a standby need not wait for the
// lease to expire.
func (t *Term) Resign(ctx context.Context) error { return t.resign(ctx) }

// Campaign blocks until this candidate leads, or ctx ends.
func (e *Elector) Campaign(ctx context.Context) (*Term, error) {
	ttl := e.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	s, err := concurrency.NewSession(e.Client, concurrency.WithTTL(int((ttl+time.Second-1)/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("leader election: opening a session: %w", err)
	}
	el := concurrency.NewElection(s, e.Key)
	if err := el.Campaign(ctx, e.ID); err != nil {
		s.Close()
		return nil, fmt.Errorf("leader election: campaigning: %w", err)
	}
	return &Term{Lost: s.Done(), resign: func(ctx context.Context) error {
		err := el.Resign(ctx)
		s.Close()
		return err
	}}, nil
}

// Leader returns the current leader's ID, "" if there is none.
func (e *Elector) Leader(ctx context.Context) (string, error) {
	resp, err := e.Client.Get(ctx, e.Key+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
