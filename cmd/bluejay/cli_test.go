package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

const testToken = "cli-t0ken"

// rig is the admin API over a real controller, store and proxy, with
// service web (static: v1 and v2 on real backends; blue-green, paused
// before the switch, no watch) whose first deploy has completed. The
// CLI reaches it through BLUEJAY_ADMIN and BLUEJAY_TOKEN.
type rig struct {
	t      *testing.T
	client *api.Client
	url    string
	addrs  map[string]string // version → backend address
}

func newRig(t *testing.T) *rig {
	t.Helper()
	addrs := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "version="+v) }))
		t.Cleanup(b.Close)
		addrs[v] = strings.TrimPrefix(b.URL, "http://")
	}
	cfg, err := spec.Parse("cli.yaml", fmt.Appendf(nil, `admin: {token: %s}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q], v2: [%q]}}}
    health: {interval: 20ms}
    blueGreen: {autoPromote: false, watch: 0s, scaleDownDelay: 1m, minRequests: 0}   # no traffic here: a watch with none passes
`, testToken, addrs["v1"], addrs["v2"]))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	p := &proxy.Proxy{Logger: quiet}
	plat := static.New()
	for v, a := range addrs {
		plat.SetTargets("web", v, []string{a})
	}
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Templates: cfg.Analysis, Tick: 20 * time.Millisecond, Logger: quiet}
	c.Add(controller.Service{Spec: cfg.Services[0], Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	srv := httptest.NewServer((&api.Server{Controller: c, Token: testToken, Logger: quiet}).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done; st.Close() })
	t.Setenv("BLUEJAY_ADMIN", srv.URL)
	t.Setenv("BLUEJAY_TOKEN", testToken)
	r := &rig{t: t, client: &api.Client{Addr: srv.URL, Token: testToken}, url: srv.URL, addrs: addrs}
	r.waitPhase(1, "Completed")
	return r
}

// waitPhase polls until web's latest rollout is id in phase.
func (r *rig) waitPhase(id int64, phase string) controller.ServiceStatus {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.client.Service(context.Background(), "web")
		if err == nil && st.Rollout.ID == id && string(st.Rollout.Phase) == phase {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rollout #%d not %s after 10s: %+v %v", id, phase, st.Rollout, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// cli runs bluejay in-process with args.
func cli(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// TestGoldenErrors pins what the CLI says, and its exit status, for the
// mistakes people make: each case's output is in testdata/errors.golden.
func TestGoldenErrors(t *testing.T) {
	r := newRig(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"misspelt service", nil, []string{"status", "wbe"}},
		{"unknown service", nil, []string{"promote", "payments"}},
		{"rollback to a version never run", nil, []string{"rollback", "web", "--to", "v0"}},
		{"rollback to the stable version", nil, []string{"rollback", "web", "--to", "v1"}},
		{"wrong token", map[string]string{"BLUEJAY_TOKEN": "nope"}, []string{"history", "web"}},
		{"bad output format", nil, []string{"events", "web", "-o", "xml"}},
		{"watch without a service", nil, []string{"status", "-w"}},
		{"watch as JSON", nil, []string{"status", "web", "-w", "-o", "json"}},
		{"missing argument", nil, []string{"rollback"}},
		{"no admin API", map[string]string{"BLUEJAY_ADMIN": "", "BLUEJAY_TOKEN": ""}, []string{"routes"}},
		{"pause with nothing under way", nil, []string{"pause", "web"}},
		{"bogus strategy", nil, []string{"deploy", "web", "v2", "--strategy", "bogus"}},
		{"bad version label", nil, []string{"deploy", "web", "v_2!"}},
		{"negative limit", nil, []string{"history", "web", "-n", "-1"}},
		{"only BLUEJAY_ADMIN", map[string]string{"BLUEJAY_TOKEN": ""}, []string{"status"}},
		{"no server", map[string]string{"BLUEJAY_ADMIN": "127.0.0.1:1"}, []string{"status"}},
	}
	var b strings.Builder
	for _, c := range cases {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		res := cli(c.args...)
		fmt.Fprintf(&b, "=== %s: bluejay %s\nexit %d\n%s\n", c.name, strings.Join(c.args, " "), res.code, res.stderr)
		for k := range c.env {
			t.Setenv(k, map[string]string{"BLUEJAY_ADMIN": r.url, "BLUEJAY_TOKEN": testToken}[k])
		}
	}
	golden(t, "errors.golden", b.String())
}

// syncBuffer collects the output of a command run in a goroutine.
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

// watchRun starts `status web -w` and returns its output and a channel
// with its exit status.
func watchRun() (*syncBuffer, chan int) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- run([]string{"status", "web", "-w"}, out, errb) }()
	return out, code
}

