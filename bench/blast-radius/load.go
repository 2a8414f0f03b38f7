package main

import (
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// response is what one user request got.
type response struct {
	sent, done time.Duration // since the load started
	status     int           // 0: transport error
	version    string        // the X-Bluejay-Version header
}

func (r response) failed() bool { return r.status == 0 || r.status >= 500 }

// loadGen sends GET requests at a fixed rate, open loop: request i is due
// at start + i/rps whatever the answers so far, and is handed to one of
// many workers, each with its own keep-alive connection. When every
// worker is busy a due request is not sent but counted as missed, so the
// achieved rate is measured, not assumed.
type loadGen struct {
	url     string
	rps     int
	start   time.Time
	client  *http.Client
	tickets chan time.Duration // the due time of each request
	missed  atomic.Int64
	wg      sync.WaitGroup
	cancel  context.CancelFunc

	mu    sync.Mutex
	resps []response // in the order they finished
}

func startLoad(ctx context.Context, url string, rps, workers int) *loadGen {
	ctx, cancel := context.WithCancel(ctx)
	g := &loadGen{
		url: url, rps: rps, start: time.Now(), cancel: cancel,
		tickets: make(chan time.Duration, workers),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: workers, MaxIdleConnsPerHost: workers, IdleConnTimeout: time.Minute,
		}},
	}
	g.wg.Add(workers + 1)
	go g.schedule(ctx)
	for range workers {
		go g.work(ctx)
	}
	return g
}

// schedule issues the requests that are due, every millisecond.
func (g *loadGen) schedule(ctx context.Context) {
	defer g.wg.Done()
	defer close(g.tickets)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var issued int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int64(time.Since(g.start)) * int64(g.rps) / int64(time.Second)
		for ; issued < due; issued++ {
			select {
			case g.tickets <- time.Duration(issued * int64(time.Second) / int64(g.rps)):
			default:
				g.missed.Add(1)
			}
		}
	}
}

func (g *loadGen) work(ctx context.Context) {
	defer g.wg.Done()
	for due := range g.tickets {
		r := response{sent: due}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
		if err != nil {
			panic(err)
		}
		resp, err := g.client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.status, r.version = resp.StatusCode, resp.Header.Get("X-Bluejay-Version")
		}
		if ctx.Err() != nil {
			return // stopped mid-request: not the proxy's doing
		}
		if err != nil {
			r.status = 0
		}
		r.done = time.Since(g.start)
		g.mu.Lock()
		g.resps = append(g.resps, r)
		g.mu.Unlock()
	}
}

func (g *loadGen) stop() {
	g.cancel()
	g.wg.Wait()
	g.client.CloseIdleConnections()
}

// mark returns a position in the responses, for between.
func (g *loadGen) mark() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.resps)
}

// between returns the responses recorded from mark a to mark b.
func (g *loadGen) between(a, b int) []response {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]response(nil), g.resps[a:b]...)
}

// at converts a time since the load started to wall time.
func (g *loadGen) at(d time.Duration) time.Time { return g.start.Add(d) }

// since converts a wall time to a time since the load started.
func (g *loadGen) since(t time.Time) time.Duration { return t.Sub(g.start) }

// rate measures the achieved requests per second over rs, which must
// span at least a little time.
func rate(rs []response) float64 {
	if len(rs) < 2 {
		return 0
	}
	first, last := rs[0].done, rs[len(rs)-1].done
	if last <= first {
		return 0
	}
	return float64(len(rs)-1) / (last - first).Seconds()
}

// latencyQuantile returns the q-quantile of the responses' latencies
// (from the time each was due, so a stalled generator shows).
func latencyQuantile(rs []response, q float64) time.Duration {
	if len(rs) == 0 {
		return 0
	}
	ls := make([]time.Duration, len(rs))
	for i, r := range rs {
		ls[i] = r.done - r.sent
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	return ls[min(len(ls)-1, int(q*float64(len(ls))))]
}
