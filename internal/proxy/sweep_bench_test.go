package proxy_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// BenchmarkSetRouteAmong2000 is one weight change of one service among
// 2,000, each with its own two addresses: what each step of a rollout
// costs the proxy (the table's copy and the release of departed state).
func BenchmarkSetRouteAmong2000(b *testing.B) {
	const n = 2000
	p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler)}
	b.Cleanup(p.Close)
	routeOf := func(i, w int) router.Route {
		return router.Route{Service: fmt.Sprintf("s%05d", i), Host: fmt.Sprintf("s%05d.example", i), Backends: []router.Backend{
			{Version: "v1", Weight: 100 - w, Addrs: []string{fmt.Sprintf("10.0.%d.%d:80", i/250, i%250)}},
			{Version: "v2", Weight: w, Addrs: []string{fmt.Sprintf("10.1.%d.%d:80", i/250, i%250)}},
		}}
	}
	rs := make([]router.Route, n)
	for i := range n {
		rs[i] = routeOf(i, 0)
	}
	p.SetRoutes(rs)
	b.ReportAllocs()
	for k := 0; b.Loop(); k++ {
		p.SetRoute(routeOf(k%n, 1+k%99))
	}
}
