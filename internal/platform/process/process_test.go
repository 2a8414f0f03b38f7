package process_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

// appBin is the sample app (examples/app), built once by TestMain.
var appBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bluejay-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if appBin, err = buildApp(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildApp builds examples/app into dir with the go tool that runs the
// tests (go test puts it first in PATH).
func buildApp(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/app")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the sample app: %w\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// appCommand runs the sample app as bluejay's config would.
func appCommand() []string {
	return []string{appBin, "--port", "{{.Port}}", "--version", "{{.Version}}"}
}

// logBuffer collects the platform's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newPlatform configures service "web" with cfg, filling in the sample
// app as command, a temporary log dir and a logger into the returned
// buffer. Every instance is stopped when the test ends.
func newPlatform(t *testing.T, cfg process.Config) (*process.Platform, *logBuffer) {
	t.Helper()
	if cfg.Command == nil {
		cfg.Command = appCommand()
	}
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	p := process.New()
	p.Configure("web", cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.StopAll(ctx); err != nil {
			t.Errorf("StopAll: %v", err)
		}
	})
	return p, logs
}

func deploy(t *testing.T, p *process.Platform, v platform.Version) []platform.Instance {
	t.Helper()
	if err := p.Deploy(t.Context(), v); err != nil {
		t.Fatalf("Deploy %s %s: %v", v.Service, v.Label, err)
	}
	return instancesOf(t, p, v.Service, v.Label)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client opens a new connection per request, so that a request never
// lands on an idle connection the server is closing.
var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(addr, path string) (int, string, error) {
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func waitStatus(t *testing.T, addr, path string, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("GET %s%s to answer %d", addr, path, want), func() bool {
		status, _, err := get(addr, path)
		return err == nil && status == want
	})
}

func waitExited(t *testing.T, p *process.Platform, service, version string) platform.Instance {
	t.Helper()
	var inst platform.Instance
	waitFor(t, service+" "+version+" to exit", func() bool {
		insts := instancesOf(t, p, service, version)
		if len(insts) == 0 {
			return false
		}
		inst = insts[0]
		return inst.State == platform.StateExited
	})
	return inst
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeployServesEveryReplica(t *testing.T) {
	p, _ := newPlatform(t, process.Config{Replicas: 2})
	insts := deploy(t, p, platform.Version{Service: "web", Label: "v2"})

	if len(insts) != 2 {
		t.Fatalf("got %d instances, want 2", len(insts))
	}
	for i, inst := range insts {
		if want := fmt.Sprintf("web-v2-%d", i); inst.ID != want {
			t.Errorf("instance %d: ID %q, want %q", i, inst.ID, want)
		}
		if inst.State != platform.StateRunning || inst.PID == 0 || inst.Version != "v2" {
			t.Errorf("instance %s: %+v, want running v2 with a pid", inst.ID, inst)
		}
		if inst.LogPath == "" || filepath.Base(inst.LogPath) != inst.ID+".log" {
			t.Errorf("instance %s: log path %q", inst.ID, inst.LogPath)
		}
		waitStatus(t, inst.Addr, "/healthz", 200)
		status, body, err := get(inst.Addr, "/")
		if err != nil || status != 200 || !strings.Contains(body, "version=v2") {
			t.Errorf("GET / on %s = %d %q %v, want 200 with version=v2", inst.ID, status, body, err)
		}
	}
	if insts[0].Addr == insts[1].Addr {
		t.Errorf("both replicas on %s", insts[0].Addr)
	}

	// Deploy is idempotent: running instances are left alone.
	again := deploy(t, p, platform.Version{Service: "web", Label: "v2"})
	for i := range again {
		if again[i].PID != insts[i].PID || again[i].Restarts != 0 {
			t.Errorf("second Deploy changed %s: %+v, was %+v", again[i].ID, again[i], insts[i])
		}
	}
}

func TestDeployAppendsArgs(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	insts := deploy(t, p, platform.Version{Service: "web", Label: "v3", Args: []string{"--fail-health"}})
	waitStatus(t, insts[0].Addr, "/healthz", 503)
}

func TestExitOnStartIsReported(t *testing.T) {
	p, logs := newPlatform(t, process.Config{})
	deploy(t, p, platform.Version{Service: "web", Label: "v4", Args: []string{"--exit-on-start"}})

	inst := waitExited(t, p, "web", "v4")
	if !strings.HasPrefix(inst.LastExit, "exit status 1: ") || !strings.Contains(inst.LastExit, "exit-on-start") {
		t.Errorf("LastExit = %q, want exit status 1 and the app's last log line", inst.LastExit)
	}
	if log := readFile(t, inst.LogPath); !strings.Contains(log, "exiting on start") {
		t.Errorf("instance log lacks the app's message:\n%s", log)
	}
	if !strings.Contains(logs.String(), "instance exited unexpectedly") {
		t.Errorf("platform did not log the exit:\n%s", logs)
	}
}

func TestDeployRestartsCrashedInstance(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	v := platform.Version{Service: "web", Label: "v5", Args: []string{"--crash-after", "200ms"}}
	first := deploy(t, p, v)[0]

	crashed := waitExited(t, p, "web", "v5")
	if !strings.Contains(crashed.LastExit, "exit status 1") || !strings.Contains(crashed.LastExit, "crash") {
		t.Errorf("LastExit = %q, want exit status 1 and the crash message", crashed.LastExit)
	}

	restarted := deploy(t, p, v)[0]
	if restarted.Restarts != 1 || restarted.State != platform.StateRunning {
		t.Errorf("after Deploy: %+v, want running with 1 restart", restarted)
	}
	if restarted.PID == first.PID || restarted.LastExit != crashed.LastExit {
		t.Errorf("after Deploy: pid %d (was %d), LastExit %q (was %q)",
			restarted.PID, first.PID, restarted.LastExit, crashed.LastExit)
	}
	if restarted.Addr != first.Addr {
		t.Errorf("restart moved the instance from %s to %s", first.Addr, restarted.Addr)
	}
}

func TestStopLetsInFlightRequestFinish(t *testing.T) {
	p, logs := newPlatform(t, process.Config{StopGrace: 5 * time.Second})
	inst := deploy(t, p, platform.Version{Service: "web", Label: "v6", Args: []string{"--latency", "500ms"}})[0]
	waitStatus(t, inst.Addr, "/healthz", 200)

	type result struct {
		status int
		err    error
	}
	results := make(chan result, 1)
	go func() {
		status, _, err := get(inst.Addr, "/")
		results <- result{status, err}
	}()
	// Stop only once the app answers the request: a connection the app
	// has not accepted yet would be reset when it closes its listener.
	waitFor(t, "the request to be in flight", func() bool {
		_, body, err := get(inst.Addr, "/stats")
		return err == nil && strings.Contains(body, "inflight=1")
	})

	if err := p.Stop(t.Context(), "web", "v6"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if r := <-results; r.err != nil || r.status != 200 {
		t.Errorf("in-flight request: status %d, err %v; want 200\n%s", r.status, r.err, readFile(t, inst.LogPath))
	}
	if got := instancesOf(t, p, "web", "v6"); len(got) != 0 {
		t.Errorf("Stop did not forget the version: %+v", got)
	}
	if log := readFile(t, inst.LogPath); !strings.Contains(log, "shutdown complete") {
		t.Errorf("app did not shut down gracefully:\n%s", log)
	}
	if l := logs.String(); strings.Contains(l, "unexpectedly") || !strings.Contains(l, "instance stopped") {
		t.Errorf("Stop counted as an unexpected exit:\n%s", l)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	p, _ := newPlatform(t, process.Config{
		// The shell and its sleeps ignore SIGTERM. Env checks templating.
		Command:   []string{"sh", "-c", `trap '' TERM; echo "ready on $PORT"; while true; do sleep 0.05; done`},
		Env:       map[string]string{"PORT": "{{.Port}}"},
		StopGrace: grace,
	})
	inst := deploy(t, p, platform.Version{Service: "web", Label: "v7"})[0]
	_, port, _ := strings.Cut(inst.Addr, ":")
	waitFor(t, "the shell to trap SIGTERM", func() bool {
		b, _ := os.ReadFile(inst.LogPath)
		return strings.Contains(string(b), "ready on "+port)
	})

	start := time.Now()
	if err := p.Stop(t.Context(), "web", "v7"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took < grace {
		t.Errorf("Stop returned after %v, before the %v grace", took, grace)
	}
	if err := syscall.Kill(inst.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill 0: %v)", inst.PID, err)
	}
}

func TestStopIsIdempotent(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	if err := p.Stop(t.Context(), "web", "never"); err != nil {
		t.Errorf("Stop of a version that never ran: %v", err)
	}
	v := platform.Version{Service: "web", Label: "v8"}
	deploy(t, p, v)
	for i := range 2 {
		if err := p.Stop(t.Context(), "web", "v8"); err != nil {
			t.Errorf("Stop %d: %v", i+1, err)
		}
	}
	// A stopped version deploys afresh.
	if inst := deploy(t, p, v)[0]; inst.Restarts != 0 || inst.State != platform.StateRunning {
		t.Errorf("Deploy after Stop: %+v, want running with no restarts", inst)
	}
}

func TestStopAll(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	p.Configure("api", process.Config{Command: appCommand(), LogDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	var pids []int
	for _, v := range []platform.Version{{Service: "web", Label: "v1"}, {Service: "web", Label: "v2"}, {Service: "api", Label: "v1"}} {
		pids = append(pids, deploy(t, p, v)[0].PID)
	}
	if err := p.StopAll(t.Context()); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after StopAll (kill 0: %v)", pid, err)
		}
	}
	if n := len(instancesOf(t, p, "web", "v1")) + len(instancesOf(t, p, "api", "v1")); n != 0 {
		t.Errorf("%d instances left after StopAll", n)
	}
}

func TestConcurrentDeploys(t *testing.T) {
	p, _ := newPlatform(t, process.Config{Replicas: 3})
	v := platform.Version{Service: "web", Label: "v9"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := p.Deploy(t.Context(), v); err != nil {
				t.Errorf("Deploy: %v", err)
			}
			_ = instancesOf(t, p, "web", "v9")
		})
	}
	wg.Wait()

	insts := instancesOf(t, p, "web", "v9")
	if len(insts) != 3 {
		t.Fatalf("got %d instances, want 3", len(insts))
	}
	addrs := map[string]bool{}
	for _, inst := range insts {
		addrs[inst.Addr] = true
		if inst.Restarts != 0 {
			t.Errorf("%s restarted %d times", inst.ID, inst.Restarts)
		}
	}
	if len(addrs) != 3 {
		t.Errorf("replicas share addresses: %+v", insts)
	}
}

func TestDeployErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     process.Config
		v       platform.Version
		wantErr string
	}{
		{"command parse error", process.Config{Command: []string{"app", "--port", "{{.Port"}},
			platform.Version{Service: "web", Label: "v1"}, `command[2] "{{.Port"`},
		{"unknown template field", process.Config{Command: []string{"app", "--port", "{{.Prot}}"}},
			platform.Version{Service: "web", Label: "v1"}, "can't evaluate field Prot"},
		{"env template error", process.Config{Command: appCommand(), Env: map[string]string{"X": "{{.Nope}}"}},
			platform.Version{Service: "web", Label: "v1"}, "env X"},
		{"no command", process.Config{Command: []string{}},
			platform.Version{Service: "web", Label: "v1"}, "no command"},
		{"missing binary", process.Config{Command: []string{"/nonexistent/bluejay-app"}},
			platform.Version{Service: "web", Label: "v1"}, "no such file"},
		{"binary not in PATH", process.Config{Command: []string{"bluejay-no-such-program"}},
			platform.Version{Service: "web", Label: "v1"}, "executable file not found"},
		{"unknown service", process.Config{},
			platform.Version{Service: "api", Label: "v1"}, "not configured"},
		{"slash in version", process.Config{},
			platform.Version{Service: "web", Label: "../v1"}, "invalid name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newPlatform(t, tt.cfg)
			err := p.Deploy(t.Context(), tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Deploy error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := instancesOf(t, p, tt.v.Service, tt.v.Label); len(got) != 0 {
				t.Errorf("failed Deploy left instances: %+v", got)
			}
		})
	}
}

func TestUnknownServiceIsSentinel(t *testing.T) {
	err := process.New().Deploy(t.Context(), platform.Version{Service: "web", Label: "v1"})
	if !errors.Is(err, process.ErrUnknownService) {
		t.Fatalf("Deploy error = %v, want ErrUnknownService", err)
	}
}
