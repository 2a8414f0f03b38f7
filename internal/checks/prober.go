package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Prober sends HTTP/1.1 health probes over keep-alive connections that it
// keeps itself: an idle connection is a net.Conn in a list, with no
// goroutine and no buffer of its own. A probe borrows a pooled 4 KiB
// reader for its response and drains the body into a fixed buffer.
// (net/http's Transport keeps a readLoop and a writeLoop goroutine and two
// 4 KiB buffers per connection, idle or not: at 4,000 instances, most of a
// controller's memory, issue 22. fasthttp's HostClient runs a cleaner
// goroutine per host — here per instance — and cannot cancel a request
// under way, which Forget and Run's end need.)
//
// A Prober does what Probe does with a client that does not follow
// redirects: GET http://addr+path, any 2xx passes. Its methods are safe
// for concurrent use; the zero value is not usable: use NewProber.
type Prober struct {
	opts   ProberOptions
	dialer net.Dialer

	mu     sync.Mutex
	idle   map[string][]idleConn // by address, oldest first
	nidle  int
	sweep  *time.Timer // closes expired idle connections while some are kept
	closed bool
}

// ProberOptions are a Prober's settings.
type ProberOptions struct {
	// IdleTimeout is how long an idle connection is kept. Zero means 30s:
	// above a probe interval stretched by passive health (5 × 1s).
	IdleTimeout time.Duration
	// MaxIdlePerAddr bounds the idle connections kept to one address.
	// Zero means 64: several instances may share an address (a
	// Kubernetes Service's), and their probes run at once, up to the
	// scheduler's workers.
	MaxIdlePerAddr int
	// MaxBody is how much of a response body is read; a longer body's
	// connection is closed rather than kept (the status still decides).
	// Zero means 64 KiB.
	MaxBody int64
	// MaxHeader bounds a response's status line and header. Zero means
	// 64 KiB.
	MaxHeader int64
}

type idleConn struct {
	c     net.Conn
	since time.Time
}

// NewProber returns a Prober with opts (zero fields take their defaults).
func NewProber(opts ProberOptions) *Prober {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	if opts.MaxIdlePerAddr <= 0 {
		opts.MaxIdlePerAddr = 64
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	if opts.MaxHeader <= 0 {
		opts.MaxHeader = 64 << 10
	}
	return &Prober{opts: opts, idle: make(map[string][]idleConn)}
}

// readers holds the 4 KiB readers of the probes under way.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// Probe sends GET http://addr+path (path "" means "/") and passes on any
// 2xx status; redirects are not followed. The error says the status, or
// the connection's error; it wraps ctx's error when ctx ended the probe.
func (p *Prober) Probe(ctx context.Context, addr, path string) error {
	if path == "" {
		path = "/"
	}
	target := "http://" + addr + path
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		if err == nil {
			err = errors.New("no host")
		}
		return fmt.Errorf("probe %s: %w", target, err)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"
	status, err := p.roundTrip(ctx, u.Host, req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // the deadline or a cancel closed the connection
		}
		return fmt.Errorf("GET %s: %w", target, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("GET %s: status %d", target, status)
	}
	return nil
}

// roundTrip sends req to addr on an idle connection, or a new one, and
// returns the response's status. A kept connection that the server closed
// meanwhile (the error comes before any byte of a response) is replaced
// by a new one, once.
func (p *Prober) roundTrip(ctx context.Context, addr, req string) (int, error) {
	if c := p.get(addr); c != nil {
		status, stale, err := p.exchange(ctx, c, addr, req)
		if err == nil || !stale || ctx.Err() != nil {
			return status, err
		}
	}
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	status, _, err := p.exchange(ctx, c, addr, req)
	return status, err
}

// exchange writes req on c and reads the response, then keeps c idle if
// it may be reused or closes it. stale says the error came before any
// byte of a response: a kept connection the server had closed.
func (p *Prober) exchange(ctx context.Context, c net.Conn, addr, req string) (status int, stale bool, err error) {
	// ctx's end, its deadline too, closes the exchange: then the error is
	// always ctx's (a deadline of the connection's own could fire first).
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	lr := &io.LimitedReader{R: c, N: p.opts.MaxHeader}
	br := readers.Get().(*bufio.Reader)
	br.Reset(lr)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	keep := false
	defer func() {
		if stopped := stop(); keep && stopped {
			c.SetDeadline(time.Time{})
			p.put(addr, c)
		} else {
			c.Close()
		}
	}()

	if _, err := io.WriteString(c, req); err != nil {
		return 0, isStale(err), err
	}
	resp, err := readResponse(br)
	if err != nil {
		if lr.N == 0 {
			return 0, false, fmt.Errorf("response header over %d bytes", p.opts.MaxHeader)
		}
		return 0, lr.N == p.opts.MaxHeader && isStale(err), err
	}
	lr.N += p.opts.MaxBody + 1 // the body may take MaxBody from here
	complete := drainBody(resp.Body, p.opts.MaxBody)
	keep = complete && !resp.Close && br.Buffered() == 0
	return resp.StatusCode, false, nil
}

// readResponse reads a response, skipping informational (1xx) ones as
// net/http does.
func readResponse(br *bufio.Reader) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// isStale says whether err is what a kept connection that the server
// closed gives before any byte of a response.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// get returns an idle connection to addr, the newest, or nil.
func (p *Prober) get(addr string) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	for n := len(list); n > 0; n = len(list) {
		ic := list[n-1]
		list[n-1] = idleConn{}
		list = list[:n-1]
		p.nidle--
		if time.Since(ic.since) < p.opts.IdleTimeout {
			p.setIdle(addr, list)
			return ic.c
		}
		ic.c.Close()
	}
	p.setIdle(addr, list)
	return nil
}

