package proxy

import (
	"sync/atomic"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// route is a router.Route compiled for the request path: only the eligible
// backends, with their cumulative weights, and one upstream per address.
type route struct {
	spec    router.Route // a private copy, for Routes
	service string
	host    string // normalized; "" matches any host
	prefix  string // never ""

	backends []*backend // eligible: weight > 0 and at least one address
	cum      []uint64   // cum[i] is the sum of the weights of backends[:i+1]
	sticky   *router.Sticky
	// stickyAttrs follows "name=value" in a generated key's Set-Cookie.
	stickyAttrs string
	rules       []rule // in order; the first match wins

	stable        *backend // the shield's retry target; nil: no shield
	shieldMethods []string
	mirror        *backend // copies go to it; nil: no mirroring
	mirrorPercent int

	// streams is true when the route speaks h2c or gRPC to its
	// instances: request bodies stream, with no read-ahead (body.go).
	streams bool

	maintenance *router.Maintenance // answer 503 with it; nil: forward
	hold        *hold               // requests wait on it; nil: none (edge.go)
}

// backend is one eligible version of a route.
type backend struct {
	version   string
	upstreams []*upstream
	next      atomic.Uint64 // round-robin over upstreams
}

// compile builds the request-path form of r.
func (p *Proxy) compile(r router.Route) *route {
	r = cloneRoute(r)
	rt := &route{spec: r, service: r.Service, host: normalizeHost(r.Host), prefix: r.PathPrefix,
		streams: r.Protocol == router.ProtocolH2C || r.Protocol == router.ProtocolGRPC}
	if rt.prefix == "" {
		rt.prefix = "/"
	}
	var total uint64
	byVersion := map[string]*backend{}
	for _, b := range r.Backends {
		if len(b.Addrs) == 0 {
			continue
		}
		be := p.compileBackend(r.Service, b)
		be.withOutlier(r.Outlier)
		be.speak(r)
		byVersion[b.Version] = be
		if b.Weight <= 0 {
			continue
		}
		total += uint64(b.Weight)
		rt.backends = append(rt.backends, be)
		rt.cum = append(rt.cum, total)
	}
	rt.sticky, rt.stickyAttrs = r.Sticky, stickyAttrs(r.Sticky)
	p.compileEdge(rt, r)
	rt.rules = compileRules(r.Rules, byVersion)
	if sh := r.Shield; sh != nil {
		rt.stable, rt.shieldMethods = byVersion[sh.Stable], sh.Methods
	}
	if m := r.Mirror; m != nil && m.Percent > 0 {
		rt.mirror, rt.mirrorPercent = byVersion[m.Version], min(m.Percent, 100)
	}
	return rt
}

func (p *Proxy) compileBackend(service string, b router.Backend) *backend {
	be := &backend{version: b.Version}
	for _, addr := range b.Addrs {
		be.upstreams = append(be.upstreams, p.newUpstream(service, b.Version, addr))
	}
	return be
}

// pick returns an upstream of a backend chosen with probability
// proportional to its weight, n being a uniform random number; nil when no
// backend is eligible.
func (rt *route) pick(n uint64) *upstream {
	if len(rt.cum) == 0 {
		return nil
	}
	n %= rt.cum[len(rt.cum)-1]
	for i, c := range rt.cum {
		if n < c {
			return rt.backends[i].nextUpstream()
		}
	}
	panic("unreachable: n is below the total weight")
}

// pickBucket returns an upstream of the backend whose share of the
// buckets [0, buckets) holds bucket, the backends filling them in order:
// as the first backend's weight grows, its range grows and buckets move
// to it from the others, never back.
func (rt *route) pickBucket(bucket uint64) *upstream {
	if len(rt.cum) == 0 {
		return nil
	}
	total := rt.cum[len(rt.cum)-1]
	for i, c := range rt.cum {
		if bucket*total < c*buckets {
			return rt.backends[i].nextUpstream()
		}
	}
	return rt.backends[len(rt.backends)-1].nextUpstream()
}

// nextUpstream returns the backend's upstreams in turn, skipping ejected
// ones (all of them are never ejected; see outlier.go).
func (b *backend) nextUpstream() *upstream {
	i := b.next.Add(1) - 1
	n := uint64(len(b.upstreams))
	first := b.upstreams[i%n]
	if first.outlier == nil {
		return first
	}
	now := first.p.now()
	for k := range n {
		if u := b.upstreams[(i+k)%n]; !u.ejected(now) {
			return u
		}
	}
	return first
}
