package loadgen

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// SyntheticHeader is the header, with value "1", that marks every request
// the generator sends, so that applications can tell synthetic requests
// from their users'.
const SyntheticHeader = "X-Bluejay-Synthetic"

// Defaults of a Generator's fields.
const (
	// DefaultPath is the Path used when Generator.Path is empty.
	DefaultPath = "/"
	// DefaultMethod is the Method used when Generator.Method is empty.
	DefaultMethod = http.MethodGet
	// DefaultTimeout is the Timeout used when Generator.Timeout is zero.
	DefaultTimeout = 5 * time.Second
)

const (
	// tickMin is the shortest interval of the pacing ticker: above 100
	// rps each tick sends several requests.
	tickMin = 10 * time.Millisecond
	// maxLag is how far behind its schedule the pacing loop catches up
	// after a stall; older sends are skipped, not burst.
	maxLag = 500 * time.Millisecond
	// maxDrain is how much of a response body is read, so that its
	// connection can be reused; a longer body closes the connection.
	maxDrain = 1 << 20
)

// Target is a version to send synthetic load to.
type Target struct {
	// Version names the version: Sample and Sent take it. Targets of one
	// version share its measurements.
	Version string
	// Addrs returns the addresses (host:port) of the version's instances.
	// It is called for every request, from Run's goroutine, so instances
	// that come and go are followed; the requests go round-robin over
	// them. When it returns none, the target's turn is dropped (counted
	// in Dropped). It must not be nil.
	Addrs func() []string
}

// Generator sends synthetic HTTP load to versions' instances and measures
// it. Set its fields before Run and leave them unchanged while it runs.
// The zero value sends nothing (RPS is 0). Run, Sample, Sent and Dropped
// are safe for concurrent use.
type Generator struct {
	// RPS is the total rate of requests per second, split evenly between
	// the targets. Zero, negative or infinite sends nothing.
	RPS float64
	// Path is the request path, with any query. Empty means DefaultPath
	// ("/").
	Path string
	// Method is the request method. Empty means DefaultMethod (GET).
	Method string
	// Headers are added to every request; "Host" sets the request's host.
	// SyntheticHeader is always set and cannot be overridden. Nil adds
	// none.
	Headers map[string]string
	// Timeout bounds each request, from sending to reading its response;
	// a request that takes longer fails. Zero means DefaultTimeout (5s).
	Timeout time.Duration
	// MaxInFlight is the most requests in flight to one target; a send
	// beyond it is dropped (counted in Dropped). Zero means twice the
	// target's share of RPS times Timeout, at least 1.
	MaxInFlight int
	// Client sends the requests. Nil means a client of Run's own, with
	// keep-alives, no HTTP proxy and no redirects followed (a redirect is
	// measured as the response it is), whose idle connections are closed
	// when Run returns.
	Client *http.Client
	// Now timestamps finished requests, which Sample windows select
	// from. Nil means time.Now. Pacing and latencies use the real clock
	// whatever Now is.
	Now func() time.Time

	mu       sync.Mutex
	versions map[string]*version
	dropped  atomic.Int64
}

// version is one version's synthetic measurements.
type version struct {
	sent   atomic.Int64
	series *series
}

// sender is one target while Run sends to it.
type sender struct {
	target Target
	v      *version
	next   uint64        // round-robin position in the target's addrs
	slots  chan struct{} // one per request in flight
}

