package dataplane_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// TestFleetFollowsEtcdByWatch: five proxies, each with its own etcd
// client as separate `bluejay proxy` processes would have, follow the
// routing table by watch; every one of 100 weight changes reaches all
// five. It logs how long that took (median and max), the figure issue 9
// asks for: `go test ./internal/dataplane -run Fleet -v`.
func TestFleetFollowsEtcdByWatch(t *testing.T) {
	srv := etcdtest.New(t)
	prefix := srv.Prefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *etcd.Store {
		st, err := etcd.Open(ctx, srv.Endpoints(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	const fleet = 5
	proxies := make([]*proxy.Proxy, fleet)
	for i := range proxies {
		proxies[i] = &proxy.Proxy{}
		// A long poll period: only the watch can make a change arrive quickly.
		f := &dataplane.Follower{Store: open(), Proxy: proxies[i], Interval: time.Hour}
		go f.Run(ctx)
	}
	writer := open()
	var lat []time.Duration
	for i := range 100 {
		w := i%99 + 1
		r := router.Route{Service: "web", PathPrefix: "/", Backends: []router.Backend{
			{Version: "v2", Weight: w, Addrs: []string{"127.0.0.1:9002"}},
			{Version: "v1", Weight: 100 - w, Addrs: []string{"127.0.0.1:9001"}}}}
		start := time.Now()
		if err := writer.PutRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
		deadline := start.Add(10 * time.Second)
		for !allApplied(proxies, r) {
			if time.Now().After(deadline) {
				t.Fatalf("change %d (v2 at %d%%) did not reach every proxy within 10s", i, w)
			}
			time.Sleep(200 * time.Microsecond) // polling the proxies' tables
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("a weight change reached all %d proxies in: median %s, p90 %s, max %s (100 changes, watch)",
		fleet, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*9/10].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
}

func allApplied(proxies []*proxy.Proxy, want router.Route) bool {
	for _, p := range proxies {
		rs := p.Routes()
		if len(rs) != 1 || !rs[0].Equal(want) {
			return false
		}
	}
	return true
}
