package proxy

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// State follows the routes. What the proxy keeps of a version (its
// counters record: counts, windows, latency histogram, user sketches,
// per-instance counts) and of an address (its in-flight count) is made
// when a route first names it, and is referenced by two things: the
// current routing table, and the requests in flight on it (Caddy's
// UsagePool counts the same two kinds of users of an upstream). When
// neither is left, the state is released by sweep, which runs under p.mu
// after every SetRoute and RemoveRoute and looks only at what the change
// touched, and by sweepAll, every record, from a janitor goroutine so
// that memory also returns while the routes stay still.
//
// A version's record outlives both references by Retain, because the
// controller reads a version after it left the split: the final counts of
// a rolled-back canary (its blast radius, recorded when the rollout
// settles, after AbortScaleDownDelay), the last window of an analysis, a
// scraper's last reading of its counters. Retain is measured from the
// first sweep that found the version out of every route with nothing in
// flight, on the proxy's clock (Proxy.Now). The controller's blast radius
// also never shrinks once recorded (controller.loop.exposure), so a
// release that comes before a very late reading (an AbortScaleDownDelay
// longer than Retain) leaves the recorded numbers as they were rather than
// erase them. An address's in-flight count needs no grace: zero and
// absent read the same.
//
// Sweep and the making of state both run under p.mu, so a record is never
// made twice nor released while being made. A request raises its
// version's in-flight count while it picks from a table (see Proxy.pick),
// and swap waits for the picks from the table it replaces; so once a
// version is out of the current table with nothing in flight, no request
// can reach its record again, and releasing it loses nothing. A version
// routed again after its release gets a new record, with zero counts.

// DefaultRetain is the Retain used when Proxy.Retain is zero.
const DefaultRetain = 10 * time.Minute

// lifecycle is what sweep needs to look at only what a route change
// touched, so that a change costs O(the changed routes) rather than
// O(every version and address): a wave of n changes among n services cost
// O(n²) when every change swept everything (issue 22: 16% of serve's CPU
// during a deploy wave, 55% of a follower's sync). Guarded by Proxy.mu.
//
// The janitor still sweeps everything (sweepAll), every sweepEvery: the
// safety net for state made outside a route change, and what keeps
// memory bounded whatever these sets hold.
type lifecycle struct {
	// refs counts, per address, the backends of the current table that
	// name it (a backend at weight 0 too): an address leaves every route
	// when its count falls to zero.
	refs map[string]int
	// changed are the versions of the routes changed since the last
	// sweep, old and new; left the addresses whose count fell to zero.
	changed []counterKey
	left    []string
	// busy are departed versions, busyAddrs departed addresses, that had
	// requests in flight at the last sweep: looked at again at each one.
	busy      map[counterKey]struct{}
	busyAddrs map[string]struct{}
	// idle are departed, drained versions in the order they were found
	// so (idleSince), from head on: each sweep releases those Retain
	// has passed for. An entry whose record was since routed again,
	// released or made anew is stale and skipped.
	idle []idleEntry
	head int
}

type idleEntry struct {
	key   counterKey
	c     *counters
	since time.Time
}

// routed notes that the service's route goes from old to rt (either may
// be nil), before the swap: sweep then looks at their versions and
// addresses. Callers hold p.mu.
func (p *Proxy) routed(old, rt *route) {
	l := &p.life
	if l.refs == nil {
		l.refs = map[string]int{}
	}
	if old != nil {
		for _, b := range old.spec.Backends {
			l.changed = append(l.changed, counterKey{old.service, b.Version})
			for _, a := range b.Addrs {
				if l.refs[a]--; l.refs[a] <= 0 {
					delete(l.refs, a)
					l.left = append(l.left, a)
				}
			}
		}
	}
	if rt != nil {
		for _, b := range rt.spec.Backends {
			l.changed = append(l.changed, counterKey{rt.service, b.Version})
			for _, a := range b.Addrs {
				l.refs[a]++
			}
		}
	}
}

