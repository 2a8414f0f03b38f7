package dataplane_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func weightRoute(w int) router.Route {
	return router.Route{Service: "web", PathPrefix: "/", Backends: []router.Backend{
		{Version: "v2", Weight: w, Addrs: []string{"127.0.0.1:9002"}},
		{Version: "v1", Weight: 100 - w, Addrs: []string{"127.0.0.1:9001"}}}}
}

// TestFollowerWatchesAgainAfterEtcdLeaderLoss: etcd closes a watch
// whose member lost its leader, and the follower used to drop it for
// good, polling every 5s until restarted, silently. Under a running
// follower, two of a real three-member etcd cluster are killed (the one
// the follower talks to has no leader) and started again: the follower
// must say once that its watch ended, count each new try for
// bluejay_proxy_watch_restarts_total, and watch again, so that route
// changes arrive by watch (its poll period here is an hour) within
// milliseconds.
func TestFollowerWatchesAgainAfterEtcdLeaderLoss(t *testing.T) {
	cluster := etcdtest.NewCluster(t, 3)
	member := cluster.Members[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *etcd.Store {
		st, err := etcd.Open(ctx, member.Endpoints(), "/bluejay")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	var logs syncBuffer
	p := &proxy.Proxy{}
	f := &dataplane.Follower{Store: open(), Proxy: p, Interval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	writer := open()
	put := func(w int) time.Time {
		t.Helper()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := writer.PutRoute(pctx, weightRoute(w)); err != nil {
			t.Fatalf("writing weight %d: %v", w, err)
		}
		return start
	}
	waitApplied := func(w int, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for !allApplied([]*proxy.Proxy{p}, weightRoute(w)) {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(time.Millisecond) // polling the proxy's table
		}
		return true
	}
	put(1)
	if !waitApplied(1, 10*time.Second) {
		t.Fatal("the first route did not arrive by watch within 10s")
	}

	cluster.Members[1].Kill()
	cluster.Members[2].Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "the store's watch of the routes ended") {
		if time.Now().After(deadline) {
			t.Fatalf("30s after its etcd member lost the leader, the follower had not noticed its watch ended; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the log
	}
	restarted := make(chan error, 2)
	for _, m := range cluster.Members[1:] {
		go func() { restarted <- m.Start() }()
	}
	for range 2 {
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
	}
	// The watch is back once a change arrives without a poll.
	back := false
	for w, deadline := 2, time.Now().Add(30*time.Second); !back && time.Now().Before(deadline); w++ {
		put(w)
		back = waitApplied(w, time.Second)
	}
	if !back {
		t.Fatalf("30s after etcd had a leader again, route changes still did not arrive by watch; log:\n%s", logs.String())
	}
	var lat []time.Duration
	for i := range 20 {
		w := 50 + i
		start := put(w)
		if !waitApplied(w, 5*time.Second) {
			t.Fatalf("change %d (weight %d) after the watch came back did not arrive within 5s", i, w)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("after the leader loss, a route change reached the follower in: median %s, max %s (20 changes, watch); watch restarts: %d",
		lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), f.WatchRestarts())
	if med := lat[len(lat)/2]; med > 100*time.Millisecond {
		t.Errorf("median propagation after the watch came back = %s, want < 100ms", med)
	}
	if n := f.WatchRestarts(); n < 1 {
		t.Errorf("WatchRestarts = %d, want at least 1", n)
	}
	if n := strings.Count(logs.String(), "the store's watch of the routes ended"); n != 1 {
		t.Errorf("the watch's end was logged %d times, want once per outage; log:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "watching the store's routes again"); n != 1 {
		t.Errorf("the watch's return was logged %d times, want once; log:\n%s", n, logs.String())
	}
}

// listCounter is an etcd store that counts its full reads of the table.
type listCounter struct {
	*etcd.Store
	lists atomic.Int64
}

func (l *listCounter) ListRoutes(ctx context.Context) ([]router.Route, error) {
	l.lists.Add(1)
	return l.Store.ListRoutes(ctx)
}

// TestFollowerAppliesWatchedRoutesWithoutReadingTable: the routes etcd's
// watch carries are applied as they are; the whole table is read only
// when the watch begins (and at the hourly poll, not reached here), not
// at each change (issue 22: O(n) per change at 2,000 services).
func TestFollowerAppliesWatchedRoutesWithoutReadingTable(t *testing.T) {
	e := etcdtest.New(t)
	prefix := e.Prefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *etcd.Store {
		st, err := etcd.Open(ctx, e.Endpoints(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st := &listCounter{Store: open()}
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	f := &dataplane.Follower{Store: st, Proxy: p, Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	writer := open()
	for w := 1; w <= 10; w++ {
		if err := writer.PutRoute(ctx, weightRoute(w)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !allApplied([]*proxy.Proxy{p}, weightRoute(w)) {
			if time.Now().After(deadline) {
				t.Fatalf("weight %d did not arrive within 10s", w)
			}
			time.Sleep(time.Millisecond) // polling the proxy's table
		}
	}
	// One read at Run's start, one at the watch's Resync.
	if n := st.lists.Load(); n > 2 {
		t.Errorf("the follower read the whole table %d times for 10 watched changes, want at most 2", n)
	}
}