// Run sends requests to the targets at RPS in total until ctx is done,
// then cancels those in flight and returns once they have ended. It
// returns at once when RPS is not positive and finite or there are no
// targets. Measurements accumulate across runs: a Generator is meant for
// one analysis.
//
// A request fails when it cannot be sent, when it times out and when the
// instance answers 5xx. Requests cut short by ctx are not recorded.
func (g *Generator) Run(ctx context.Context, targets ...Target) {
	if !(g.RPS > 0) || math.IsInf(g.RPS, 1) || len(targets) == 0 {
		return
	}
	share := g.RPS / float64(len(targets))
	limit := g.inFlightLimit(share)
	client := g.Client
	if client == nil {
		client = newClient(limit)
		defer client.CloseIdleConnections()
	}
	senders := make([]*sender, len(targets))
	for i, t := range targets {
		senders[i] = &sender{target: t, v: g.version(t.Version), slots: make(chan struct{}, limit)}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	pace := newSchedule(g.RPS)
	tick := time.NewTicker(pace.interval)
	defer tick.Stop()
	start := time.Now()
	for n := int64(0); ; {
		from, to := pace.next(n, time.Since(start))
		from -= (from - n) % int64(len(senders)) // skip whole rounds: the split stays even
		g.dropped.Add(from - n)
		for n = from; n < to && ctx.Err() == nil; n++ {
			g.send(ctx, client, senders[n%int64(len(senders))], &wg)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// send starts one request to s's next address, unless s has none or
// its requests in flight are at the limit.
func (g *Generator) send(ctx context.Context, client *http.Client, s *sender, wg *sync.WaitGroup) {
	addrs := s.target.Addrs()
	if len(addrs) == 0 {
		g.dropped.Add(1)
		return
	}
	addr := addrs[s.next%uint64(len(addrs))]
	s.next++
	req, err := g.newRequest(addr)
	if err != nil {
		g.dropped.Add(1)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		g.dropped.Add(1)
		return
	}
	s.v.sent.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-s.slots }()
		g.do(ctx, client, req, s.v)
	}()
}

// do sends req and records how it went, unless ctx ended it.
func (g *Generator) do(ctx context.Context, client *http.Client, req *http.Request, v *version) {
	rctx, cancel := context.WithTimeout(ctx, g.timeout())
	defer cancel()
	start := time.Now()
	resp, err := client.Do(req.WithContext(rctx))
	latency := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return // the run ended, not the version's failure
		}
		v.series.record(g.now(), latency, true)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	v.series.record(g.now(), latency, resp.StatusCode >= 500)
}

// newRequest builds a request to addr, without a context: do adds it.
func (g *Generator) newRequest(addr string) (*http.Request, error) {
	path := g.Path
	if path == "" {
		path = DefaultPath
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := g.Method
	if method == "" {
		method = DefaultMethod
	}
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range g.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	req.Header.Set(SyntheticHeader, "1")
	return req, nil
}

// Sample returns the version's synthetic measurements of the requests that
// finished in [from, to), by Now: see the package doc for the bucket
// granularity. Latency is the time from sending a request to its response
// headers, or to its failure. A version never sent to, and an empty
// window, give a zero Sample.
func (g *Generator) Sample(version string, from, to time.Time) metrics.Sample {
	v := g.lookup(version)
	if v == nil {
		return metrics.Sample{}
	}
	return v.series.sample(from, to)
}

// Sent returns how many requests were sent to the version: every request
// started, including those still in flight and those cut short when a
// run ended. 0 for a version never sent to.
func (g *Generator) Sent(version string) int64 {
	v := g.lookup(version)
	if v == nil {
		return 0
	}
	return v.sent.Load()
}

// Dropped returns how many scheduled sends were not made, over all
// targets: the target's requests in flight were at MaxInFlight, it had no
// address, its request could not be built, or Run's loop fell more than
// half a second behind its schedule (a stalled machine) and skipped them.
func (g *Generator) Dropped() int64 { return g.dropped.Load() }

func (g *Generator) lookup(name string) *version {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.versions[name]
}

// version returns the named version's measurements, creating them.
func (g *Generator) version(name string) *version {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.versions == nil {
		g.versions = map[string]*version{}
	}
	v := g.versions[name]
	if v == nil {
		v = &version{series: newSeries(rand.Uint64(), rand.Uint64())}
		g.versions[name] = v
	}
	return v
}

func (g *Generator) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return DefaultTimeout
}

func (g *Generator) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// inFlightLimit is the most requests in flight to a target sent rate
// requests per second: at twice the rate times the timeout, requests that
// all run into their timeout fill only half of it.
func (g *Generator) inFlightLimit(rate float64) int {
	if g.MaxInFlight > 0 {
		return g.MaxInFlight
	}
	return max(1, int(math.Ceil(2*rate*g.timeout().Seconds())))
}

// newClient returns the client Run uses when Generator.Client is nil.
func newClient(idlePerHost int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			// No Proxy: synthetic requests go to the instance directly.
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: idlePerHost,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
