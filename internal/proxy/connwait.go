package proxy

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"time"
)

// connWait bounds how long a request waits for a connection to its
// upstream. The default transport opens at most MaxConnsPerHost
// connections per instance and queues the requests beyond them, for as
// long as it takes; connWait gives up after wait, an error that reads as
// a timeout (504).
type connWait struct {
	next http.RoundTripper
	wait time.Duration
}

// errConnWait is the error of a request that waited too long for a
// connection.
type errConnWait struct{}

func (errConnWait) Error() string   { return "timed out waiting for a connection to the upstream" }
func (errConnWait) Timeout() bool   { return true }
func (errConnWait) Temporary() bool { return true }

func (c *connWait) RoundTrip(r *http.Request) (*http.Response, error) {
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
