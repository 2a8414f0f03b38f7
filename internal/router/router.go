// Package router defines the Router port: how bluejay tells a data plane
// which share of a service's traffic goes to which version. The builtin
// proxy is the default adapter; NGINX, HAProxy and Gateway API follow.
package router

import (
	"context"
	"slices"
)

// Router applies a service's traffic split to a data plane.
type Router interface {
	// SetRoute replaces the service's entry atomically: no request sees a
	// half-applied split. It returns once the new split is live.
	SetRoute(ctx context.Context, r Route) error
}

// Route is one service's entry in the traffic split: what it matches and
// how its requests are shared among its versions.
type Route struct {
	// Service names the service.
	Service string `json:"service"`
	// Host matches the request host without port, case-insensitively.
	// "" matches any host.
	Host string `json:"host,omitempty"`
	// PathPrefix matches the start of the request path. "" means "/".
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Backends are the versions that may receive requests.
	Backends []Backend `json:"backends"`
}

// Backend is one version's share of a route.
type Backend struct {
	// Version is the version label.
	Version string `json:"version"`
	// Weight is the version's share of new requests relative to the other
	// backends' weights (bluejay uses percentages). 0 means no new
	// requests, but the version may still finish in-flight ones.
	Weight int `json:"weight"`
	// Addrs are the host:port addresses of the version's ready instances.
	Addrs []string `json:"addrs"`
}

// Weights returns the route's weights by version.
func (r Route) Weights() map[string]int {
	w := make(map[string]int, len(r.Backends))
	for _, b := range r.Backends {
		w[b.Version] = b.Weight
	}
	return w
}

// Equal reports whether two routes would route identically.
func (r Route) Equal(o Route) bool {
	return r.Service == o.Service && r.Host == o.Host && r.PathPrefix == o.PathPrefix &&
		slices.EqualFunc(r.Backends, o.Backends, func(a, b Backend) bool {
			return a.Version == b.Version && a.Weight == b.Weight && slices.Equal(a.Addrs, b.Addrs)
		})
}
