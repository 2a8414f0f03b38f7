package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// TestWatchRouteChangesCarriesRoutes: the watch begins with a Resync,
// then carries each changed route itself; changes made while the reader
// is away are coalesced to the latest route of each service, none lost.
func TestWatchRouteChangesCarriesRoutes(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.WatchRouteChanges(ctx)
	next := func() store.RouteChanges {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("the watch ended")
			}
			return c
		case <-time.After(30 * time.Second):
			t.Fatal("no change within 30s")
		}
		return store.RouteChanges{}
	}
	if c := next(); !c.Resync {
		t.Fatalf("first = %+v, want a Resync", c)
	}
	// Each write, then the latest route of each service: a reader that
	// comes late gets them coalesced, one that comes early gets them in
	// several batches; either way the last seen of each is the last
	// written.
	for w := 10; w <= 50; w += 10 {
		for _, svc := range []string{"api", "web"} {
			if err := s.PutRoute(ctx, storetest.Route(svc, w)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[string]store.RouteChanges{}
	done := func() bool {
		for _, svc := range []string{"api", "web"} {
			c, ok := got[svc]
			if !ok || !c.Routes[0].Equal(storetest.Route(svc, 50)) {
				return false
			}
		}
		return true
	}
	for !done() {
		c := next()
		if c.Resync || len(c.Routes) == 0 || len(c.Routes) > 2 {
			t.Fatalf("got %+v for plain writes, want one or two routes", c)
		}
		for _, r := range c.Routes {
			if r.Service != "api" && r.Service != "web" {
				t.Fatalf("route of %q carried, none written", r.Service)
			}
			got[r.Service] = store.RouteChanges{Routes: []router.Route{r}}
		}
	}
}
