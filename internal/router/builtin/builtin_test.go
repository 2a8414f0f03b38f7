package builtin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/router/routertest"
)

func TestSetRouteIsLiveOnReturn(t *testing.T) {
	v2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "v2")
	}))
	defer v2.Close()
	p := &proxy.Proxy{}
	rt := &builtin.Router{Proxy: p}
	want := router.Route{Service: "web", Host: "web.example", Backends: []router.Backend{
		{Version: "v1", Weight: 0, Addrs: []string{"127.0.0.1:1"}},
		{Version: "v2", Weight: 100, Addrs: []string{strings.TrimPrefix(v2.URL, "http://")}},
	}}
	if err := rt.SetRoute(context.Background(), want); err != nil {
		t.Fatalf("SetRoute: %v", err)
	}
	if got := p.Routes(); len(got) != 1 || !got[0].Equal(want) {
		t.Errorf("proxy routes = %+v, want [%+v]", got, want)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://web.example/", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "v2" {
		t.Errorf("request after SetRoute: got %d %q, want 200 from v2", rec.Code, rec.Body)
	}
}

// TestConformance runs the router conformance suite against the builtin
// proxy served by a real HTTP server.
func TestConformance(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Harness {
		p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler)}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return routertest.Harness{Router: &builtin.Router{Proxy: p}, URL: srv.URL, Features: routertest.All}
	})
}

// TestConformanceFastPath runs the suite against the proxy's HTTP/1.1
// fast path (issue 21), the one `bluejay serve` uses without TLS.
func TestConformanceFastPath(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Harness {
		p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler)}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := p.NewFastServer(proxy.FastOptions{})
		go s.Serve(ln)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Shutdown(ctx)
		})
		return routertest.Harness{Router: &builtin.Router{Proxy: p}, URL: "http://" + ln.Addr().String(), Features: routertest.All}
	})
}
