package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// DefaultInterval is how often a Follower polls the store when Interval
// is zero. The controller does not wait for it: it asks for a reload
// after each change; the poll covers a reload that never came (the
// controller died between persisting a route and asking).
const DefaultInterval = 250 * time.Millisecond

// Follower keeps a proxy's routing table equal to the store's.
type Follower struct {
	// Store holds the routes. Required.
	Store store.Routes
	// Proxy is the table's owner. Required.
	Proxy *proxy.Proxy
	// Interval is the poll period. Zero means DefaultInterval.
	Interval time.Duration
	// Logger receives route changes and store failures. Nil means
	// slog.Default().
	Logger *slog.Logger

	mu       sync.Mutex // one Sync at a time, so changes apply in store order
	restarts atomic.Int64
}

// Sync reads every stored route and applies those that differ from the
// proxy's. A store failure changes nothing: the proxy keeps routing as it
// did.
func (f *Follower) Sync(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	stored, err := f.Store.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("reading routes: %w", err)
	}
	// Compared service by service with the proxy's own route, without
	// copying its table: comparing every stored route with every applied
	// one cost n² route comparisons per sync (4 million at 2,000
	// services).
	var changed []router.Route
	for _, r := range stored {
		if !f.Proxy.RoutesAs(r) {
			changed = append(changed, r)
		}
	}
	f.set(changed)
	return nil
}

// apply applies the changed routes a store's watch carried: O(changes),
// where Sync reads and decodes the whole table.
func (f *Follower) apply(rs []router.Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var changed []router.Route
	for _, r := range rs {
		if !f.Proxy.RoutesAs(r) {
			changed = append(changed, r)
		}
	}
	f.set(changed)
}

// set applies the changed routes in one table: SetRoute one at a time
// copies the table per route. Callers hold f.mu.
func (f *Follower) set(changed []router.Route) {
	f.Proxy.SetRoutes(changed)
	for _, r := range changed {
		f.logger().Info("route applied from the store", "service", r.Service, "weights", r.Weights())
	}
}

// Run syncs at once, then every Interval until ctx ends, and at each
// change a store that watches reports. A store that carries the changed
// routes in its watch (store.RouteChangeWatcher, etcd) has them applied
// alone, O(changes); the whole table is read again when the watch
// (re)starts or asks for it, and every Interval as a safety net. A store
// that only signals (store.RouteWatcher) has the table read at each
// signal. A failing store is logged when it starts and stops failing,
// not at every poll. A watch that ends (etcd ends a watch whose member
// lost its leader, or whose revision was compacted) is started again,
// after a backoff that grows while it keeps ending; the outage is logged
// once, the poll covers it, and each new try counts in WatchRestarts.
func (f *Follower) Run(ctx context.Context) {
	interval := f.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	watch := f.watcher()
	var changed <-chan store.RouteChanges
	if watch != nil {
		changed = watch(ctx)
		interval = max(interval, watchedInterval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		retry   <-chan time.Time // fires when the watch is to be started again; nil while one runs
		backoff wait.Backoff
		broken  bool // the watch ended and no new one has signalled yet
		failing bool
		full    = true // read the whole table; else apply routes
		routes  []router.Route
	)
	for {
		var err error
		if full {
			err = f.Sync(ctx)
		} else {
			f.apply(routes)
		}
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			f.logger().Error("following the store's routes; routing as before", "err", err)
		case err == nil && failing && full:
			f.logger().Info("following the store's routes again")
		}
		if full {
			failing = err != nil
		}
		full, routes = false, nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			full = true
		case ch, ok := <-changed:
			switch {
			case !ok && ctx.Err() == nil:
				changed, full = nil, true
				if !broken {
					broken, backoff = true, watchBackoff
					f.logger().Warn("the store's watch of the routes ended (etcd lost its leader?); watching again, polling meanwhile",
						"poll", interval)
				}
				retry = time.After(backoff.Step())
			case ok && broken:
				broken = false
				f.logger().Info("watching the store's routes again", "restarts", f.restarts.Load())
			}
			if ok {
				full, routes = ch.Resync, ch.Routes
			}
		case <-retry:
			retry = nil
			f.restarts.Add(1)
			changed = watch(ctx)
		}
	}
}

// watcher returns how to watch the store: its changed routes, or its
// signals made Resyncs; nil when it does not watch.
func (f *Follower) watcher() func(context.Context) <-chan store.RouteChanges {
	switch w := f.Store.(type) {
	case store.RouteChangeWatcher:
		return w.WatchRouteChanges
	case store.RouteWatcher:
		return func(ctx context.Context) <-chan store.RouteChanges {
			out := make(chan store.RouteChanges)
			go func() {
				defer close(out)
				for range w.WatchRoutes(ctx) {
					select {
					case out <- store.RouteChanges{Resync: true}:
					case <-ctx.Done():
						return
					}
				}
			}()
			return out
		}
	}
	return nil
}

// watchBackoff spaces the new tries of a watch that keeps ending.
var watchBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32,
	Cap: watchedInterval}

// WatchRestarts counts the times Run started the store's watch again
// after it ended (bluejay_proxy_watch_restarts_total).
func (f *Follower) WatchRestarts() int64 { return f.restarts.Load() }

// watchedInterval is the poll period of a Follower whose store watches.
const watchedInterval = 5 * time.Second

func (f *Follower) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}
