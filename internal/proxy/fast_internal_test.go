package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// fastBackend starts an in-process fasthttp backend that answers "ok":
// it allocates nothing per request, so that AllocsPerRun sees the
// proxy's allocations alone.
func fastBackend(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// featureRoute is a route with every per-request feature on: weights, a
// header rule, sticky keys generated into a cookie, the shield and
// outlier ejection.
func featureRoute(v1, v2 string) router.Route {
	return router.Route{Service: "web", PathPrefix: "/",
		Backends: []router.Backend{{Version: "v1", Weight: 90, Addrs: []string{v1}}, {Version: "v2", Weight: 10, Addrs: []string{v2}}},
		Rules:    []router.Rule{{Header: "X-Canary", Exact: "1", Version: "v2"}},
		Sticky:   &router.Sticky{Cookie: "bluejay-key", Generate: true},
		Shield:   &router.Shield{Stable: "v1", Methods: []string{"GET", "HEAD"}},
		Outlier:  &router.Outlier{ConsecutiveFailures: 5, BaseEjection: 1, MaxEjection: 10},
	}
}

// TestFastPathAllocsNothing pins issue 21's rule: in steady state the
// fast path's handler allocates nothing per request, with every feature
// of the route on, the version header, forwarding headers and h1guard.
func TestFastPathAllocsNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := &Proxy{VersionHeader: "X-Bluejay-Version", Logger: slog.New(slog.DiscardHandler)}
	defer p.Close()
	p.SetRoute(featureRoute(fastBackend(t), fastBackend(t)))
	s := p.NewFastServer(FastOptions{})

	raw := []byte("GET /items/42?q=1 HTTP/1.1\r\nHost: web.example\r\nUser-Agent: wrk\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: */*\r\n\r\n")
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5555}, nil)
	run := func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		src.Reset(raw)
		br.Reset(src)
		if err := ctx.Request.Header.Read(br); err != nil {
			t.Fatal(err)
		}
		s.handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if s := ctx.Response.BodyStream(); s != nil {
			io.Copy(io.Discard, s)
		}
		ctx.Response.CloseBodyStream()
	}
	for range 200 {
		run() // warm the pools and the connections
	}
	// fasthttp's HostClient allocates 4 objects per streamed response
	// (the body stream and its release closures); the rest allocates
	// nothing.
	const streamed = 4
	if n := testing.AllocsPerRun(500, run); n > streamed {
		t.Errorf("fast path allocates %.1f times per request, want at most %d (fasthttp's response stream)", n, streamed)
	}
}

// TestHostClientsFollowTheRoutes: the fast path's HostClient of an
// address lives while a route names it, like the address's other state.
func TestHostClientsFollowTheRoutes(t *testing.T) {
	p := &Proxy{Logger: slog.New(slog.DiscardHandler)}
	defer p.Close()
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v1", Weight: 1, Addrs: []string{"127.0.0.1:1"}}}})
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v2", Weight: 1, Addrs: []string{"127.0.0.1:2"}}}})
	var addrs []string
	p.hostClients.Range(func(k, _ any) bool { addrs = append(addrs, k.(string)); return true })
	if len(addrs) != 1 || addrs[0] != "127.0.0.1:2" {
		t.Errorf("HostClients for %q, want only the routed 127.0.0.1:2", addrs)
	}
}
