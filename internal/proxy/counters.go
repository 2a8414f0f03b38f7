package proxy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// counterKey names one version of one service.
type counterKey struct{ service, version string }

// counters are one version's cumulative counts and its recent requests:
// everything the proxy keeps of a version, in one record whose life
// follows the routes (see lifecycle.go). It is made when a route first
// names the version and kept across route changes while one does; once
// the version has left its service's route and its last request has
// finished, it is kept Retain longer for the readers of its final numbers,
// then released. A version routed again after that starts afresh.
type counters struct {
	requests atomic.Int64
	errors   atomic.Int64
	window   *series
	users    *users

	// inflight counts the version's requests that are picked and not
	// finished: with the route, what keeps the record alive.
	inflight atomic.Int64
	// idleSince is when a sweep first found the version out of every
	// route with nothing in flight; zero while it is routed or busy.
	// Guarded by Proxy.mu, like every step of the record's lifecycle.
	idleSince time.Time

	// For Stats: the latencies in Prometheus's fixed buckets, and each
	// instance's outcomes by class.
	latency   latencyHistogram
	instances sync.Map // addr → *instanceCounts

	// Hooks for the data-plane features of issue 4, which increment them
	// once they exist; until then they stay zero. Stats reports them.
	//
	// ejections counts the times passive health checking (outlier
	// ejection, issue 4 item 4) took one of the version's instances out
	// of the split.
	ejections atomic.Int64
	// mirrorDrops counts mirrored copies of requests bound for the
	// version that were dropped because the mirror queue was full
	// (mirroring, issue 4 item 3).
	mirrorDrops atomic.Int64
	// shieldRetries counts requests that failed on the version and that
	// the shield retried once on stable (issue 4 item 5).
	shieldRetries atomic.Int64
}

// instanceCounts are one instance's outcomes, for one version of one
// service.
type instanceCounts struct {
	codes classCounts
	// seen is when the instance was last known to be in its version's
	// route, in Unix nanoseconds: when it was routed, and at each Stats
	// that found it still routed. Stats stops reporting an instance
	// statsLinger after it left.
	seen atomic.Int64
	// Passive health (outlier.go): failures in a row, ejections in a row
	// (each doubles the next), and until when it is ejected (Unix nanos).
	failures     atomic.Int32
	ejectedTimes atomic.Int32
	ejectedUntil atomic.Int64
}

// instanceOf returns the counts of the version's instance at addr, made
// on first use, and notes that the instance is routed at now.
func (c *counters) instanceOf(addr string, now time.Time) *instanceCounts {
	v, ok := c.instances.Load(addr)
	if !ok {
		v, _ = c.instances.LoadOrStore(addr, new(instanceCounts))
	}
	in := v.(*instanceCounts)
	in.seen.Store(now.UnixNano())
	return in
}

// Counts returns the version's cumulative counts since the proxy first
// routed it (or routed it again after releasing it: see Proxy.Retain).
// Requests counts every request forwarded to the version. Errors counts
// its 5xx responses and the proxy's 502 and 504 for it; a request whose
// client went away (499) is not an error of the version.
func (p *Proxy) Counts(service, version string) metrics.Counts {
	c := p.lookupCounters(service, version)
	if c == nil {
		return metrics.Counts{}
	}
	users, failedUsers := c.users.estimate()
	return metrics.Counts{Requests: c.requests.Load(), Errors: c.errors.Load(), Users: users, FailedUsers: failedUsers}
}

// lookupCounters returns the version's counters, nil if it was never
// routed or was released.
func (p *Proxy) lookupCounters(service, version string) *counters {
	v, ok := p.counters.Load(counterKey{service, version})
	if !ok {
		return nil
	}
	return v.(*counters)
}

// countersOf returns the version's counters, made on first use. Making
// them draws the seed of the version's reservoirs from Rand. Callers hold
// p.mu, which also serializes sweep: a record is never made twice, nor
// made while it is being released.
func (p *Proxy) countersOf(service, version string) *counters {
	if c := p.lookupCounters(service, version); c != nil {
		return c
	}
	c := &counters{window: newSeries(p.windowBucket(), p.windowBuckets(), p.random(), p.random()), users: newUsers()}
	v, _ := p.counters.LoadOrStore(counterKey{service, version}, c)
	return v.(*counters)
}

// InFlight returns how many requests forwarded to addr have not finished.
func (p *Proxy) InFlight(addr string) int64 {
	v, ok := p.inflight.Load(addr)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// inflightOf returns addr's in-flight counter. A request may still hold
// one after its address left every route, and WaitDrained must see that
// request, so sweep removes a counter only when its address is in no
// route and it is zero: no request can raise it again (picks come from
// the current table), and an address routed again gets a new one.
// Callers hold p.mu.
func (p *Proxy) inflightOf(addr string) *atomic.Int64 {
	v, _ := p.inflight.LoadOrStore(addr, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// drainPoll is how often WaitDrained looks at the in-flight counts.
const drainPoll = 10 * time.Millisecond

// WaitDrained waits until none of addrs has a request in flight. Called
// after the SetRoute that took the addresses out of the split, it returns
// nil once their instances may be stopped without cutting a request. It
// returns ctx's error, wrapped with the addresses still busy, if ctx ends
// first.
func (p *Proxy) WaitDrained(ctx context.Context, addrs []string) error {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		busy := p.busy(addrs)
		if len(busy) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("draining %v: %w", busy, ctx.Err())
		case <-tick.C:
		}
	}
}

// busy returns the addresses that have requests in flight.
func (p *Proxy) busy(addrs []string) []string {
	var busy []string
	for _, a := range addrs {
		if p.InFlight(a) > 0 {
			busy = append(busy, a)
		}
	}
	return busy
}
