package proxy

import (
	"maps"
	"slices"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

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
	t := p.load()
	var services map[string]*route // for a rebuild of the whole table
	if t == nil || len(rs) > replaceMax {
		services = t.copyServices()
	}
	releases := make([]func(), 0, len(rs))
	for _, r := range rs {
		rt := p.compile(r)
		releases = append(releases, p.carryHold(r.Service, rt))
		if services != nil {
			p.routed(services[r.Service], rt)
			services[r.Service] = rt
		} else {
			p.routed(t.route(r.Service), rt)
			t = t.replacing(rt)
		}
	}
	if services != nil {
		t = newTable(services)
	}
	p.swap(t)
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

// replaceMax is the most routes SetRoutes moves one by one into a copy
// of the table (replacing); more, it builds the table afresh (newTable),
// one copy and one sort for them all.
const replaceMax = 8

// replacing returns a copy of t with rt in place of its service's route,
// moving rt alone within its host's list (already sorted): O(n) copying
// and O(log n) comparisons, where newTable sorts every list again,
// O(n log n) comparisons per change (issue 22: half a follower's apply
// at 2,000 services).
func (t *table) replacing(rt *route) *table {
	if t == nil {
		return newTable(map[string]*route{rt.service: rt})
	}
	nt := &table{services: maps.Clone(t.services), byHost: maps.Clone(t.byHost), anyHost: t.anyHost}
	if old := t.services[rt.service]; old != nil {
		nt.setList(old.host, remove(nt.list(old.host), old))
	}
	nt.services[rt.service] = rt
	nt.setList(rt.host, insert(nt.list(rt.host), rt))
	return nt
}

// list returns the routes of host ("" for any host).
func (t *table) list(host string) []*route {
	if host == "" {
		return t.anyHost
	}
	return t.byHost[host]
}

// setList sets the routes of host ("" for any host); a host without
// routes has no entry, as in newTable.
func (t *table) setList(host string, rs []*route) {
	switch {
	case host == "":
		t.anyHost = rs
	case len(rs) == 0:
		delete(t.byHost, host)
	default:
		t.byHost[host] = rs
	}
}

// remove returns a copy of rs, sorted by bySpecificity, without rt.
func remove(rs []*route, rt *route) []*route {
	i, found := slices.BinarySearchFunc(rs, rt, bySpecificity)
	if !found || rs[i] != rt {
		i = slices.Index(rs, rt)
	}
	if i < 0 {
		return rs
	}
	out := make([]*route, 0, len(rs)-1)
	return append(append(out, rs[:i]...), rs[i+1:]...)
}

// insert returns a copy of rs, sorted by bySpecificity, with rt in its
// place.
func insert(rs []*route, rt *route) []*route {
	i, _ := slices.BinarySearchFunc(rs, rt, bySpecificity)
	out := make([]*route, 0, len(rs)+1)
	out = append(append(out, rs[:i]...), rt)
	return append(out, rs[i:]...)
}
