package nginx_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"

	"github.com/bluejay-deploy/bluejay/internal/router/nginx"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx/nginxtest"
	"github.com/bluejay-deploy/bluejay/internal/router/routertest"
)

var quiet = slog.New(slog.DiscardHandler)

// start runs a real NGINX for t with a router over it.
func start(t *testing.T) (*nginxtest.Daemon, *nginx.Router) {
	t.Helper()
	d := nginxtest.New(t)
	rt, err := nginx.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return d, rt
}

// TestConformance runs the router conformance suite against a real NGINX.
func TestConformance(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Harness {
		d, rt := start(t)
		return routertest.Harness{Router: rt, URL: d.URL(), Features: routertest.All, StaleConns: true}
	})
}

// backend starts a real HTTP server answering with name.
func backend(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %q", url, res.StatusCode, body)
	}
	return string(body)
}

func only(version string, weight int, addrs ...string) router.Route {
	return router.Route{Service: "web", Backends: []router.Backend{{Version: version, Weight: weight, Addrs: addrs}}}
}

// TestFailedCheckKeepsOldConfig: a route nginx -t refuses fails SetRoute
// with NGINX's message, and leaves the previous file, table and split.
func TestFailedCheckKeepsOldConfig(t *testing.T) {
	d, rt := start(t)
	v1 := backend(t, "v1")
	ctx := context.Background()
	if err := rt.SetRoute(ctx, only("v1", 100, v1)); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(d.Router.Config)
	if err != nil {
		t.Fatal(err)
	}
	err = rt.SetRoute(ctx, only("v2", 100, "127.0.0.1:0"))
	if err == nil || !strings.Contains(err.Error(), "nginx -t") || !strings.Contains(err.Error(), "[emerg]") ||
		!strings.Contains(err.Error(), "127.0.0.1:0") {
		t.Fatalf("SetRoute with port 0: err = %v, want nginx -t's [emerg] message naming 127.0.0.1:0", err)
	}
	after, err := os.ReadFile(d.Router.Config)
	if err != nil || string(after) != string(before) {
		t.Errorf("the rendered file changed after a refused config (err %v):\n%s", err, after)
	}
	if got := rt.Routes(); len(got) != 1 || !got[0].Equal(only("v1", 100, v1)) {
		t.Errorf("Routes() = %+v, want the previous route", got)
	}
	if got := get(t, d.URL()+"/"); got != "v1" {
		t.Errorf("after a refused config, answered by %q, want v1", got)
	}
	// A later good change applies normally.
	v2 := backend(t, "v2")
	if err := rt.SetRoute(ctx, only("v2", 100, v2)); err != nil {
		t.Fatal(err)
	}
	if got := get(t, d.URL()+"/"); got != "v2" {
		t.Errorf("after a good change, answered by %q, want v2", got)
	}
}

// TestReloadThatCannotGoLive: a config nginx -t accepts but the master
// cannot apply (the listen port is taken) fails SetRoute once the reload
// timeout passes, saying the new generation never answered.
func TestReloadThatCannotGoLive(t *testing.T) {
	d := nginxtest.New(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := d.Router
	cfg.Listen = taken.Addr().String()
	cfg.ReloadTimeout = spec.Duration(time.Second)
	rt, err := nginx.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	err = rt.SetRoute(context.Background(), only("v1", 100, backend(t, "v1")))
	if err == nil || !strings.Contains(err.Error(), "did not go live") {
		t.Fatalf("SetRoute on a taken port: err = %v, want a reload that did not go live", err)
	}
}

// TestWaitDrained: after a change, WaitDrained holds while an old worker
// still serves a request from before the change, and returns once it is
// done.
func TestWaitDrained(t *testing.T) {
	d, rt := start(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "v1")
	}))
	defer slow.Close()
	defer close(release)
	v1 := strings.TrimPrefix(slow.URL, "http://")
	ctx := context.Background()
	if err := rt.SetRoute(ctx, only("v1", 100, v1)); err != nil {
		t.Fatal(err)
	}
	held := make(chan string, 1)
	go func() {
		res, err := http.Get(d.URL() + "/")
		if err != nil {
			held <- err.Error()
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		held <- fmt.Sprintf("%d %s", res.StatusCode, body)
	}()
	<-arrived
	if err := rt.SetRoute(ctx, only("v2", 100, backend(t, "v2"))); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := rt.WaitDrained(short, []string{v1})
	cancel()
	if err == nil {
		t.Fatal("WaitDrained returned while an old worker still serves a request")
	}
	release <- struct{}{}
	if got := <-held; got != "200 v1" {
		t.Errorf("the request held across the change got %q, want 200 v1", got)
	}
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rt.WaitDrained(long, []string{v1}); err != nil {
		t.Errorf("WaitDrained after the request finished: %v", err)
	}
}
