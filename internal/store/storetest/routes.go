package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// watchTimeout bounds how long the watch test waits for a signal, and
// then for the channel to close.
const watchTimeout = 10 * time.Second

// testRoutes: a put replaces the service's route; the list is ordered by
// service, and empty (not nil) in an empty store. A gRPC route keeps its
// protocol and error codes.
func testRoutes(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := context.Background()
	if got, err := s.ListRoutes(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListRoutes of an empty store = %v, %v; want [], nil", got, err)
	}
	rpc := Route("rpc", 50)
	rpc.Protocol, rpc.GRPCErrorCodes = router.ProtocolGRPC, []uint32{13, 14}
	for _, r := range []router.Route{Route("web", 0), Route("api", 0), rpc, Route("web", 10)} {
		if err := s.PutRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []router.Route{Route("api", 0), rpc, Route("web", 10)}
	if len(got) != len(want) {
		t.Fatalf("ListRoutes = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// testWatchRoutes: a store that is a RouteWatcher signals a route
// written (through another handle, when the harness has one: the writer
// a proxy follows is another process), and closes the channel when ctx
// ends.
func testWatchRoutes(t *testing.T, h Harness) {
	s := h.Open(t)
	w, ok := s.(store.RouteWatcher)
	if !ok {
		t.Skipf("%T is not a store.RouteWatcher", s)
	}
	writer := s
	if h.Another != nil {
		writer = h.Another(t, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := w.WatchRoutes(ctx)

	// The watch may begin after WatchRoutes returns, missing a write made
	// before: write again on each tick until a signal comes.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(watchTimeout)
	for weight, signalled := 0, false; !signalled; weight = (weight + 1) % 100 {
		if err := writer.PutRoute(ctx, Route("web", weight)); err != nil {
			t.Fatal(err)
		}
		select {
		case _, open := <-changed:
			if !open {
				t.Fatal("the channel closed before ctx ended")
			}
			signalled = true
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no signal within %v of writing a route", watchTimeout)
		}
	}

	cancel()
	deadline = time.After(watchTimeout)
	for {
		select {
		case _, open := <-changed:
			if !open {
				return
			}
		case <-deadline:
			t.Fatalf("the channel is still open %v after ctx ended", watchTimeout)
		}
	}
}
