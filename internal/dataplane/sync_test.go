package dataplane_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// tableStore is a routing table in memory, for the sync's own cost
// without a store's.
type tableStore struct {
	mu     sync.Mutex
	routes []router.Route
}

func (s *tableStore) PutRoute(_ context.Context, r router.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.routes, func(o router.Route) bool { return o.Service == r.Service }); i >= 0 {
		s.routes[i] = r
		return nil
	}
	s.routes = append(s.routes, r)
	return nil
}

func (s *tableStore) ListRoutes(context.Context) ([]router.Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.routes), nil
}

func serviceRoute(i, v2 int) router.Route {
	return router.Route{Service: fmt.Sprintf("s%05d", i), PathPrefix: fmt.Sprintf("/s%05d/", i), Backends: []router.Backend{
		{Version: "v1", Weight: 100 - v2, Addrs: []string{"127.0.0.1:9001"}},
		{Version: "v2", Weight: v2, Addrs: []string{"127.0.0.1:9002"}}}}
}

// TestSyncAppliesOnlyWhatChanged: with many routes applied, a sync after
// one weight change applies that route alone.
func TestSyncAppliesOnlyWhatChanged(t *testing.T) {
	const n = 500
	st := &tableStore{}
	for i := range n {
		st.PutRoute(t.Context(), serviceRoute(i, 0))
	}
	var log bytes.Buffer
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	f := &dataplane.Follower{Store: st, Proxy: p, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	if err := f.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "route applied"); got != n {
		t.Fatalf("first sync applied %d routes, want %d", got, n)
	}
	log.Reset()
	st.PutRoute(t.Context(), serviceRoute(137, 100))
	if err := f.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "route applied"); got != 1 || !strings.Contains(log.String(), "service=s00137") {
		t.Fatalf("second sync applied %d routes, want s00137 alone:\n%s", got, log.String())
	}
	if rs := p.Routes(); len(rs) != n || !rs[137].Equal(serviceRoute(137, 100)) {
		t.Fatalf("applied table: %d routes, s00137 %+v", len(rs), rs[137])
	}
}

// syncedFollower returns a follower that has synced n routes from its
// store, with the benchmark's timer reset.
func syncedFollower(b *testing.B, n int) (*tableStore, *dataplane.Follower) {
	st := &tableStore{}
	for i := range n {
		st.PutRoute(b.Context(), serviceRoute(i, 0))
	}
	p := &proxy.Proxy{}
	b.Cleanup(p.Close)
	f := &dataplane.Follower{Store: st, Proxy: p, Logger: slog.New(slog.DiscardHandler)}
	if err := f.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	return st, f
}

// BenchmarkSyncOneChange is a follower's sync of 2,000 routes after one
// weight change: what each signal of the store's watch costs.
func BenchmarkSyncOneChange(b *testing.B) {
	const n = 2000
	st, f := syncedFollower(b, n)
	for k := 0; b.Loop(); k++ {
		st.PutRoute(b.Context(), serviceRoute(k%n, 1+k%99))
		if err := f.Sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyOneWatchedChange is a follower applying one weight change
// among 2,000 routes as etcd's watch carries it (store.RouteChanges):
// what each watch event costs, without reading the table.
func BenchmarkApplyOneWatchedChange(b *testing.B) {
	const n = 2000
	_, f := syncedFollower(b, n)
	for k := 0; b.Loop(); k++ {
		f.Apply([]router.Route{serviceRoute(k%n, 1+k%99)})
	}
}
