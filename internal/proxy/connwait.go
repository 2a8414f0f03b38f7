package proxy

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"time"
)

// connWait bounds how long a request waits for a connection to its
// upstream. The default transport opens at most maxConnsPerHost
// connections per instance and queues the requests beyond them, for as
// long as it takes; connWait gives up after wait, an error that reads as
// a timeout (504).
//
// Bounding the wait costs a timer, a trace and a context per request, so
// it is only paid when a wait is possible: when the instance has nearly
// maxConnsPerHost requests in flight. A connection is held only while its
// request is in flight (ReverseProxy closes the response body before
// serve ends) or by a mirror worker, so below that a connection is idle
// or may be dialled at once.
type connWait struct {
	next http.RoundTripper
	wait time.Duration
	p    *Proxy // whose in-flight counts tell when a wait is possible
}

// connsPerHost is how many connections the default transport opens to
// one instance.
const connsPerHost = 256

// errConnWait is the error of a request that waited too long for a
// connection.
type errConnWait struct{}

func (errConnWait) Error() string   { return "timed out waiting for a connection to the upstream" }
func (errConnWait) Timeout() bool   { return true }
func (errConnWait) Temporary() bool { return true }

// CloseIdleConnections closes the idle connections of the transport
// below, for Proxy.Close.
func (c *connWait) CloseIdleConnections() {
	if t, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

func (c *connWait) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.p.InFlight(r.URL.Host) < connsPerHost-mirrorWorkers {
		return c.next.RoundTrip(r)
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	timer := time.AfterFunc(c.wait, func() { cancel(errConnWait{}) })
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { timer.Stop() }}
	res, err := c.next.RoundTrip(r.WithContext(httptrace.WithClientTrace(ctx, trace)))
	timer.Stop() // GotConn stopped it, unless the transport failed first
	if err != nil && context.Cause(ctx) == (errConnWait{}) && r.Context().Err() == nil {
		return nil, errConnWait{}
	}
	return res, err
}
