package proxy_test

import (
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestSetRoutesIsSetRouteForEach: a batch leaves the table that setting
// each route in turn leaves, the routes of other services untouched.
func TestSetRoutesIsSetRouteForEach(t *testing.T) {
	mk := func(service, prefix string, v2 int) router.Route {
		return router.Route{Service: service, PathPrefix: prefix, Backends: []router.Backend{
			{Version: "v1", Weight: 100 - v2, Addrs: []string{"127.0.0.1:9001"}},
			{Version: "v2", Weight: v2, Addrs: []string{"127.0.0.1:9002"}}}}
	}
	one, batch := &proxy.Proxy{}, &proxy.Proxy{}
	t.Cleanup(one.Close)
	t.Cleanup(batch.Close)
	for _, p := range []*proxy.Proxy{one, batch} {
		p.SetRoute(mk("a", "/a/", 0))
		p.SetRoute(mk("b", "/b/", 0))
	}
	changes := []router.Route{mk("b", "/b/", 100), mk("c", "/c/", 10)}
	for _, r := range changes {
		one.SetRoute(r)
	}
	batch.SetRoutes(changes)
	batch.SetRoutes(nil)
	got, want := batch.Routes(), one.Routes()
	if len(got) != 3 || len(got) != len(want) {
		t.Fatalf("batch: %d routes, one by one: %d; want 3", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("route %d: batch %+v, one by one %+v", i, got[i], want[i])
		}
	}
}
