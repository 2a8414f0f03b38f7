package proxy

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Request bodies. The proxy reads a body from the client under an idle
// deadline (BodyTimeout, extended at each read), reads its first
// BodyBuffer bytes before it takes an upstream connection (a body that
// ends within them goes upstream whole, with a Content-Length, as NGINX's
// proxy_request_buffering does; a longer one streams the rest), and
// refuses one longer than MaxBodyBytes with 413. So a client that sends
// headers and then stalls holds a goroutine of the proxy, never a
// connection to an instance. A gRPC call (Content-Type application/grpc)
// is the exception: its body is a full-duplex stream of messages, which
// streams from its first byte with no idle deadline.
//
// A body records its own read error, so that the error handler knows a
// failure the client caused (malformed chunked framing, a truncated body,
// a stall, a client gone) from one of the upstream, whatever error the
// transport reports for it: the client's faults never count against a
// version (see clientFault).

const (
	// DefaultBodyTimeout is the idle deadline of a request body when
	// [Proxy.BodyTimeout] is zero.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultBodyBuffer is how much of a request body is read before an
	// upstream connection is taken, when [Proxy.BodyBuffer] is zero.
	DefaultBodyBuffer = 64 << 10
)

// errBodyTooLarge is a body's read error past MaxBodyBytes.
var errBodyTooLarge = errors.New("request body larger than the proxy's maxBodyBytes")

// clientBody is a request's body as the proxy reads it from the client.
type clientBody struct {
	prefix  []byte // read ahead (buffered), not yet passed on
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration // idle deadline; 0: none
	max     int64         // 0: no limit
	n       int64         // bytes read from body

	// mu is held while body is read, so that fault can wait for a read
	// whose failure cancelled the request (see fault).
	mu  sync.Mutex
	err atomic.Pointer[error] // the first read error other than io.EOF

	// rcMu guards rc against finish: a transport may go on reading the
	// body after the handler returned (HTTP/2 writes a request body in a
	// goroutine of its own), and a ResponseController must not be used
	// then: HTTP/2's dereferences a stream that is gone, and HTTP/1's
	// would set the deadline of the connection's next request.
	rcMu     sync.Mutex
	finished bool
}

// errHandlerDone is a body's read error after its handler returned.
var errHandlerDone = errors.New("request body read after its handler returned")

// finish marks the handler done: later reads fail and leave the
// connection's deadlines alone.
func (b *clientBody) finish() {
	b.rcMu.Lock()
	b.finished = true
	b.rcMu.Unlock()
}

// setReadDeadline sets the client connection's read deadline, unless the
// handler has returned; it reports false then.
func (b *clientBody) setReadDeadline(t time.Time) bool {
	b.rcMu.Lock()
	defer b.rcMu.Unlock()
	if b.finished {
		return false
	}
	// Not supported (a custom ResponseWriter): no deadline.
	_ = b.rc.SetReadDeadline(t)
	return true
}

// hasBody reports whether r may carry a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// newClientBody wraps r's body; the caller puts it in place.
func (p *Proxy) newClientBody(w http.ResponseWriter, r *http.Request) *clientBody {
	b := &clientBody{body: r.Body, rc: http.NewResponseController(w), max: p.MaxBodyBytes}
	if p.BodyTimeout >= 0 {
		b.timeout = cmp.Or(p.BodyTimeout, DefaultBodyTimeout)
	}
	return b
}

func (b *clientBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if e := b.err.Load(); e != nil {
		return 0, *e
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Extended at each read: an idle deadline, not a deadline for the
	// whole body.
	if b.timeout > 0 && !b.setReadDeadline(time.Now().Add(b.timeout)) {
		return 0, errHandlerDone
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case b.max > 0 && b.n > b.max:
		err = errBodyTooLarge
	case err == io.EOF:
		// Done: the connection must not keep a deadline that its next
		// request, or the server's wait for the client to leave, trips.
		b.setReadDeadline(time.Time{})
		return n, err
	case err == nil:
		return n, nil
	}
	b.err.Store(&err)
	return n, err
}

func (b *clientBody) Close() error { return b.body.Close() }

// fault returns the body's read error, nil if it had none. A read error
// on the client's connection cancels the request's context before the
// read returns it, so when ctx is done fault first waits for a read in
// progress to return: the transport's error for the cancelled request
// must not pass for the upstream's fault.
func (b *clientBody) fault(ctx interface{ Err() error }) error {
	if ctx.Err() != nil {
		b.mu.Lock()
		b.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the read
	}
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// readBody prepares r's body before an upstream is picked: it wraps it,
// refuses it when its declared length is over MaxBodyBytes, and reads its
// first BodyBuffer bytes, unless the route streams (h2c, gRPC). It returns
// the request to forward, or false when it answered a fault of the
// client's itself.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request, service string, streams bool) (*http.Request, bool) {
	b := p.newClientBody(w, r)
	if p.MaxBodyBytes > 0 && r.ContentLength > p.MaxBodyBytes {
		p.clientFault(w, r, service, errBodyTooLarge)
		return nil, false
	}
	limit := cmp.Or(p.BodyBuffer, DefaultBodyBuffer)
	if streams {
		// A gRPC body is a full-duplex stream of messages: the client may
		// wait for an answer before it sends more, or stay idle for long.
		limit, b.timeout = -1, 0
	}
	r2 := *r
	r2.Body = b
	if limit < 0 {
		return &r2, true
	}
	// The buffer grows with what arrives, not with what the client
	// declares: a declared length costs a stalled client nothing.
	var buf bytes.Buffer
	n, _ := buf.ReadFrom(io.LimitReader(b, limit+1))
	if err := b.fault(r.Context()); err != nil {
		p.clientFault(w, r, service, err)
		return nil, false
	}
	if n > limit {
		b.prefix = buf.Bytes() // more to come: stream it after the prefix
		return &r2, true
	}
	// The whole body is here: it goes upstream with its length, and the
	// client's Expect: 100-continue has been answered by reading it.
	r2.ContentLength, r2.TransferEncoding = n, nil
	r2.Body = http.NoBody
	if n > 0 {
		r2.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	}
	if _, ok := r.Header["Expect"]; ok {
		r2.Header = r.Header.Clone()
		r2.Header.Del("Expect")
	}
	return &r2, true
}
