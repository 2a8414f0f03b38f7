package controller

import (
	"context"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// ServiceStatus is what `bluejay status` shows of a service.
type ServiceStatus struct {
	Service string `json:"service"`
	// Stable is the version that serves users when no rollout is under way.
	Stable string `json:"stable"`
	// Rollout is the service's latest rollout.
	Rollout engine.Rollout `json:"rollout"`
	// Weights is the live traffic split by version.
	Weights map[string]int `json:"weights"`
	// Route is the live route with each version's ready addresses.
	Route router.Route `json:"route"`
	// Instances lists every instance of the versions the rollout uses.
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is an instance with its readiness.
type InstanceStatus struct {
	platform.Instance
	Ready     bool   `json:"ready"`
	LastError string `json:"lastError,omitempty"`
}

type snapshot = ServiceStatus

// publish refreshes the snapshot that Status reads.
func (l *loop) publish() {
	s := ServiceStatus{Service: l.svc.Spec.Name, Stable: l.r.Stable(), Rollout: l.r,
		Weights: l.applied.Weights(), Route: l.applied}
	for _, label := range []string{l.r.From.Label, l.r.BaselineLabel(), l.r.To.Label} {
		if label == "" {
			continue
		}
		for _, in := range l.svc.Platform.Instances(l.svc.Spec.Name, label) {
			st := l.monitor.Status(in.Addr)
			s.Instances = append(s.Instances, InstanceStatus{Instance: in, Ready: in.State == platform.StateRunning && st.Ready, LastError: st.LastError})
		}
	}
	l.mu.Lock()
	l.snap = s
	l.mu.Unlock()
}

// Status returns a service's live status.
func (c *Controller) Status(service string) (ServiceStatus, error) {
	l, err := c.service(service)
	if err != nil {
		return ServiceStatus{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snap, nil
}

// Rollouts lists a service's rollouts, newest first.
func (c *Controller) Rollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error) {
	if _, err := c.service(service); err != nil {
		return nil, err
	}
	return c.Store.ListRollouts(ctx, service, limit)
}

// Events lists a service's events, oldest first.
func (c *Controller) Events(ctx context.Context, service string, limit int) ([]engine.Event, error) {
	if _, err := c.service(service); err != nil {
		return nil, err
	}
	return c.Store.ListEvents(ctx, service, limit)
}

// Rollout returns one rollout by id.
func (c *Controller) Rollout(ctx context.Context, id int64) (engine.Rollout, error) {
	return c.Store.Rollout(ctx, id)
}
