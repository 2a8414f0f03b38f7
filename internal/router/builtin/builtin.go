// Package builtin is the Router adapter for bluejay's own proxy
// (internal/proxy): it writes traffic splits straight into the proxy's
// routing table.
package builtin

import (
	"context"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

var _ router.Router = (*Router)(nil)

// Router applies traffic splits to a builtin proxy.
type Router struct {
	// Proxy is the proxy whose table the router writes. It must not be nil.
	Proxy *proxy.Proxy
}

// SetRoute replaces the service's route in the proxy. The swap is atomic
// and in memory, so it never fails and ctx is not consulted; when it
// returns no new request is picked from the old split.
func (rt *Router) SetRoute(_ context.Context, r router.Route) error {
	rt.Proxy.SetRoute(r)
	return nil
}

// RemoveRoute forgets the service's route (the service was removed from
// the config): its requests get the proxy's answer for no route, 404.
func (rt *Router) RemoveRoute(service string) { rt.Proxy.RemoveRoute(service) }
