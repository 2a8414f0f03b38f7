package etcd

import (
	"context"
	"errors"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// TestStaleRoute: a route written by another handle since this one read
// it is not overwritten.
func TestStaleRoute(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	o := another(t, s)
	if err := s.PutRoute(ctx, storetest.Route("web", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ListRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.PutRoute(ctx, storetest.Route("web", 30)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoute(ctx, storetest.Route("web", 10)); !errors.Is(err, store.ErrStale) {
		t.Fatalf("stale PutRoute: err = %v, want ErrStale", err)
	}
	got, err := s.ListRoutes(ctx)
	if err != nil || len(got) != 1 || !got[0].Equal(storetest.Route("web", 30)) {
		t.Fatalf("routes = %+v, %v; want the other handle's", got, err)
	}
	if err := s.PutRoute(ctx, storetest.Route("web", 10)); err != nil {
		t.Errorf("PutRoute after a fresh read: %v", err)
	}
}
