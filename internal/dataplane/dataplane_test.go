package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

const token = "s3cret"

// rig is a proxy apart, as `bluejay proxy` runs it: a real store, the
// follower, the control API on a real listener, users on another, and the
// controller's client.
type rig struct {
	store    *sqlite.Store
	proxy    *proxy.Proxy
	follower *dataplane.Follower
	users    string // the proxy's users' URL
	client   *dataplane.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "bluejay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &proxy.Proxy{}
	f := &dataplane.Follower{Store: st, Proxy: p, Interval: 20 * time.Millisecond}
	h := &dataplane.Handler{Proxy: p, Token: token, Reload: f.Sync}
	p.OnError = h.Failed
	control := httptest.NewServer(h)
	t.Cleanup(control.Close)
	users := httptest.NewServer(p)
	t.Cleanup(users.Close)
	return &rig{store: st, proxy: p, follower: f, users: users.URL,
		client: &dataplane.Client{URL: control.URL, Token: token}}
}

func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }
}

func route(weights map[string]int, addrs map[string]string) router.Route {
	r := router.Route{Service: "web", PathPrefix: "/"}
	for _, v := range []string{"v2", "v1"} {
		if w, ok := weights[v]; ok {
			r.Backends = append(r.Backends, router.Backend{Version: v, Weight: w, Addrs: []string{addrs[v]}})
		}
	}
	return r
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSetRouteIsLiveOnceStored(t *testing.T) {
	rg := newRig(t)
	addrs := map[string]string{"v1": backend(t, answer("v1")), "v2": backend(t, answer("v2"))}
	ctx := t.Context()
	for _, weights := range []map[string]int{{"v1": 100}, {"v1": 0, "v2": 100}, {"v1": 100, "v2": 0}} {
		r := route(weights, addrs)
		if err := rg.store.PutRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := rg.client.SetRoute(ctx, r); err != nil {
			t.Fatalf("SetRoute %v: %v", weights, err)
		}
		want := "v1"
		if weights["v2"] == 100 {
			want = "v2"
		}
		// Live when SetRoute returns: no poll, no wait.
		if code, body := get(t, rg.users+"/"); code != 200 || body != want {
			t.Errorf("after SetRoute %v: %d %q, want 200 %q", weights, code, body, want)
		}
	}
	applied, err := rg.client.Routes(ctx)
	if err != nil || len(applied) != 1 || !applied[0].Equal(route(map[string]int{"v1": 100, "v2": 0}, addrs)) {
		t.Errorf("Routes = %+v, %v", applied, err)
	}
}

func TestSetRouteRefusesARouteNotStored(t *testing.T) {
	rg := newRig(t)
	addrs := map[string]string{"v1": backend(t, answer("v1")), "v2": backend(t, answer("v2"))}
	stored := route(map[string]int{"v1": 100}, addrs)
	if err := rg.store.PutRoute(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	err := rg.client.SetRoute(t.Context(), route(map[string]int{"v2": 100}, addrs))
	if !errors.Is(err, dataplane.ErrNotApplied) {
		t.Fatalf("SetRoute of a route not in the store: %v, want ErrNotApplied", err)
	}
	if _, body := get(t, rg.users+"/"); body != "v1" {
		t.Errorf("the proxy serves %q; want the stored v1", body)
	}
}

func TestFollowerPicksUpChangesWithoutReload(t *testing.T) {
	rg := newRig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go rg.follower.Run(ctx)
	addr := backend(t, answer("v1"))
	// A controller that died between persisting and asking for a reload.
	if err := rg.store.PutRoute(ctx, route(map[string]int{"v1": 100}, map[string]string{"v1": addr})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, rg.users+"/")
		if code == 200 && body == "v1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower never applied the stored route: last %d %q", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCountsAndWindowCrossTheWire(t *testing.T) {
	rg := newRig(t)
	ok := backend(t, answer("v1"))
	bad := backend(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	r := router.Route{Service: "web", PathPrefix: "/", Backends: []router.Backend{
		{Version: "v1", Weight: 100, Addrs: []string{ok}}, {Version: "v2", Weight: 0, Addrs: []string{bad}}}}
	if err := rg.store.PutRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := rg.client.SetRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Second)
	for range 10 {
		get(t, rg.users+"/")
	}
	c, err := rg.client.Counts(t.Context(), "web", "v1")
	if err != nil || c != rg.proxy.Counts("web", "v1") || c.Requests != 10 {
		t.Errorf("Counts = %+v, %v; the proxy says %+v", c, err, rg.proxy.Counts("web", "v1"))
	}
	to := time.Now().Add(time.Second)
	s, err := rg.client.Window(t.Context(), "web", "v1", from, to)
	want := rg.proxy.Window("web", "v1", from, to)
	if err != nil || s.Requests != 10 || s.P99 != want.P99 || len(s.Latencies) != len(want.Latencies) || len(s.Latencies) == 0 {
		t.Errorf("Window = %+v (%d latencies), %v; the proxy says %+v (%d)", s, len(s.Latencies), err, want, len(want.Latencies))
	}
}

func TestErrorsStreamWakesTheController(t *testing.T) {
	rg := newRig(t)
	bad := backend(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	r := route(map[string]int{"v1": 100}, map[string]string{"v1": bad})
	if err := rg.store.PutRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := rg.client.SetRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go rg.client.FollowErrors(ctx, func(svc string) {
		select {
		case got <- svc:
		default:
		}
	})
	// Send failing requests until one wakes the follower: the stream may
	// not be connected for the first.
	deadline := time.After(5 * time.Second)
	for {
		get(t, rg.users+"/")
		select {
		case svc := <-got:
			if svc != "web" {
				t.Errorf("woken for %q, want web", svc)
			}
			return
		case <-deadline:
			t.Fatal("no failed request reached the errors stream")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestWaitDrainedWaitsForInFlight(t *testing.T) {
	rg := newRig(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := backend(t, func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-release
		fmt.Fprint(w, "slow")
	})
	r := route(map[string]int{"v1": 100}, map[string]string{"v1": slow})
	if err := rg.store.PutRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := rg.client.SetRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); get(t, rg.users+"/") }()
	<-arrived

	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := rg.client.WaitDrained(short, []string{slow}); err == nil {
		t.Fatal("WaitDrained returned nil with a request in flight")
	}
	drained := make(chan error, 1)
	go func() { drained <- rg.client.WaitDrained(t.Context(), []string{slow}) }()
	close(release)
	if err := <-drained; err != nil {
		t.Errorf("WaitDrained after the request finished: %v", err)
	}
	<-done
}

func TestControlNeedsTheToken(t *testing.T) {
	rg := newRig(t)
	bad := &dataplane.Client{URL: rg.client.URL, Token: "wrong"}
	if _, err := bad.Routes(t.Context()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Routes with a wrong token: %v, want a 401", err)
	}
	resp, err := http.Post(rg.client.URL+"/v1/dataplane/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reload without a token: %d, want 401", resp.StatusCode)
	}
}

// TestGRPCRouteCrossesTheWire: a route's protocol and gRPC error codes
// survive the store and the control API, and the proxy apart speaks
// HTTP/2 to the route's instances.
func TestGRPCRouteCrossesTheWire(t *testing.T) {
	rg := newRig(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "HTTP/%d", r.ProtoMajor)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	r := route(map[string]int{"v1": 100}, map[string]string{"v1": srv.Listener.Addr().String()})
	r.Protocol, r.GRPCErrorCodes = router.ProtocolGRPC, []uint32{14}
	if err := rg.store.PutRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := rg.client.SetRoute(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	applied, err := rg.client.Routes(t.Context())
	if err != nil || len(applied) != 1 || !applied[0].Equal(r) || applied[0].Protocol != router.ProtocolGRPC {
		t.Fatalf("Routes = %+v, %v; want %+v", applied, err, r)
	}
	if code, body := get(t, rg.users+"/"); code != 200 || body != "HTTP/2" {
		t.Errorf("through the proxy: %d %q, want 200 HTTP/2", code, body)
	}
}