// sweep releases the records of versions and the in-flight counts of
// addresses that no route names and no request holds, the versions once
// Retain has passed since they were first found so. It looks only at the
// versions and addresses of the routes changed since the last sweep
// (routed), at those still busy then, and at the drained versions whose
// Retain has passed: O(changed), not O(routed). Callers hold p.mu, after
// the swap.
func (p *Proxy) sweep() {
	l := &p.life
	t, now := p.load(), p.now()
	for _, k := range l.changed {
		p.lookVersion(t, k, now)
	}
	clear(l.changed)
	l.changed = l.changed[:0]
	for k := range l.busy {
		p.lookVersion(t, k, now)
	}
	retain := p.retain()
	for l.head < len(l.idle) {
		e := l.idle[l.head]
		if now.Sub(e.since) < retain {
			break
		}
		l.idle[l.head] = idleEntry{}
		l.head++
		if c := p.lookupCounters(e.key.service, e.key.version); c == e.c && c.idleSince.Equal(e.since) &&
			!names(t, e.key) && c.inflight.Load() == 0 {
			p.counters.Delete(e.key)
		}
	}
	if l.head == len(l.idle) {
		l.idle, l.head = l.idle[:0], 0
	} else if l.head > 64 && l.head > len(l.idle)/2 {
		n := copy(l.idle, l.idle[l.head:])
		clear(l.idle[n:])
		l.idle, l.head = l.idle[:n], 0
	}
	for _, a := range l.left {
		p.lookAddr(a)
	}
	clear(l.left)
	l.left = l.left[:0]
	for a := range l.busyAddrs {
		p.lookAddr(a)
	}
}

// lookVersion is sweep's step for one version: routed or busy, it is
// kept; drained and out of every route, it starts its Retain.
func (p *Proxy) lookVersion(t *table, k counterKey, now time.Time) {
	l := &p.life
	c := p.lookupCounters(k.service, k.version)
	switch {
	case c == nil:
		delete(l.busy, k)
	case names(t, k):
		c.idleSince = time.Time{}
		delete(l.busy, k)
	case c.inflight.Load() > 0:
		c.idleSince = time.Time{}
		if l.busy == nil {
			l.busy = map[counterKey]struct{}{}
		}
		l.busy[k] = struct{}{}
	default:
		delete(l.busy, k)
		if c.idleSince.IsZero() {
			c.idleSince = now
			l.idle = append(l.idle, idleEntry{k, c, now})
		}
	}
}

// lookAddr is sweep's step for one address: out of every route with
// nothing in flight, its in-flight count and its HostClient go.
func (p *Proxy) lookAddr(a string) {
	l := &p.life
	if l.refs[a] > 0 {
		delete(l.busyAddrs, a)
		return
	}
	if p.InFlight(a) > 0 {
		if l.busyAddrs == nil {
			l.busyAddrs = map[string]struct{}{}
		}
		l.busyAddrs[a] = struct{}{}
		return
	}
	delete(l.busyAddrs, a)
	p.inflight.Delete(a)
	if v, ok := p.hostClients.LoadAndDelete(a); ok {
		v.(*fasthttp.HostClient).CloseIdleConnections()
	}
}

// names reports whether the table's route for k's service names k's
// version, whatever its weight.
func names(t *table, k counterKey) bool {
	rt := t.route(k.service)
	if rt == nil {
		return false
	}
	for _, b := range rt.spec.Backends {
		if b.Version == k.version {
			return true
		}
	}
	return false
}

