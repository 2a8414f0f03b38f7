package proxy

import (
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// DefaultTimeout is the upstream response-header timeout used when
// [Proxy.Timeout] is zero.
const DefaultTimeout = 30 * time.Second

// Proxy is an HTTP reverse proxy that splits each service's traffic among
// its versions. Its zero value is a proxy with no routes, answering 404.
//
// The exported fields configure it; they must not be changed after the
// first call to SetRoute or ServeHTTP. A Proxy must not be copied after
// first use. Its owner calls Close when done with it, which stops the
// goroutines that SetRoute and mirroring start.
type Proxy struct {
	// Transport carries requests to the upstream instances. nil means a
	// transport shared by all of this proxy's routes, tuned for a few busy
	// upstreams: keep-alives, 256 idle connections per host, a 2s dial
	// timeout, Timeout as the response-header timeout, and no
	// environment proxy; h2c and gRPC routes get a second one like it that
	// speaks HTTP/2 without TLS. A custom Transport carries every route's
	// requests.
	Transport http.RoundTripper

	// Timeout is how long the proxy waits for a connection to an
	// upstream (at most 256 are open per instance), and then for its
	// response headers, before it answers 504. Zero means DefaultTimeout
	// (30s). It applies to the default transport only: with a custom
	// Transport, set that transport's own timeouts.
	Timeout time.Duration

	// VersionHeader names a response header that carries the label of the
	// version that served the request, including on the proxy's own 502
	// and 504 answers for a version that failed. A request header of that
	// name is always removed before forwarding, so clients cannot pass it
	// to upstreams. "" means no such header.
	VersionHeader string

	// Rand returns uniformly distributed random numbers for the weighted
	// pick, and the seed of each version's latency reservoirs, drawn once
	// when SetRoute first routes the version. It must be safe for
	// concurrent use and must not block: SetRoute waits for picks in
	// progress. nil means math/rand/v2.
	Rand func() uint64

	// Now returns the current time, which places finished requests in
	// the windows of Window and measures their latency. It must be safe
	// for concurrent use. nil means time.Now.
	Now func() time.Time

	// WindowBucket is the width of the time buckets Window is measured
	// in: its granularity. Zero means DefaultWindowBucket (1s).
	WindowBucket time.Duration

	// WindowBuckets is how many buckets each version keeps, so Window
	// sees WindowBuckets × WindowBucket into the past. A bucket takes
	// about 24 KiB once it has taken a request, and keeps it while the
	// version is kept (see Retain): some 3 MiB for a version busy for two
	// minutes with the defaults. Zero means DefaultWindowBuckets (120:
	// two minutes).
	WindowBuckets int

	// Retain is how long the proxy keeps what it knows of a version —
	// Counts, Window, Stats, its users — once the version has left its
	// service's route and its last request has finished: the time the
	// controller and scrapers have to read its final numbers. After
	// that (within two sweeps, a sweep being every quarter of Retain,
	// kept within 1s to 1m, and at each route change) the version reads
	// as never routed, and if routed again it counts afresh. Zero means
	// DefaultRetain (10 minutes).
	Retain time.Duration

	// TrustedProxies are the peers (load balancers in front of bluejay)
	// whose X-Forwarded-For, -Proto and -Host are kept, the peer's
	// address appended; from any other peer they are replaced. Their
	// first X-Forwarded-For address also names the user for the blast
	// radius. Nil trusts no one.
	TrustedProxies []netip.Prefix

	// UserKey names the user behind a request for the blast radius's
	// distinct users (a sticky key, a user id header). Nil means the
	// client's address. It must be cheap and safe for concurrent use.
	UserKey func(r *http.Request) string
	// OnError is called with the service and version each time a request
	// counts as an error of that version (see Counts), once the error is
	// counted in Counts and Window: it lets a controller judge failures as
	// they arrive rather than at its next reading. It runs on the
	// request's goroutine before the answer is written, so it must return
	// quickly and never block (a non-blocking channel send, an atomic
	// add). It must be safe for concurrent use. nil means none.
	OnError func(service, version string)

	// BodyTimeout is how long the proxy waits for more of a request's
	// body: an idle deadline, extended at each read. A client that
	// stalls longer gets 408, as the client's fault (see ClientErrors).
	// A gRPC call's body (a full-duplex stream) has none. Zero means
	// DefaultBodyTimeout (30s); negative, no deadline.
	BodyTimeout time.Duration

	// BodyBuffer is how many bytes of a request's body the proxy reads
	// before it takes a connection to an upstream: a body that ends
	// within them is sent whole, with its length; a longer one streams
	// the rest. A client that stalls its body thus holds no upstream
	// connection until it sent that much. A gRPC call's body always
	// streams. Zero means DefaultBodyBuffer (64 KiB); negative, none (the
	// body streams from its first byte).
	BodyBuffer int64

	// MaxBodyBytes is the longest request body the proxy forwards; a
	// longer one gets 413, as the client's fault. Zero means no limit.
	MaxBodyBytes int64

	// Upgrades are the protocols (Upgrade header tokens, such as
	// "websocket") to which a request may switch its connection; an
	// Upgrade to another is removed, and the request forwarded as a plain
	// one. h2c never is, whatever the list. nil means DefaultUpgrades
	// (websocket); an empty list, none.
	Upgrades []string

	// Logger receives every failed request with the keys service,
	// version, addr, status and err: upstream failures and 503 at warn,
	// 499 at info, 404 and the client's faults (with their reason) at
	// debug. nil means slog.Default().
	Logger *slog.Logger

	mu    sync.Mutex // serializes writers of table
	table atomic.Pointer[table]

	sharedOnce sync.Once
	shared     shared

	mirrorOnce sync.Once
	mirrors    chan mirrorCopy // copies waiting for a worker

	janitorOnce sync.Once
	workers     workers // the proxy's goroutines; see Close

	// What the proxy keeps per version and per address, made and
	// released with the routes (lifecycle.go).
	counters    sync.Map  // counterKey → *counters
	inflight    sync.Map  // addr → *atomic.Int64
	hostClients sync.Map  // addr → *fasthttp.HostClient, the fast path's (fast.go)
	life        lifecycle // what sweep looks at; guarded by mu

	clientErrors clientErrors
	outcomes     outcomes // passive health for the probes (outcomes.go)
}

// SetRoute adds the route for r.Service or replaces it atomically: a
// request sees either the old split or the new one, never a mix. When it
// returns, no new request is picked from the old split; requests already
// forwarded finish where they are (see WaitDrained). The proxy keeps a copy
// of r.
func (p *Proxy) SetRoute(r router.Route) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rt := p.compile(r)
	release := p.carryHold(r.Service, rt)
	p.routed(p.load().route(r.Service), rt)
	p.swap(p.load().replacing(rt))
	release()
	p.sweep()
	p.startJanitor()
}