// put keeps c idle, or closes it when addr has MaxIdlePerAddr already or
// the Prober is closed.
func (p *Prober) put(addr string, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	if p.closed || len(list) >= p.opts.MaxIdlePerAddr {
		c.Close()
		return
	}
	p.idle[addr] = append(list, idleConn{c: c, since: time.Now()})
	p.nidle++
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.opts.IdleTimeout, p.expire)
	}
}

func (p *Prober) setIdle(addr string, list []idleConn) {
	if len(list) == 0 {
		delete(p.idle, addr)
	} else {
		p.idle[addr] = list
	}
}

// expire closes the idle connections kept longer than IdleTimeout (those
// of instances no longer probed) and sets the next sweep while some are
// left.
func (p *Prober) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for addr, list := range p.idle {
		i := 0
		for i < len(list) && now.Sub(list[i].since) >= p.opts.IdleTimeout {
			list[i].c.Close()
			i++
		}
		p.nidle -= i
		kept := copy(list, list[i:])
		clear(list[kept:]) // no closed connection stays reachable
		p.setIdle(addr, list[:kept])
	}
	p.sweep = nil
	if p.nidle > 0 && !p.closed {
		p.sweep = time.AfterFunc(p.opts.IdleTimeout, p.expire)
	}
}

// IdleConns returns how many idle connections the Prober keeps.
func (p *Prober) IdleConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nidle
}

// Close closes the idle connections; those of probes under way are
// closed when they end. Probes after Close still work but keep nothing.
func (p *Prober) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, list := range p.idle {
		for _, ic := range list {
			ic.c.Close()
		}
		delete(p.idle, addr)
	}
	p.nidle = 0
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
}

// drainBody reads body to its end, up to max bytes, into a small fixed
// buffer, and closes it. It reports whether the end was reached: only
// then may the connection carry another request.
func drainBody(body io.ReadCloser, max int64) bool {
	defer body.Close()
	var buf [512]byte
	for left := max + 1; left > 0; {
		n, err := body.Read(buf[:min(int64(len(buf)), left)])
		left -= int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