func waitOutput(t *testing.T, out *syncBuffer, says string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), says) {
		if time.Now().After(deadline) {
			t.Fatalf("status -w never said %q:\n%s", says, out)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestWatchFollowsARolloutToItsEnd runs status -w against a real API
// while a rollout is paused, promoted and completes (exit 0), and while
// one is aborted (exit 1); not a terminal, so it prints plain lines, one
// per change.
func TestWatchFollowsARolloutToItsEnd(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	ro, err := r.client.Deploy(ctx, "web", api.DeployBody{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, "Paused")
	out, code := watchRun()
	waitOutput(t, out, "Paused")
	if _, err := r.client.Promote(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("status -w on a rollout that completed: exit %d, want 0\n%s", c, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("status -w did not exit after the rollout completed:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "#2  Paused") || !strings.Contains(lines[len(lines)-1], "#2  Completed  v2=100") {
		t.Fatalf("status -w lines: want Paused first and Completed with v2=100 last, got:\n%s", out)
	}
	for i := 1; i < len(lines); i++ {
		if cut(lines[i]) == cut(lines[i-1]) {
			t.Errorf("status -w repeated a line with nothing changed:\n%s\n%s", lines[i-1], lines[i])
		}
	}

	if _, err := r.client.Rollback(ctx, "web", ""); err != nil { // v1 is warm: a flip
		t.Fatal(err)
	}
	ro, err = r.client.Deploy(ctx, "web", api.DeployBody{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, "Paused")
	out, code = watchRun()
	waitOutput(t, out, "Paused")
	if _, err := r.client.Command(ctx, "web", "abort"); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 1 {
			t.Fatalf("status -w on an aborted rollout: exit %d, want 1\n%s", c, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("status -w did not exit after the abort:\n%s", out)
	}
}

// cut drops a plain line's clock and elapsed time.
func cut(line string) string {
	_, rest, _ := strings.Cut(line, "  ")
	before, _, _ := strings.Cut(rest, "  elapsed ")
	return before
}

// TestReadCommandsSpeakYAMLAndJSON decodes every read command's -o json
// and -o yaml and checks they carry the same thing.
func TestReadCommandsSpeakYAMLAndJSON(t *testing.T) {
	newRig(t)
	for _, args := range [][]string{{"status"}, {"status", "web"}, {"history", "web"}, {"events", "web"}, {"routes"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// The live status may move between the two calls (a probe's
			// result, a timestamp): a few tries find a still moment.
			var a, b []byte
			for range 5 {
				var fromJSON, fromYAML any
				j := cli(append(args, "-o", "json")...)
				y := cli(append(args, "-o", "yaml")...)
				if j.code != 0 || y.code != 0 {
					t.Fatalf("json: %s\nyaml: %s", j, y)
				}
				if err := json.Unmarshal([]byte(j.stdout), &fromJSON); err != nil {
					t.Fatalf("-o json: %v\n%s", err, j.stdout)
				}
				if err := yaml.Unmarshal([]byte(y.stdout), &fromYAML); err != nil {
					t.Fatalf("-o yaml: %v\n%s", err, y.stdout)
				}
				// Compare through JSON: YAML decodes integers as int, JSON as
				// float64; timestamps stay strings because they are quoted.
				a, _ = json.Marshal(fromJSON)
				b, _ = json.Marshal(fromYAML)
				if bytes.Equal(a, b) {
					return
				}
			}
			t.Errorf("-o yaml and -o json differ:\njson: %s\nyaml: %s", a, b)
		})
	}
	if r := cli("routes"); r.code != 0 || !strings.Contains(r.stdout, "web") || !strings.Contains(r.stdout, "v1") {
		t.Errorf("routes table: %s", r)
	}
}

// TestCompletionOffersServiceNames pins dynamic completion: the service
// names from the API, and nothing (and no error) when the API is down.
func TestCompletionOffersServiceNames(t *testing.T) {
	r := newRig(t)
	res := cli("__complete", "status", "w")
	if res.code != 0 || !strings.Contains(res.stdout, "web\tv1 Completed") || !strings.Contains(res.stdout, ":4") {
		t.Fatalf("__complete status w: %s", res)
	}
	res = cli("__complete", "rollback", "web", "--to", "")
	if res.code != 0 || !strings.Contains(res.stdout, "v1\n") {
		t.Fatalf("__complete rollback web --to: %s", res)
	}
	t.Setenv("BLUEJAY_ADMIN", "127.0.0.1:1")
	res = cli("__complete", "status", "w")
	if res.code != 0 || strings.Contains(res.stdout, "web") || strings.Contains(res.stdout, "127.0.0.1") {
		t.Fatalf("__complete with the API down: %s; want no names and no error", res)
	}
	if res := cli("completion", "bash"); res.code != 0 || !strings.Contains(res.stdout, "__start_bluejay") {
		t.Fatalf("completion bash: exit %d", res.code)
	}
	_ = r
}