// RemoveRoute removes the service's route, if any. Its requests then get
// 404, or go to a less specific route that matches them.
func (p *Proxy) RemoveRoute(service string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	release := p.carryHold(service, nil)
	p.routed(p.load().route(service), nil)
	p.swap(p.load().without(service))
	release()
	p.sweep()
}

// Routes returns a copy of the routing table, sorted by service.
func (p *Proxy) Routes() []router.Route {
	return p.load().specs()
}

// ServeHTTP forwards r to an instance of the version picked for the
// matching route. The path and the Host header go upstream as the client
// sent them; the forwarding headers are set afresh (see the package doc).
// A body is read ahead before the pick (see BodyBuffer).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.scrub(r)
	if hasBody(r) {
		if service, streams := p.serviceOf(r); service != "" {
			var ok bool
			if r, ok = p.readBody(w, r, service, streams); !ok {
				return
			}
			if b, ok := r.Body.(*clientBody); ok {
				defer b.finish()
			}
		}
	}
	v := httpView(w, r)
	rt, u := p.pick(&v)
	for rt != nil && u == nil && rt.hold.active() {
		if !rt.hold.wait(r.Context()) {
			p.fail(w, r, rt.service, nil, r.Context().Err())
			return
		}
		rt, u = p.pick(&v)
	}
	switch {
	case rt == nil:
		p.fail(w, r, "", nil, errNoRoute)
	case u == nil && rt.maintenance != nil:
		p.maintain(w, rt)
	case u == nil:
		p.fail(w, r, rt.service, nil, errNoInstance)
	default:
		if stable := rt.shield(&v, u); stable != nil {
			r = r.WithContext(withShield(r.Context(), stable))
		}
		p.mirror(rt, r, u)
		u.serve(w, r)
	}
}

