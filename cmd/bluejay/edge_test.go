package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// edgeServe runs a real serve of config path until the returned stop.
func edgeServe(t *testing.T, path string) (stop func()) {
	t.Helper()
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func loopbackAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// edgeLoad sends requests to url from 6 clients until stopped, counting
// the backend's 200s, maintenance 503s and anything else.
type edgeLoad struct {
	ok, maint, bad atomic.Int64
	first          atomic.Value
	stop           chan struct{}
	wg             sync.WaitGroup
}

func startLoad(url string) *edgeLoad {
	l := &edgeLoad{stop: make(chan struct{})}
	c := &http.Client{Timeout: 10 * time.Second}
	for range 6 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				status, body, retry, err := fetch(c, url)
				switch {
				case err == nil && status == 200 && body == "version=v1\n":
					l.ok.Add(1)
				case err == nil && status == 503 && body == "back soon\n" && retry == "30":
					l.maint.Add(1)
				default:
					l.bad.Add(1)
					l.first.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", status, body, err))
				}
			}
		}()
	}
	return l
}

func (l *edgeLoad) end() { close(l.stop); l.wg.Wait() }

func fetch(c *http.Client, url string) (status int, body, retryAfter string, err error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Retry-After"), err
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestMaintenanceAndPauseTraffic runs README's maintenance and
// pause-traffic commands against a real serve under load: no request
// fails but the intended 503s, maintenance survives a restart and shows
// in status and the event log, and paused requests are held until the
// timeout and then served.
func TestMaintenanceAndPauseTraffic(t *testing.T) {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "version=v1") }))
	t.Cleanup(b.Close)
	dir := t.TempDir()
	proxyAddr, adminAddr := loopbackAddr(t), loopbackAddr(t)
	path := filepath.Join(dir, "bluejay.yaml")
	yaml := fmt.Sprintf(`proxy: {listen: %s}
admin: {listen: %s, token: %s}
store: {path: %s}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 50ms}
`, proxyAddr, adminAddr, testToken, filepath.Join(dir, "b.db"), strings.TrimPrefix(b.URL, "http://"))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLUEJAY_ADMIN", adminAddr)
	t.Setenv("BLUEJAY_TOKEN", testToken)
	client := &api.Client{Addr: adminAddr, Token: testToken}
	url := "http://" + proxyAddr + "/"
	stop := edgeServe(t, path)
	waitUntil(t, "v1 serving", func() bool { s, _, _, _ := fetch(http.DefaultClient, url); return s == 200 })

	load := startLoad(url)
	waitUntil(t, "traffic", func() bool { return load.ok.Load() > 20 })
	if r := cli("maintenance", "web", "on", "--message", "back soon", "--retry-after", "30s"); r.code != 0 || !strings.Contains(r.stdout, "web: in maintenance since") {
		t.Fatalf("maintenance on:\n%s", r)
	}
	waitUntil(t, "maintenance answers", func() bool { return load.maint.Load() > 20 })
	if r := cli("status"); !strings.Contains(r.stdout, "web: in maintenance since") || !strings.Contains(r.stdout, "Retry-After 30s") {
		t.Fatalf("status does not show maintenance:\n%s", r)
	}
	if r := cli("events", "web"); !strings.Contains(r.stdout, "maintenance on (requested)") {
		t.Fatalf("the event log does not record maintenance:\n%s", r)
	}
	load.end()

	// Persisted: a new serve on the same store answers 503 at once.
	stop()
	stop = edgeServe(t, path)
	var status int
	var body, retry string
	waitUntil(t, "the proxy after the restart", func() bool {
		var err error
		status, body, retry, err = fetch(http.DefaultClient, url)
		return err == nil && status != 404
	})
	if status != 503 || body != "back soon\n" || retry != "30" {
		t.Fatalf("after a restart in maintenance: %d %q Retry-After %q, want 503 back soon 30", status, body, retry)
	}

	load = startLoad(url)
	waitUntil(t, "maintenance answers after the restart", func() bool { return load.maint.Load() > 20 })
	if r := cli("maintenance", "web", "off"); r.code != 0 || !strings.Contains(r.stdout, "web: serving") {
		t.Fatalf("maintenance off:\n%s", r)
	}
	ok := load.ok.Load()
	waitUntil(t, "traffic after maintenance", func() bool { return load.ok.Load() > ok+20 })
	load.end()
	if n := load.bad.Load(); n != 0 {
		t.Fatalf("%d requests failed otherwise than by maintenance; first: %v", n, load.first.Load())
	}
	if r := cli("events", "web"); !strings.Contains(r.stdout, "maintenance off (requested)") {
		t.Fatalf("the event log does not record the end of maintenance:\n%s", r)
	}

	r := cli("pause-traffic", "web", "--timeout", "1s")
	if r.code != 0 || !strings.Contains(r.stdout, "web: traffic paused until") {
		t.Fatalf("pause-traffic:\n%s", r)
	}
	st, err := client.Service(context.Background(), "web")
	if err != nil || st.Route.Hold == nil {
		t.Fatalf("status after pause-traffic: %+v %v", st.Route, err)
	}
	until := st.Route.Hold.Until
	type answer struct {
		status int
		err    error
		at     time.Time
	}
	answers := make(chan answer, 20)
	for range 20 {
		go func() {
			s, _, _, err := fetch(http.DefaultClient, url)
			answers <- answer{s, err, time.Now()}
		}()
	}
	for range 20 {
		a := <-answers
		if a.err != nil || a.status != 200 {
			t.Fatalf("a held request: %d %v, want 200", a.status, a.err)
		}
		if a.at.Before(until) {
			t.Fatalf("a request sent during the pause was answered %v before its end", until.Sub(a.at))
		}
	}

	// resume-traffic releases them long before the timeout.
	if r := cli("pause-traffic", "web", "--timeout", "30s"); r.code != 0 {
		t.Fatalf("pause-traffic:\n%s", r)
	}
	resumed := time.Now()
	for range 5 {
		go func() {
			s, _, _, err := fetch(http.DefaultClient, url)
			answers <- answer{s, err, time.Now()}
		}()
	}
	if r := cli("resume-traffic", "web"); r.code != 0 || !strings.Contains(r.stdout, "web: traffic flows") {
		t.Fatalf("resume-traffic:\n%s", r)
	}
	for range 5 {
		if a := <-answers; a.err != nil || a.status != 200 || a.at.Sub(resumed) > 20*time.Second {
			t.Fatalf("after resume-traffic: %d %v %v after the pause", a.status, a.err, a.at.Sub(resumed))
		}
	}
}

// TestEdgeCommandsRefuseBadInput: bad flags get a clear error and change
// nothing.
func TestEdgeCommandsRefuseBadInput(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"pause-traffic", "web", "--timeout", "10m"}, "at most 5m0s"},
		{[]string{"maintenance", "web", "maybe"}, `"maybe": want on or off`},
		{[]string{"maintenance", "web", "on", "--retry-after", "1500ms"}, "whole seconds"},
		{[]string{"maintenance", "web", "off", "--message", "x"}, "go with on"},
		{[]string{"maintenance", "webb", "on"}, `did you mean "web"`},
	} {
		res := cli(c.args...)
		if res.code == 0 || !strings.Contains(res.stderr, c.says) {
			t.Errorf("%v: want a failure saying %q, got:\n%s", c.args, c.says, res)
		}
	}
	st, err := r.client.Service(context.Background(), "web")
	if err != nil || st.Route.Maintenance != nil || st.Route.Hold != nil {
		t.Fatalf("refused commands changed the route: %+v %v", st.Route, err)
	}
}
