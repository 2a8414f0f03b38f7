package proxy

import "github.com/bluejay-deploy/bluejay/internal/router"

// SetRoutes is SetRoute for several routes at once, each for a different
// service: one new table and one sweep for them all. A follower of the
// store that applies k changed routes of n this way pays O(n + k), where
// k calls of SetRoute pay O(k × n) (each copies the table; the sweep
// looks only at the changed routes): with thousands of services, the difference
// between a weight change that reaches the proxy in a millisecond and
// one that waits for a queue of copies (issue 22).
func (p *Proxy) SetRoutes(rs []router.Route) {
	if len(rs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	services := p.load().copyServices()
	releases := make([]func(), 0, len(rs))
	for _, r := range rs {
		rt := p.compile(r)
		releases = append(releases, p.carryHold(r.Service, rt))
		p.routed(services[r.Service], rt)
		services[r.Service] = rt
	}
	p.swap(newTable(services))
	for _, release := range releases {
		release()
	}
	p.sweep()
	p.startJanitor()
}

// RoutesAs reports whether the proxy routes r.Service exactly as r says
// (router.Route.Equal), without copying its table: a follower applying
// the changes a watch carries compares each with what it has.
func (p *Proxy) RoutesAs(r router.Route) bool {
	rt := p.load().route(r.Service)
	return rt != nil && rt.spec.Equal(r)
}