// sweepAll is sweep over every record and address, for the janitor: it
// builds the maps of every routed version and address, O(routed). Callers
// hold p.mu.
func (p *Proxy) sweepAll() {
	p.sweep()
	l := &p.life
	versions, addrs := p.load().named()
	now := p.now()
	retain := p.retain()
	p.counters.Range(func(k, v any) bool {
		c := v.(*counters)
		switch {
		case versions[k.(counterKey)] || c.inflight.Load() > 0:
			c.idleSince = time.Time{}
		case c.idleSince.IsZero():
			c.idleSince = now
			l.idle = append(l.idle, idleEntry{k.(counterKey), c, now})
		case now.Sub(c.idleSince) >= retain:
			p.counters.Delete(k)
			delete(l.busy, k.(counterKey))
		}
		return true
	})
	p.inflight.Range(func(k, v any) bool {
		if !addrs[k.(string)] && v.(*atomic.Int64).Load() == 0 {
			p.inflight.Delete(k)
			delete(l.busyAddrs, k.(string))
		}
		return true
	})
	p.sweepHostClients(addrs)
}

// named returns the versions and the addresses the table's routes name,
// whatever their weights: a warm version at weight 0 stays.
func (t *table) named() (map[counterKey]bool, map[string]bool) {
	versions, addrs := map[counterKey]bool{}, map[string]bool{}
	if t == nil {
		return versions, addrs
	}
	for _, rt := range t.services {
		for _, b := range rt.spec.Backends {
			versions[counterKey{rt.service, b.Version}] = true
			for _, a := range b.Addrs {
				addrs[a] = true
			}
		}
	}
	return versions, addrs
}

func (p *Proxy) retain() time.Duration {
	if p.Retain > 0 {
		return p.Retain
	}
	return DefaultRetain
}

// sweepEvery is how often the janitor sweeps: a quarter of Retain, within
// [1s, 1min], so that a departed version is released at most about two
// periods after Retain.
func (p *Proxy) sweepEvery() time.Duration {
	return min(max(p.retain()/4, time.Second), time.Minute)
}

// startJanitor starts the goroutine that sweeps while the routes stay
// still, once; Close stops it.
func (p *Proxy) startJanitor() {
	p.janitorOnce.Do(func() {
		p.workers.spawn(func(stop <-chan struct{}) {
			tick := time.NewTicker(p.sweepEvery())
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					p.mu.Lock()
					p.sweepAll()
					p.mu.Unlock()
				}
			}
		})
	})
}

// Close stops the proxy's goroutines — the mirror workers and the janitor
// that releases departed versions — and waits for them to return. Copies
// of requests being mirrored are abandoned. It also closes the idle
// connections of the default transport (a custom Transport is its
// owner's). The proxy still forwards requests after Close, without
// mirroring, and still releases departed versions at each SetRoute; call
// Close once the servers using the proxy have shut down. Closing again
// does nothing.
func (p *Proxy) Close() {
	p.releaseHolds()
	p.workers.close()
	p.sweepHostClients(nil)
	if p.Transport == nil {
		for _, rt := range []http.RoundTripper{p.getShared().transport, p.getShared().h2c} {
			if t, ok := rt.(interface{ CloseIdleConnections() }); ok {
				t.CloseIdleConnections()
			}
		}
	}
}

// workers are the proxy's goroutines: each is started by spawn and
// stopped and waited for by close, so every one of them has an owner.
type workers struct {
	mu     sync.Mutex
	closed atomic.Bool
	stop   chan struct{}      // closed by close; made on first use
	ctx    context.Context    // canceled by close: the parent of work the goroutines do
	cancel context.CancelFunc // cancels ctx
	wg     sync.WaitGroup
}

// init makes the stop channel and context. Callers hold w.mu.
func (w *workers) init() {
	if w.stop == nil {
		w.stop = make(chan struct{})
		w.ctx, w.cancel = context.WithCancel(context.Background())
	}
}

// spawn runs f on a goroutine that close waits for; f returns when stop
// is closed. After close it starts nothing and reports false.
func (w *workers) spawn(f func(stop <-chan struct{})) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return false
	}
	w.init()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		f(w.stop)
	}()
	return true
}

// context returns the context that close cancels.
func (w *workers) context() context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	return w.ctx
}

// close stops the goroutines, cancels the context and waits.
func (w *workers) close() {
	w.mu.Lock()
	if !w.closed.Load() {
		w.closed.Store(true)
		w.init()
		close(w.stop)
		w.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
