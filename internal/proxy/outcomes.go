package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// outcomes is passive health for the controller's readiness probes
// (checks.Outcomes and checks.FailureNotifier): when a request forwarded
// to each address last succeeded and last failed, as the outlier
// detection counts them (a 5xx or a failure to forward). An address's
// record is made by its first request and dropped once it has seen none
// for outcomeTTL.
type outcomes struct {
	addrs     sync.Map // addr → *addrOutcome
	added     atomic.Int64
	onFailure atomic.Pointer[func(addr string)]
}

type addrOutcome struct {
	success, failure atomic.Int64 // UnixNano; 0: never
}

const (
	// outcomeResolution is how precise the times kept are: a busy address
	// writes its time at most this often, and its failures are told to
	// NotifyFailures' function at most this often.
	outcomeResolution = 100 * time.Millisecond
	// outcomeTTL is how long an address's record outlives its last
	// request; every outcomeSweep new addresses, older ones are dropped.
	outcomeTTL   = 10 * time.Minute
	outcomeSweep = 1024
)

// note records a request's outcome at addr.
func (o *outcomes) note(addr string, failed bool, now time.Time) {
	a := o.of(addr, now)
	ns := now.UnixNano()
	if !failed {
		if ns-a.success.Load() >= int64(outcomeResolution) {
			a.success.Store(ns)
		}
		return
	}
	prev := a.failure.Load()
	if ns-prev < int64(outcomeResolution) || !a.failure.CompareAndSwap(prev, ns) {
		return
	}
	if f := o.onFailure.Load(); f != nil {
		(*f)(addr)
	}
}

func (o *outcomes) of(addr string, now time.Time) *addrOutcome {
	if a, ok := o.addrs.Load(addr); ok {
		return a.(*addrOutcome)
	}
	a, loaded := o.addrs.LoadOrStore(addr, new(addrOutcome))
	if !loaded && o.added.Add(1)%outcomeSweep == 0 {
		o.sweep(now)
	}
	return a.(*addrOutcome)
}

// sweep drops the records of addresses idle for outcomeTTL.
func (o *outcomes) sweep(now time.Time) {
	old := now.Add(-outcomeTTL).UnixNano()
	o.addrs.Range(func(k, v any) bool {
		if a := v.(*addrOutcome); max(a.success.Load(), a.failure.Load()) < old {
			o.addrs.CompareAndDelete(k, v)
		}
		return true
	})
}

// LastSuccess returns when a request forwarded to addr last succeeded,
// to outcomeResolution; the zero time if none did (recently).
func (p *Proxy) LastSuccess(addr string) time.Time {
	if a, ok := p.outcomes.addrs.Load(addr); ok {
		if ns := a.(*addrOutcome).success.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
	}
	return time.Time{}
}

// NotifyFailures has f called with an address after a request forwarded
// to it failed, at most every outcomeResolution per address, on the
// request's goroutine (f must be quick). A later call replaces f; nil
// stops the calls.
func (p *Proxy) NotifyFailures(f func(addr string)) {
	if f == nil {
		p.outcomes.onFailure.Store(nil)
		return
	}
	p.outcomes.onFailure.Store(&f)
}
