package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// TestServeOnEtcd: with store.etcd, serve keeps its rollouts and routes
// in etcd (the service's first route is there once it serves) and writes
// no SQLite file.
func TestServeOnEtcd(t *testing.T) {
	e := etcdtest.New(t)
	prefix := e.Prefix(t)
	dir := t.TempDir()
	proxyAddr := freeAddr(t)
	yaml := fmt.Sprintf(`proxy: {listen: %s, versionHeader: X-Bluejay-Version}
admin: {listen: %s, token: t}
store: {etcd: {endpoints: [%q], prefix: %s}}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 50ms}
`, proxyAddr, freeAddr(t), e.Endpoints()[0], prefix, upstream(t, nil))
	path := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	st, err := etcd.Open(context.Background(), e.Endpoints(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitServing(t, http.DefaultClient, "http://"+proxyAddr+"/")
	deadline := time.Now().Add(10 * time.Second)
	for {
		routes, err := st.ListRoutes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(routes) == 1 && routes[0].Service == "web" && len(routes[0].Backends) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("routes in etcd = %+v, want web's", routes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rs, err := st.ListRollouts(context.Background(), "web", 0); err != nil || len(rs) != 1 {
		t.Errorf("web's rollouts in etcd = %+v, %v; want the first start's", rs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bluejay.db")); !os.IsNotExist(err) {
		t.Errorf("serve on etcd made a SQLite file: %v", err)
	}
	// Its proxy follows the store by watch, and says how often the
	// watch had to start again.
	if _, body := authGet(t, "http://"+srv.AdminAddr()+"/metrics", "t"); !strings.Contains(body, "\nbluejay_proxy_watch_restarts_total 0\n") {
		t.Errorf("/metrics of a serve on etcd lacks bluejay_proxy_watch_restarts_total 0:\n%s", body)
	}
}

// TestSecondServeOnOneInstanceStateFileRefused: two serves on two etcd
// stores (two prefixes) run from one directory share the process
// platform's state file, and each used to adopt, and stop, the other's
// instances. The first to lead locks it; the other, once it leads its
// own store, stops with an error naming the holder.
func TestSecondServeOnOneInstanceStateFileRefused(t *testing.T) {
	e := etcdtest.New(t)
	dir := t.TempDir()
	backend := upstream(t, nil)
	newServer := func(name string) (*server.Server, string) {
		admin := freeAddr(t)
		yaml := fmt.Sprintf(`proxy: {listen: %s}
admin: {listen: %s, token: t}
store: {etcd: {endpoints: [%q], prefix: %s}}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 50ms}
`, freeAddr(t), admin, e.Endpoints()[0], e.Prefix(t)+"/"+name, backend)
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := spec.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return srv, admin
	}
	a, aAdmin := newServer("a")
	ctx, cancel := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	go func() { aDone <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-aDone; err != nil {
			t.Errorf("the first serve: %v", err)
		}
	}()
	lock := filepath.Join(dir, "bluejay.instances.json.lock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(lock); strings.Contains(string(b), aAdmin) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first serve did not lead and lock %s within 10s", lock)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}

	b, _ := newServer("b")
	bDone := make(chan error, 1)
	go func() { bDone <- b.Run(ctx) }()
	select {
	case err := <-bDone:
		for _, want := range []string{lock, fmt.Sprintf("pid %d", os.Getpid()), "admin " + aAdmin} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("the second serve ended with %v, want an error naming %q", err, want)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second serve on the first one's instance state file was still running after 20s")
	}
	select {
	case err := <-aDone:
		aDone <- err
		t.Errorf("the first serve stopped: %v", err)
	default:
	}
}
