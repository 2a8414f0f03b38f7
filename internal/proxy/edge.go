package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// This file holds what a route does instead of forwarding: maintenance
// (router.Route.Maintenance: 503 with the operator's page) and a hold
// (router.Route.Hold: requests wait, then go on in order).

// maintain answers a request of a route in maintenance: 503 with the
// operator's page or message and Retry-After. Nothing is forwarded or
// counted against a version.
func (p *Proxy) maintain(w http.ResponseWriter, rt *route) {
	m := rt.maintenance
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if m.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(m.RetryAfter))
	}
	body := m.Message
	if m.Page != "" {
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = m.Page
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		if body == "" {
			body = fmt.Sprintf("%s is down for maintenance", rt.service)
		}
		body += "\n"
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(body))
}

// hold keeps a route's requests waiting until it is released: by the
// route's next version without it, or when its time is up. Waiters are
// released in their order of arrival.
type hold struct {
	until time.Time

	mu       sync.Mutex
	timer    *time.Timer
	released bool
	queue    []chan struct{}
}

// newHold returns a hold released at until (now being the proxy's clock).
func newHold(until, now time.Time) *hold {
	h := &hold{until: until}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timer = time.AfterFunc(until.Sub(now), h.release)
	return h
}

// active reports whether requests arriving now are held.
func (h *hold) active() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.released
}

// wait holds the caller until the hold is released (true) or ctx ends
// (false).
func (h *hold) wait(ctx context.Context) bool {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	h.queue = append(h.queue, ch)
	h.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// held counts the requests waiting.
func (h *hold) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return 0
	}
	return len(h.queue)
}

// release lets every waiter go, first come first released. Idempotent.
func (h *hold) release() {
	h.mu.Lock()
	h.timer.Stop()
	q := h.queue
	h.queue, h.released = nil, true
	h.mu.Unlock()
	for _, ch := range q {
		close(ch)
	}
}

// compileEdge sets rt's maintenance and hold from r.
func (p *Proxy) compileEdge(rt *route, r router.Route) {
	if m := r.Maintenance; m != nil {
		mc := *m
		rt.maintenance = &mc
	}
	if h := r.Hold; h != nil && p.now().Before(h.Until) {
		rt.hold = newHold(h.Until, p.now())
	}
}

// carryHold keeps the service's hold across a route change that keeps it
// (same Until), so that requests already waiting stay in line, and
// returns the release of the old one when the change lifts it, to be
// called once rt is swapped in, so that the waiters go to the new route.
// Callers hold p.mu.
func (p *Proxy) carryHold(service string, rt *route) (release func()) {
	old := p.load().route(service)
	if old == nil || old.hold == nil {
		return func() {}
	}
	if rt != nil && rt.hold != nil && rt.hold.until.Equal(old.hold.until) {
		rt.hold.release()
		rt.hold = old.hold
		return func() {}
	}
	return old.hold.release
}

// releaseHolds lets every held request go (the proxy is closing).
func (p *Proxy) releaseHolds() {
	if t := p.load(); t != nil {
		for _, rt := range t.services {
			if rt.hold != nil {
				rt.hold.release()
			}
		}
	}
}

// Held returns how many requests of the service wait on its hold.
func (p *Proxy) Held(service string) int {
	if rt := p.load().route(service); rt != nil && rt.hold != nil {
		return rt.hold.held()
	}
	return 0
}

// route returns the service's route, or nil.
func (t *table) route(service string) *route {
	if t == nil {
		return nil
	}
	return t.services[service]
}
