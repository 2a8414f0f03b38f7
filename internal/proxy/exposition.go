package proxy

import (
	"cmp"
	"slices"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// statsLinger is how long Stats keeps reporting an instance after it left
// its version's route and finished its requests: long enough for a
// scraper to read its last counts, short enough that the instances of
// past rollouts, each on a new address, do not pile up as series.
const statsLinger = 10 * time.Minute

// VersionStats are the cumulative counts of one version of one service,
// as a metrics exposition reports them (see Stats).
type VersionStats struct {
	Service, Version string

	// Instances are the version's instances, sorted by address.
	Instances []InstanceStats

	// Latency is the version's latency histogram.
	Latency Histogram

	// Ejections counts the times passive health checking (outlier
	// ejection) took one of the version's instances out of the split.
	// Zero until that feature exists.
	Ejections int64
	// MirrorDrops counts mirrored copies of requests bound for the
	// version that were dropped because the mirror queue was full. Zero
	// until mirroring exists.
	MirrorDrops int64
	// ShieldRetries counts requests that failed on the version and that
	// the shield retried once on stable. Zero until the shield exists.
	ShieldRetries int64
}

// InstanceStats are the counts of one instance of a version.
type InstanceStats struct {
	// Addr is the instance's host:port.
	Addr string
	// Codes counts the instance's finished requests by [Class] of the
	// answer: each request once, except an upgrade that the proxy fails
	// after the upstream's 101, which counts as a 1xx and as the proxy's
	// error, both of which happened.
	Codes [NumClasses]int64
	// InFlight is how many requests forwarded to Addr have not finished,
	// whichever service or version they were for: see [Proxy.InFlight].
	InFlight int64
}

// Stats returns the cumulative counts of every version the proxy has
// routed, sorted by service and version, for a metrics exposition such as
// Prometheus. Unlike Counts, which counts a request once it is forwarded,
// Stats counts it once it finished, in its instance's code classes and
// its version's latency histogram.
//
// Counts are never reset while the proxy keeps the version (see
// Proxy.Retain: a version released and routed again counts afresh, which
// a scraper sees as a counter reset). An instance is reported only while
// it is in its version's route, has requests in flight, or left the route
// less than ten minutes ago; a version, while it is routed or has an
// instance reported. An instance that comes back continues its counts.
//
// Stats reads the counters without stopping requests, so a snapshot taken
// under load is not one instant: each counter is read once, at some
// moment during the call.
func (p *Proxy) Stats() []VersionStats {
	now := p.now()
	routed := routedSet(p.Routes())
	var out []VersionStats
	p.counters.Range(func(k, v any) bool {
		key, c := k.(counterKey), v.(*counters)
		vs := VersionStats{Service: key.service, Version: key.version,
			Ejections: c.ejections.Load(), MirrorDrops: c.mirrorDrops.Load(), ShieldRetries: c.shieldRetries.Load()}
		vs.Instances = p.instanceStats(key, c, routed, now)
		if len(vs.Instances) == 0 && !routed[instanceKey{key, ""}] {
			return true
		}
		vs.Latency = c.latency.snapshot()
		out = append(out, vs)
		return true
	})
	slices.SortFunc(out, func(a, b VersionStats) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// instanceStats returns the reported instances of the version key,
// sorted by address, and notes the routed ones as seen at now.
func (p *Proxy) instanceStats(key counterKey, c *counters, routed map[instanceKey]bool, now time.Time) []InstanceStats {
	var out []InstanceStats
	c.instances.Range(func(k, v any) bool {
		addr, in := k.(string), v.(*instanceCounts)
		inflight := p.InFlight(addr)
		switch {
		case routed[instanceKey{key, addr}]:
			in.seen.Store(now.UnixNano())
		case inflight == 0 && now.Sub(time.Unix(0, in.seen.Load())) > statsLinger:
			return true
		}
		out = append(out, InstanceStats{Addr: addr, Codes: in.codes.load(), InFlight: inflight})
		return true
	})
	slices.SortFunc(out, func(a, b InstanceStats) int { return cmp.Compare(a.Addr, b.Addr) })
	return out
}

// instanceKey names an instance of a version; addr "" names the version.
type instanceKey struct {
	counterKey
	addr string
}

// routedSet returns the versions and instances in routes, whatever their
// weights: a version at weight 0 keeps its warm instances reported.
func routedSet(routes []router.Route) map[instanceKey]bool {
	set := map[instanceKey]bool{}
	for _, r := range routes {
		for _, b := range r.Backends {
			v := counterKey{r.Service, b.Version}
			set[instanceKey{v, ""}] = true
			for _, a := range b.Addrs {
				set[instanceKey{v, a}] = true
			}
		}
	}
	return set
}
