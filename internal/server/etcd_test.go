package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
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
}
