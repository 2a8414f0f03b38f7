package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// reloadEnv is a serve on a config file the test rewrites and reloads.
type reloadEnv struct {
	t          *testing.T
	path       string
	proxy      string
	admin      string
	srv        *server.Server
	cert, key  string
	target     string
	extraProxy string
}

// reloadConfig is the config with the given services' YAML.
func (e *reloadEnv) write(services string) {
	e.t.Helper()
	yaml := fmt.Sprintf(`proxy:
  listen: %s
  tls: {cert: %s, key: %s}
%sadmin: {listen: %s, token: t}
store: {path: %s}
services:
%s`, e.proxy, e.cert, e.key, e.extraProxy, e.admin, filepath.Join(filepath.Dir(e.path), "b.db"), services)
	if err := os.WriteFile(e.path, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func staticService(name, host, version, target, extra string) string {
	return fmt.Sprintf(`  - name: %s
    match: {host: %s}
    version: %s
    platform: {static: {targets: {%s: [%q]}}}
    health: {interval: 50ms}
%s`, name, host, version, version, target, extra)
}

func startReload(t *testing.T, services func(target string) string) *reloadEnv {
	t.Helper()
	dir := t.TempDir()
	e := &reloadEnv{t: t, path: filepath.Join(dir, "bluejay.yaml"), proxy: freeAddr(t), admin: freeAddr(t),
		target: upstream(t, nil)}
	cert, key := selfSigned(t)
	e.cert, e.key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, cert, e.cert)
	copyFile(t, key, e.key)
	e.write(services(e.target))
	cfg, err := spec.Load(e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetConfigPath(e.path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return e
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *reloadEnv) reload() api.ReloadResult {
	e.t.Helper()
	res, err := e.srv.Reload(context.Background(), api.ReloadRequest{})
	if err != nil {
		e.t.Fatalf("reload: %v", err)
	}
	return res
}

// get sends one request for host through the proxy; a fresh client each
// time when fresh is set (to see the certificate a new connection gets).
func (e *reloadEnv) get(c *http.Client, host string) (int, *tls.ConnectionState, error) {
	req, _ := http.NewRequest(http.MethodGet, "https://"+e.proxy+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.TLS, err
}

func insecureClient(keepAlive bool) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // a test's self-signed cert
		DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 16}}
}

// TestReloadUnderLoadFailsNoRequest: with steady traffic through the
// proxy to two services, reloads that add a service, change a service's
// canary steps, renew the TLS certificate (same files, new contents) and
// remove an idle service each take effect at once, and not one request
// fails. Before reloads, serve read its config once: none of this was
// possible without a restart (an outage with the in-process proxy).
func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	base := func(target string) string {
		return staticService("web", "web.test", "v1", target, "    strategy: canary\n    canary: {steps: [{setWeight: 50}, {pause: {duration: 1h}}]}\n") +
			staticService("api", "api.test", "v1", target, "") +
			staticService("idle", "idle.test", "v1", target, "")
	}
	e := startReload(t, base)
	c := insecureClient(true)
	for _, h := range []string{"web.test", "api.test", "idle.test"} {
		waitUntil(t, h+" serving", func() bool { code, _, err := e.get(c, h); return err == nil && code == 200 })
	}

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			host := []string{"web.test", "api.test"}[i%2]
			for ctx.Err() == nil {
				code, _, err := e.get(c, host)
				if err != nil || code != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d %v", host, code, err))
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitUntil(t, "load flowing", func() bool { return ok.Load() > 50 })

	// 1. Add a service: routed as soon as its first version is ready.
	added := base(e.target) + staticService("new", "new.test", "v1", e.target, "")
	e.write(added)
	res := e.reload()
	if !res.Applied || len(res.Diff.Added) != 1 || res.Diff.Added[0] != "new" {
		t.Fatalf("adding a service: %+v", res)
	}
	waitUntil(t, "new.test routed", func() bool { code, _, err := e.get(c, "new.test"); return err == nil && code == 200 })

	// 2. Change web's steps: recorded in its decision log.
	changed := strings.Replace(added, "{setWeight: 50}, {pause: {duration: 1h}}", "{setWeight: 10}, {setWeight: 60}", 1)
	e.write(changed)
	if res = e.reload(); len(res.Diff.Changed["web"]) != 1 || res.Diff.Changed["web"][0] != "services[web].canary" {
		t.Fatalf("changing web's steps: diff %+v", res.Diff)
	}
	waitUntil(t, "web's event saying what the reload changed", func() bool {
		_, body := authGet(t, "http://"+e.admin+"/v1/services/web/events?limit=5", "t")
		return strings.Contains(body, "config reloaded: services[web].canary changed")
	})

	// 3. Renew the certificate in place: new connections get the new one.
	_, before, err := e.get(insecureClient(false), "web.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t)
	copyFile(t, cert, e.cert)
	copyFile(t, key, e.key)
	if res = e.reload(); !res.Applied || !strings.Contains(strings.Join(res.Diff.Settings, ","), "proxy.tls") {
		t.Fatalf("renewing the certificate: %+v", res)
	}
	_, after, err := e.get(insecureClient(false), "web.test")
	if err != nil {
		t.Fatal(err)
	}
	if string(after.PeerCertificates[0].Raw) == string(before.PeerCertificates[0].Raw) {
		t.Error("a new connection after the reload still gets the old certificate")
	}

	// 4. Remove the idle service: its host has no route any more.
	e.write(strings.Replace(changed, staticService("idle", "idle.test", "v1", e.target, ""), "", 1))
	if res = e.reload(); len(res.Diff.Removed) != 1 || res.Diff.Removed[0] != "idle" {
		t.Fatalf("removing a service: %+v", res)
	}
	if code, _, err := e.get(c, "idle.test"); err != nil || code != http.StatusNotFound {
		t.Errorf("idle.test after its removal = %d %v, want 404 at once", code, err)
	}
	n := ok.Load()
	waitUntil(t, "more load after the last reload", func() bool { return ok.Load() > n+50 })
	stop()
	wg.Wait()
	t.Logf("requests under reloads: %d succeeded, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during reloads; first: %v", failed.Load(), firstErr.Load())
	}
}

// TestReloadInvalidChangesNothing: an invalid file is refused with
// FILE:LINE:COL, and so is a change that cannot be made live; traffic
// carries on and the loaded config stays.
func TestReloadInvalidChangesNothing(t *testing.T) {
	svc := func(target string) string { return staticService("web", "web.test", "v1", target, "") }
	e := startReload(t, svc)
	c := insecureClient(true)
	waitUntil(t, "web serving", func() bool { code, _, err := e.get(c, "web.test"); return err == nil && code == 200 })

	e.write(svc(e.target) + staticService("web2", "other.test", "v1", e.target, "    strategy: sideways\n"))
	_, err := e.srv.Reload(context.Background(), api.ReloadRequest{})
	if !errors.Is(err, controller.ErrInvalid) || !strings.Contains(err.Error(), "bluejay.yaml:") ||
		!strings.Contains(err.Error(), "services[1].strategy") {
		t.Fatalf("reload of an invalid file = %v, want ErrInvalid with file:line:col and the field", err)
	}
	if code, _, err := e.get(c, "other.test"); err != nil || code != http.StatusNotFound {
		t.Errorf("the invalid file's new service is routed: %d %v", code, err)
	}

	e.admin = freeAddr(t) // a listener cannot move live
	e.write(svc(e.target))
	_, err = e.srv.Reload(context.Background(), api.ReloadRequest{})
	if !errors.Is(err, controller.ErrConflict) || !strings.Contains(err.Error(), "admin: read once at start") {
		t.Fatalf("reload moving admin.listen = %v, want ErrConflict naming admin", err)
	}
	if code, _, err := e.get(c, "web.test"); err != nil || code != 200 {
		t.Errorf("web after refused reloads = %d %v, want 200", code, err)
	}
}

// kubeletWrite writes the config into dir the way the kubelet updates a
// ConfigMap volume: the data in a new timestamped directory, a
// `..data_tmp` symlink to it renamed over `..data`, the old directory
// removed; name itself is a symlink to ..data/name.
func kubeletWrite(t *testing.T, dir, name string, data []byte, gen int) {
	t.Helper()
	ts := fmt.Sprintf("..2026_12_07_04_00_0%d.000%d", gen, gen)
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ts, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchConfigFollowsConfigMapSwap: serve --watch-config on a
// ConfigMap-style mount reloads exactly once for one kubelet update
// (several filesystem events), and the change is live.
func TestWatchConfigFollowsConfigMapSwap(t *testing.T) {
	svc := func(target string) string { return staticService("web", "web.test", "v1", target, "") }
	e := startReload(t, svc)
	// Move the file into a ConfigMap layout in a directory of its own.
	data, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	mount := t.TempDir()
	if err := os.Remove(e.path); err != nil {
		t.Fatal(err)
	}
	kubeletWrite(t, mount, "bluejay.yaml", data, 1)
	e.path = filepath.Join(mount, "bluejay.yaml")
	e.srv.SetConfigPath(e.path)

	var mu sync.Mutex
	var reloads []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.srv.WatchConfig(ctx, 100*time.Millisecond, func(res api.ReloadResult, err error) {
		mu.Lock()
		defer mu.Unlock()
		reloads = append(reloads, fmt.Sprintf("%v %v", res.Diff.Added, err))
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(reloads) }
	c := insecureClient(true)
	waitUntil(t, "web serving", func() bool { code, _, err := e.get(c, "web.test"); return err == nil && code == 200 })

	kubeletWrite(t, mount, "bluejay.yaml", append(data, staticService("new", "new.test", "v1", e.target, "")...), 2)
	waitUntil(t, "a reload", func() bool { return count() > 0 })
	waitUntil(t, "new.test routed", func() bool { code, _, err := e.get(c, "new.test"); return err == nil && code == 200 })
	// Hold a few debounce periods: the swap's other events must not
	// reload again.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n := count(); n != 1 {
			t.Fatalf("one ConfigMap update made %d reloads: %v", n, reloads)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reloads[0] != "[new] <nil>" {
		t.Errorf("reload = %s, want new added without error", reloads[0])
	}
}
