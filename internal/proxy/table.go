package proxy

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// table is the routing table. It is immutable once published, except for
// its readers count and its routes' round-robin counters; a change builds
// a new table that shares the unchanged routes.
type table struct {
	services map[string]*route   // by service
	byHost   map[string][]*route // by lower-case host, most specific first
	anyHost  []*route            // routes with Host "", most specific first

	readers atomic.Int64 // requests picking from this table; see Proxy.pick
}

// newTable indexes routes for matching.
func newTable(services map[string]*route) *table {
	t := &table{services: services, byHost: map[string][]*route{}}
	for _, rt := range services {
		if rt.host == "" {
			t.anyHost = append(t.anyHost, rt)
		} else {
			t.byHost[rt.host] = append(t.byHost[rt.host], rt)
		}
	}
	slices.SortFunc(t.anyHost, bySpecificity)
	for _, rs := range t.byHost {
		slices.SortFunc(rs, bySpecificity)
	}
	return t
}

// bySpecificity orders routes of one host by longest prefix first, then
// by service so that equal matches resolve the same way every time.
func bySpecificity(a, b *route) int {
	if c := cmp.Compare(len(b.prefix), len(a.prefix)); c != 0 {
		return c
	}
	return cmp.Compare(a.service, b.service)
}

// with returns a copy of t with rt in place of its service's route.
func (t *table) with(rt *route) *table {
	services := t.copyServices()
	services[rt.service] = rt
	return newTable(services)
}

// without returns a copy of t without the service's route.
func (t *table) without(service string) *table {
	services := t.copyServices()
	delete(services, service)
	return newTable(services)
}

func (t *table) copyServices() map[string]*route {
	if t == nil {
		return map[string]*route{}
	}
	return maps.Clone(t.services)
}

// specs returns copies of the routes as they were set, sorted by service.
func (t *table) specs() []router.Route {
	if t == nil {
		return nil
	}
	out := make([]router.Route, 0, len(t.services))
	for _, rt := range t.services {
		out = append(out, cloneRoute(rt.spec))
	}
	slices.SortFunc(out, func(a, b router.Route) int { return cmp.Compare(a.Service, b.Service) })
	return out
}

// match returns the most specific route for the request host and path, or
// nil. A route for the request's host beats any route for any host, even
// one with a longer prefix.
func (t *table) match(hostport, path string) *route {
	if len(t.byHost) > 0 {
		var buf [64]byte
		host := lowerASCII(buf[:0], stripPort(hostport))
		// Indexing with string(bytes) does not allocate.
		if rt := matchPrefix(t.byHost[string(host)], path); rt != nil {
			return rt
		}
	}
	return matchPrefix(t.anyHost, path)
}

// matchPrefix returns the first route whose prefix starts path. Prefixes
// match as plain string prefixes, not on path-segment boundaries: "/api"
// matches "/api/v1" and also "/apiv2". Routes that need the boundary end
// their prefix with "/".
func matchPrefix(routes []*route, path string) *route {
	if path == "" {
		path = "/"
	}
	for _, rt := range routes {
		if strings.HasPrefix(path, rt.prefix) {
			return rt
		}
	}
	return nil
}

// normalizeHost returns a host without port and IPv6 brackets, in lower
// case. Host names are ASCII (IDNA names travel as punycode), so only
// ASCII letters are folded, the same way as in match.
func normalizeHost(hostport string) string {
	return string(lowerASCII(nil, stripPort(hostport)))
}

// stripPort returns the host of a Host header without its port and IPv6
// brackets.
func stripPort(hostport string) string {
	host := hostport
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// lowerASCII appends s to dst with ASCII letters in lower case.
func lowerASCII(dst []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func cloneRoute(r router.Route) router.Route {
	r.Backends = slices.Clone(r.Backends)
	for i := range r.Backends {
		r.Backends[i].Addrs = slices.Clone(r.Backends[i].Addrs)
	}
	if r.Sticky != nil {
		st := *r.Sticky
		r.Sticky = &st
	}
	r.Rules = slices.Clone(r.Rules)
	if r.Maintenance != nil {
		m := *r.Maintenance
		r.Maintenance = &m
	}
	if r.Hold != nil {
		h := *r.Hold
		r.Hold = &h
	}
	return r
}
