package proxy

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Mirroring copies a share of a route's requests to a version and
// discards the copies' answers. The user's request never waits for a
// copy: copies go through a bounded queue to a few workers, and a copy
// that finds the queue full is dropped and counted (mirrorDrops), never
// blocking. Only requests without a body are copied, since the user's
// request reads its own body. Copies are not counted in the version's
// requests, windows or blast radius: no user sees them. The workers are
// the proxy's goroutines (see Close); after Close nothing is copied.

const (
	mirrorQueue   = 256
	mirrorWorkers = 4
	// mirrorTimeout bounds one copy, so that a hung version cannot hold
	// the workers.
	mirrorTimeout = 10 * time.Second
	// MirrorHeader marks a copy, so that the version can tell it apart.
	MirrorHeader = "X-Bluejay-Mirror"
)

type mirrorCopy struct {
	req    *http.Request
	cancel context.CancelFunc
}

// mirror queues a copy of r for an instance of b, when it is a request
// the route copies.
func (p *Proxy) mirror(rt *route, r *http.Request, picked *upstream) {
	b := rt.mirror
	if b == nil || picked.backend == b || r.ContentLength != 0 || (r.Body != nil && r.Body != http.NoBody) ||
		p.random()%100 >= uint64(rt.mirrorPercent) {
		return
	}
	if p.workers.closed.Load() {
		return
	}
	u := b.nextUpstream()
	ctx, cancel := context.WithTimeout(p.workers.context(), mirrorTimeout)
	c := r.Clone(ctx)
	c.RequestURI, c.Body = "", nil
	c.URL.Scheme, c.URL.Host = "http", u.addr
	c.Header.Set(MirrorHeader, "1")
	p.startMirrors()
	select {
	case p.mirrors <- mirrorCopy{req: c, cancel: cancel}:
	default:
		cancel()
		u.counts.mirrorDrops.Add(1)
	}
}

// startMirrors starts the workers that send the copies, once. They are
// the proxy's: Close stops them.
func (p *Proxy) startMirrors() {
	p.mirrorOnce.Do(func() {
		p.mirrors = make(chan mirrorCopy, mirrorQueue)
		for range mirrorWorkers {
			p.workers.spawn(p.sendMirrors)
		}
	})
}

// sendMirrors sends queued copies until stop is closed. The copies'
// contexts end with it, so a copy being sent then returns at once.
func (p *Proxy) sendMirrors(stop <-chan struct{}) {
	t := p.getShared().transport
	for {
		select {
		case <-stop:
			return
		case c := <-p.mirrors:
			if resp, err := t.RoundTrip(c.req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			c.cancel()
		}
	}
}