// pick matches r and picks an upstream for it; u is nil when the route has
// no eligible backend, is in maintenance or holds its requests, rt is nil
// when no route matches. The upstream's
// in-flight count is already raised: the caller's u.serve lowers it.
//
// The table's readers count is held from before the table is known to be
// current until the in-flight count is raised, so that swap can wait for
// every pick from the table it replaced: without that, a request could
// pick an address that left the split, and WaitDrained see it idle, just
// before the request is counted there.
func (p *Proxy) pick(v *view) (*route, *upstream) {
	t := p.acquire()
	if t == nil {
		return nil, nil
	}
	defer t.readers.Add(-1)
	rt := t.match(v.host, v.path)
	if rt == nil || rt.maintenance != nil || rt.hold.active() {
		return rt, nil
	}
	u := p.choose(v, rt)
	if u != nil {
		u.begin()
	}
	return rt, u
}

// choose picks the upstream for r: by a matching rule, else by the
// sticky key's bucket, else at random by weight.
func (p *Proxy) choose(v *view, rt *route) *upstream {
	if len(rt.rules) > 0 {
		if u := rt.ruled(v); u != nil {
			return u
		}
	}
	if rt.sticky != nil {
		if key := p.stickyKey(v, rt); key != "" {
			return rt.pickBucket(bucketOf(rt.service, key))
		}
	}
	return rt.pick(p.random())
}

// acquire returns the current table with its readers count raised, or nil
// when the proxy has no table yet.
func (p *Proxy) acquire() *table {
	for {
		t := p.table.Load()
		if t == nil {
			return nil
		}
		t.readers.Add(1)
		if p.table.Load() == t {
			return t
		}
		t.readers.Add(-1) // swapped meanwhile: use the new one
	}
}

// swap installs t and waits until no request is still picking from the
// table it replaced. Picks take no lock and never block, so the wait is
// short. Callers hold p.mu.
func (p *Proxy) swap(t *table) {
	old := p.table.Swap(t)
	for old != nil && old.readers.Load() > 0 {
		runtime.Gosched()
	}
}

// load returns the current table; nil is a valid, empty table.
func (p *Proxy) load() *table { return p.table.Load() }

// trusted reports whether the peer at remoteAddr (host:port) is a
// trusted proxy.
func (p *Proxy) trusted(remoteAddr string) bool {
	if len(p.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return p.trustedAddr(ap.Addr().Unmap())
}

// trustedAddr reports whether the peer at addr (unmapped) is a trusted
// proxy.
func (p *Proxy) trustedAddr(addr netip.Addr) bool {
	for _, pf := range p.TrustedProxies {
		if pf.Contains(addr) {
			return true
		}
	}
	return false
}

func (p *Proxy) random() uint64 {
	if p.Rand != nil {
		return p.Rand()
	}
	return rand.Uint64()
}

func (p *Proxy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Proxy) windowBucket() time.Duration {
	if p.WindowBucket > 0 {
		return p.WindowBucket
	}
	return DefaultWindowBucket
}

func (p *Proxy) windowBuckets() int {
	if p.WindowBuckets > 0 {
		return p.WindowBuckets
	}
	return DefaultWindowBuckets
}

func (p *Proxy) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// shared is what all of a proxy's upstreams use, made on first use.
type shared struct {
	transport http.RoundTripper
	h2c       http.RoundTripper // for h2c and gRPC routes (grpc.go)
	errorLog  *log.Logger       // for ReverseProxy's own messages
	buffers   bufferPool        // ReverseProxy's copy buffers
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers instead of a new
// one per request, which was most of the bytes the proxy allocated and a
// fifth of its CPU in garbage collection (bench/proxy: +43% req/s).
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.pool.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// getShared returns the proxy's shared parts, making them on first use.
func (p *Proxy) getShared() *shared {
	p.sharedOnce.Do(func() {
		p.shared.transport = p.Transport
		p.shared.h2c = p.Transport
		if p.shared.transport == nil {
			p.shared.transport = &connWait{next: newTransport(p.timeout()), wait: p.timeout(), p: p}
			p.shared.h2c = newH2CTransport(p.timeout())
		}
		p.shared.errorLog = slog.NewLogLogger(p.logger().Handler(), slog.LevelWarn)
	})
	return &p.shared
}

func (p *Proxy) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// newTransport returns the default transport. It ignores HTTP_PROXY and
// friends: upstreams are local instances, never reached through a proxy.
func newTransport(headerTimeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: connsPerHost,
		// As many connections per instance as are kept idle: beyond that,
		// requests wait for a connection rather than open one that would
		// be closed as soon as it is idle (bench/proxy: at 1000 clients,
		// +25% req/s, a third off p99 and RSS).
		MaxConnsPerHost:       connsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
