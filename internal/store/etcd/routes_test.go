package etcd

import (
	"context"
	"errors"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

func route(service string, weight int) router.Route {
	return router.Route{
		Service: service, Host: service + ".example", PathPrefix: "/" + service,
		Backends: []router.Backend{
			{Version: "v1", Weight: 100 - weight, Addrs: []string{"127.0.0.1:9001", "127.0.0.1:9002"}},
			{Version: "v2", Weight: weight, Addrs: []string{"127.0.0.1:9003"}},
		},
	}
}

func TestRoutes(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if got, err := s.ListRoutes(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListRoutes of an empty store = %v, %v; want [], nil", got, err)
	}
	for _, r := range []router.Route{route("web", 0), route("api", 0), route("web", 10)} {
		if err := s.PutRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []router.Route{route("api", 0), route("web", 10)}
	if len(got) != len(want) {
		t.Fatalf("ListRoutes = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := s.PutRoute(ctx, router.Route{}); err == nil {
		t.Error("PutRoute without a service succeeded")
	}
}

// TestStaleRoute: a route written by another handle since this one read
// it is not overwritten.
func TestStaleRoute(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	o := another(t, s)
	if err := s.PutRoute(ctx, route("web", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ListRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.PutRoute(ctx, route("web", 30)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoute(ctx, route("web", 10)); !errors.Is(err, store.ErrStale) {
		t.Fatalf("stale PutRoute: err = %v, want ErrStale", err)
	}
	got, err := s.ListRoutes(ctx)
	if err != nil || len(got) != 1 || !got[0].Equal(route("web", 30)) {
		t.Fatalf("routes = %+v, %v; want the other handle's", got, err)
	}
	if err := s.PutRoute(ctx, route("web", 10)); err != nil {
		t.Errorf("PutRoute after a fresh read: %v", err)
	}
}
