package proxy

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// State follows the routes. What the proxy keeps of a version (its
// counters record: counts, windows, latency histogram, user sketches,
// per-instance counts) and of an address (its in-flight count) is made
// when a route first names it, and is referenced by two things: the
// current routing table, and the requests in flight on it (Caddy's
// UsagePool counts the same two kinds of users of an upstream). When
// neither is left, the state is released by sweep, which runs under p.mu
// after every SetRoute and RemoveRoute, and from a janitor goroutine so
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

// sweep releases the records of versions and the in-flight counts of
// addresses that no route names and no request holds, the versions once
// Retain has passed since they were first found so. Callers hold p.mu.
func (p *Proxy) sweep() {
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
		case now.Sub(c.idleSince) >= retain:
			p.counters.Delete(k)
		}
		return true
	})
	p.inflight.Range(func(k, v any) bool {
		if !addrs[k.(string)] && v.(*atomic.Int64).Load() == 0 {
			p.inflight.Delete(k)
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
					p.sweep()
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
