// Package e2e runs the real bluejay binary as separate processes: serve,
// the CLI commands, and the sample app instances serve starts. TestMain
// builds the binary once; each test gets its own ports, config and store.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dockertest"
)

// bin is the bluejay binary TestMain builds once for the package.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "bluejay-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "bluejay")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bluejay")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/bluejay: %v\n%s", err, out)
		return 1
	}
	return dockertest.Main(m) // m.Run, with one dockerd for the docker tests, started by the first
}

// moduleRoot walks up from the working directory to the directory
// holding go.mod.
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
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		// The kernel may offer a port it offered a moment ago, before
		// whoever it was given to bound it (a test's proxy and admin
		// listeners got the same one): never give an address twice.
		if !given[addr] {
			given[addr] = true
			return addr
		}
	}
	t.Fatal("finding a free port: the kernel kept offering ports already given")
	return ""
}

var (
	givenMu sync.Mutex
	given   = map[string]bool{} // every address freeAddr returned
)

// ── config ──────────────────────────────────────────────────────────

// options tune the one service, web, of a test config.
type options struct {
	previewWeight int
	watch         string // blueGreen.watch; "" means 2s
	autoPromote   bool
	// minRequests is blueGreen.minRequests: a preview or a watch passes
	// only on that many requests; 0 (for tests that send no traffic)
	// passes one with none.
	minRequests int
	// smokePath is the path of the one smoke test; "" means GET /
	// expecting "version=" in the body.
	smokePath string
	// canary is the service's canary block and analysis the top-level
	// analysis templates, as YAML without their key and unindented;
	// "" leaves them out (the defaults).
	canary, analysis string
	// rolling is the service's rolling block, as canary is.
	rolling string
	// top is YAML appended at the top level (e.g. prometheus:), as is.
	top string
	// service is YAML appended to the service's block (e.g. sticky:,
	// migrations:), unindented.
	service string
	// appArgs are appended to every instance's command; env is the
	// process platform's env block, as a YAML flow map ("" for none).
	appArgs []string
	env     string
	// proxy is YAML appended to the proxy block (e.g. bodyTimeout:),
	// unindented.
	proxy string
	// readyTimeout is health.readyTimeout; "" means 5s.
	readyTimeout string
	// platform replaces the service's platform block (process, running
	// the binary's app) with this YAML, unindented; appArgs and env are
	// then ignored.
	platform string
}

func defaultOptions() options { return options{watch: "2s", autoPromote: true, minRequests: 10} }

// writeConfig writes a config for service web, first version v1, run by
// the binary's hidden app subcommand, and returns its path.
func writeConfig(t *testing.T, dir, proxyAddr, adminAddr, token string, o options) string {
	t.Helper()
	if o.watch == "" {
		o.watch = "2s"
	}
	if o.readyTimeout == "" {
		o.readyTimeout = "5s"
	}
	smoke := `{path: /, expectStatus: 200, expectBody: "version="}`
	if o.smokePath != "" {
		smoke = fmt.Sprintf("{path: %s, expectStatus: 200}", o.smokePath)
	}
	proxyExtra := ""
	if o.proxy != "" {
		proxyExtra = indent(o.proxy, "  ")
	}
	platform := fmt.Sprintf(`process:
  command: [%q, "app", "--port", "{{.Port}}", "--version", "{{.Version}}"%s]
  replicas: 2%s
  stopGrace: 2s`, bin, quotedArgs(o.appArgs), envBlock(o.env))
	if o.platform != "" {
		platform = o.platform
	}
	cfg := fmt.Sprintf(`proxy:
  listen: %s
  versionHeader: X-Bluejay-Version
  drainTimeout: 5s
%sadmin:
  listen: %s
  token: %s
store:
  path: %q
services:
  - name: web
    version: v1
    platform:
%s    health: {path: /healthz, interval: 250ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 2, readyTimeout: %s}
    smoke:
      - %s
    blueGreen:
      previewWeight: %d
      previewDuration: 1s
      watch: %s
      minRequests: %d
      autoPromote: %t
`, proxyAddr, proxyExtra, adminAddr, token, filepath.Join(dir, "bluejay.db"), indent(platform, "      "), o.readyTimeout, smoke, o.previewWeight, o.watch, o.minRequests, o.autoPromote)
	if o.service != "" {
		cfg += indent(o.service, "    ")
	}
	if o.canary != "" {
		cfg += "    canary:\n" + indent(o.canary, "      ")
	}
	if o.rolling != "" {
		cfg += "    rolling:\n" + indent(o.rolling, "      ")
	}
	if o.analysis != "" {
		cfg += "analysis:\n" + indent(o.analysis, "  ")
	}
	cfg += o.top
	path := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// quotedArgs renders args as the tail of a YAML flow list.
func quotedArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		fmt.Fprintf(&b, ", %q", a)
	}
	return b.String()
}

// envBlock renders the process platform's env line, or nothing.
func envBlock(env string) string {
	if env == "" {
		return ""
	}
	return "\n  env: " + env
}

// indent prefixes every non-empty line of the YAML y with prefix.
func indent(y, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(strings.Trim(y, "\n") + "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
	}
	return b.String()
}

// ── CLI ─────────────────────────────────────────────────────────────

// result is how one CLI process ended.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("bluejay %s: exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// cliTimeout bounds one CLI process, --wait included.
const cliTimeout = 90 * time.Second

// bgCmd is a CLI process running in the background.
type bgCmd struct {
	args           []string
	cmd            *exec.Cmd
	cancel         context.CancelFunc
	stdout, stderr bytes.Buffer
	done           chan struct{}
	res            result
}

// startCLI starts bluejay with args in dir, with env added to the
// environment; the process is killed at cleanup if still running.
func startCLI(t *testing.T, dir string, env []string, args ...string) *bgCmd {
	t.Helper()
	b := spawnCLI(t, dir, env, args...)
	t.Cleanup(func() { b.cancel(); <-b.done })
	return b
}

// spawnCLI starts bluejay; the caller waits for it or kills it.
func spawnCLI(t *testing.T, dir string, env []string, args ...string) *bgCmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	b := &bgCmd{args: args, cancel: cancel, done: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, bin, args...)
	// Cancelling asks politely first: a serve stopped by SIGTERM stops its
	// instances, one killed outright leaves them for the next to adopt.
	b.cmd.Cancel = func() error { return b.cmd.Process.Signal(syscall.SIGTERM) }
	b.cmd.WaitDelay = 15 * time.Second
	b.cmd.Dir = dir
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting bluejay %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		defer close(b.done)
		defer cancel()
		err := b.cmd.Wait()
		b.res = result{args: args, code: b.cmd.ProcessState.ExitCode(), stdout: b.stdout.String(), stderr: b.stderr.String()}
		if err != nil && ctx.Err() != nil {
			b.res.stderr += fmt.Sprintf("\n[e2e: killed after %s]\n", cliTimeout)
		}
	}()
	return b
}

// wait waits for the process to exit.
func (b *bgCmd) wait() result {
	<-b.done
	return b.res
}

// runCLI runs bluejay with args in dir and waits for it.
func runCLI(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return spawnCLI(t, dir, env, args...).wait() // bounded by cliTimeout
}

// ── serve ───────────────────────────────────────────────────────────

// server is a `bluejay serve` process and its config.
type server struct {
	t            *testing.T
	dir          string
	config       string
	proxy, admin string
	token        string
	logPath      string
	proc         *serveProc // the current serve process; shared by on's copies
	service      string     // the service status, events and history read; "" means web
	serveArgs    []string   // more arguments of serve (--watch-config)
}

// name is the service the server's status, events and history read.
func (s *server) name() string {
	if s.service == "" {
		return "web"
	}
	return s.service
}

// serveProc is one run of `bluejay serve`.
type serveProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	code int           // the exit status, once done is closed
}

// on returns s reporting to t, for use in a subtest: a subtest must not
// call FailNow on its parent.
func (s *server) on(t *testing.T) *server {
	c := *s
	c.t = t
	return &c
}

// startServer writes a config in a temp dir, starts `bluejay serve` on
// it, and waits until the first rollout of v1 has completed. The server
// is stopped with SIGTERM at cleanup; its log is printed if the test
// failed.
func startServer(t *testing.T, o options) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, proxy: freeAddr(t), admin: freeAddr(t), token: "e2e-token",
		logPath: filepath.Join(t.TempDir(), "serve.log")}
	s.config = writeConfig(t, dir, s.proxy, s.admin, s.token, o)
	t.Cleanup(func() {
		s.stopAtCleanup()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.start()
	s.waitStatus("the first rollout (v1) Completed", 20*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed" && st.Stable == "v1"
	})
	return s
}

// start starts the serve process and waits for the admin API's /healthz.
func (s *server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close() // the child holds its own copy
	fmt.Fprintf(logf, "=== e2e: starting bluejay serve at %s\n", time.Now().Format(time.RFC3339Nano))
	p := &serveProc{cmd: exec.Command(bin, append([]string{"serve", "-c", s.config}, s.serveArgs...)...), done: make(chan struct{})}
	p.cmd.Dir = s.dir
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("starting bluejay serve: %v", err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	s.proc = p
	s.waitHealthz(10 * time.Second)
}

func (s *server) waitHealthz(timeout time.Duration) {
	s.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s.failIfExited()
		resp, err := client.Get("http://" + s.admin + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	s.t.Fatalf("admin /healthz on %s not OK after %s: %v", s.admin, timeout, last)
}

// exited reports whether the serve process has exited.
func (s *server) exited() bool {
	select {
	case <-s.proc.done:
		return true
	default:
		return false
	}
}

func (s *server) failIfExited() {
	s.t.Helper()
	if s.exited() {
		s.t.Fatalf("bluejay serve exited unexpectedly with status %d", s.proc.code)
	}
}

// stop sends SIGTERM and waits for the exit, then SIGKILL after
// timeout. It returns the exit status and whether SIGTERM sufficed.
func (s *server) stop(timeout time.Duration) (code int, graceful bool) {
	p := s.proc
	if s.exited() {
		return p.code, true
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(timeout):
	}
	p.cmd.Process.Kill()
	<-p.done
	return p.code, false
}

// kill sends SIGKILL and waits for the exit.
func (s *server) kill() {
	s.t.Helper()
	if err := s.proc.cmd.Process.Kill(); err != nil {
		s.t.Fatalf("kill -9 bluejay serve: %v", err)
	}
	<-s.proc.done
}

// stopAtCleanup stops a server still running and checks that SIGTERM
// stopped it cleanly.
func (s *server) stopAtCleanup() {
	// Instances outlive a killed serve (the next one adopts them): none
	// may outlive the test.
	defer killInstances(s.t, filepath.Join(s.dir, "bluejay.db"))
	if s.proc == nil || s.exited() {
		return
	}
	code, graceful := s.stop(20 * time.Second)
	if !graceful {
		s.t.Errorf("bluejay serve did not exit within 20s of SIGTERM; killed it")
	} else if code != 0 {
		s.t.Errorf("bluejay serve exited with status %d after SIGTERM, want 0", code)
	}
}

func (s *server) dumpLogs() {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		s.t.Logf("reading serve log: %v", err)
		return
	}
	s.t.Logf("bluejay serve log (%s):\n%s", s.logPath, b)
	logs, _ := filepath.Glob(filepath.Join(s.dir, "logs", "*.log"))
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		s.t.Logf("instance log %s (tail):\n%s", filepath.Base(p), b)
	}
}

// cli runs bluejay -c CONFIG args... and waits for it.
func (s *server) cli(args ...string) result {
	s.t.Helper()
	return runCLI(s.t, s.dir, nil, append([]string{"-c", s.config}, args...)...)
}

// cliBackground starts bluejay -c CONFIG args... without waiting.
func (s *server) cliBackground(args ...string) *bgCmd {
	s.t.Helper()
	return startCLI(s.t, s.dir, nil, append([]string{"-c", s.config}, args...)...)
}

// mustCLI runs a command that must exit with want.
func (s *server) mustCLI(want int, args ...string) result {
	s.t.Helper()
	r := s.cli(args...)
	if r.code != want {
		s.t.Fatalf("want exit %d, got:\n%s", want, r)
	}
	return r
}

// ── status ──────────────────────────────────────────────────────────

// status is the part of `bluejay status -o json` the tests read.
type status struct {
	Service   string         `json:"service"`
	Stable    string         `json:"stable"`
	Rollout   rollout        `json:"rollout"`
	Weights   map[string]int `json:"weights"`
	Instances []instance     `json:"instances"`
}

type rollout struct {
	ID       int64          `json:"id"`
	Strategy string         `json:"strategy"`
	Phase    string         `json:"phase"`
	Reason   string         `json:"reason"`
	From     version        `json:"from"`
	To       version        `json:"to"`
	Step     int            `json:"step"`
	Weights  map[string]int `json:"weights"`
	Exposure struct {
		Requests int64 `json:"requests"`
		Errors   int64 `json:"errors"`
	} `json:"exposure"`
}

type version struct {
	Label string   `json:"label"`
	Args  []string `json:"args"`
}

type instance struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Addr    string `json:"addr"`
	State   string `json:"state"`
	PID     int    `json:"pid"`
	Ready   bool   `json:"ready"`
}

// status runs `bluejay status web -o json` and decodes it.
func (s *server) status() (status, error) {
	r := s.cli("status", s.name(), "-o", "json")
	if r.code != 0 {
		return status{}, fmt.Errorf("%s", r)
	}
	var st status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return status{}, fmt.Errorf("decoding status -o json: %v\n%s", err, r.stdout)
	}
	if st.Service != s.name() {
		return status{}, fmt.Errorf("status %s -o json: want the object of it, got %s", s.name(), r.stdout)
	}
	return st, nil
}

// waitStatus polls `status -o json` until ok accepts it.
func (s *server) waitStatus(what string, timeout time.Duration, ok func(status) bool) status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last status
	var lastErr error
	for time.Now().Before(deadline) {
		s.failIfExited()
		st, err := s.status()
		if err == nil && ok(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	s.t.Fatalf("waiting %s for %s; last status: %+v (err %v)", timeout, what, last, lastErr)
	return last
}

// holdStatus polls `status -o json` for d and fails at the first status
// ok rejects; it returns how many statuses it read.
func (s *server) holdStatus(what string, d time.Duration, ok func(status) bool) int {
	s.t.Helper()
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		s.failIfExited()
		st, err := s.status()
		if err != nil {
			s.t.Fatal(err)
		}
		if !ok(st) {
			s.t.Fatalf("after %d polls over less than %s, no longer %s: rollout #%d %s (step %d), reason %q, weights %v",
				n, d, what, st.Rollout.ID, st.Rollout.Phase, st.Rollout.Step, st.Rollout.Reason, st.Weights)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return n
}

// event is one entry of `bluejay events -o json`.
type event struct {
	RolloutID int64              `json:"rolloutId"`
	Time      time.Time          `json:"time"`
	From      string             `json:"from"`
	Phase     string             `json:"phase"`
	Reason    string             `json:"reason"`
	Weights   map[string]int     `json:"weights"`
	Numbers   map[string]float64 `json:"numbers"`
}

func (e event) String() string {
	return fmt.Sprintf("%s #%d %s→%s weights %v: %s", e.Time.Format("15:04:05.000"), e.RolloutID, e.From, e.Phase, e.Weights, e.Reason)
}

// events runs `bluejay events web -o json -n 0` and returns the events
// of rollout id, oldest first, and the raw output.
func (s *server) events(id int64) ([]event, string) {
	s.t.Helper()
	r := s.mustCLI(0, "events", s.name(), "-o", "json", "-n", "0")
	var all []event
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil {
		s.t.Fatalf("events web -o json is not a JSON list of events: %v\n%s", err, r.stdout)
	}
	var out []event
	for _, e := range all {
		if e.RolloutID == id {
			out = append(out, e)
		}
	}
	return out, r.stdout
}

// rollouts runs `bluejay history web -o json -n 0`, newest first.
func (s *server) rollouts() []rollout {
	s.t.Helper()
	r := s.mustCLI(0, "history", s.name(), "-o", "json", "-n", "0")
	var rs []rollout
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		s.t.Fatalf("history web -o json is not a JSON list of rollouts: %v\n%s", err, r.stdout)
	}
	return rs
}

// ── load ────────────────────────────────────────────────────────────

// outcome is what one user request through the proxy got.
type outcome struct {
	status  int
	version string // the X-Bluejay-Version header
	err     error
}

func (o outcome) failed() bool { return o.err != nil || o.status != http.StatusOK }

func (o outcome) String() string {
	if o.err != nil {
		return "transport error: " + o.err.Error()
	}
	return fmt.Sprintf("%d from %q", o.status, o.version)
}

// load sends GET / through the proxy at a steady pace (every 5ms unless
// started with startLoadEvery) with one keep-alive client and records
// every outcome.
type load struct {
	url    string
	cancel context.CancelFunc
	done   chan struct{}
	start  time.Time

	mu      sync.Mutex
	results []outcome
	end     time.Time // when the load stopped; zero while it runs
}

// startLoad starts a load on the proxy; it stops at cleanup at the latest.
func startLoad(t *testing.T, proxyAddr string) *load {
	return startLoadEvery(t, proxyAddr, 5*time.Millisecond)
}

// startLoadEvery starts a load that sends one request every interval
// (fewer when a request takes longer).
func startLoadEvery(t *testing.T, proxyAddr string, interval time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{url: "http://" + proxyAddr + "/", cancel: cancel, done: make(chan struct{}), start: time.Now()}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	go func() {
		defer close(l.done)
		defer func() { l.mu.Lock(); l.end = time.Now(); l.mu.Unlock() }()
		defer client.CloseIdleConnections()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				l.send(ctx, client)
			}
		}
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *load) send(ctx context.Context, client *http.Client) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		panic(err)
	}
	var o outcome
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		o.status, o.version = resp.StatusCode, resp.Header.Get("X-Bluejay-Version")
		if o.version == "" && o.status == http.StatusOK {
			// A router that names no version: the sample app's body does.
			if v, ok := strings.CutPrefix(string(body), "version="); ok {
				o.version, _, _ = strings.Cut(v, " ")
			}
		}
	}
	if ctx.Err() != nil {
		return // stopped mid-request: not the proxy's doing
	}
	o.err = err
	l.mu.Lock()
	l.results = append(l.results, o)
	l.mu.Unlock()
}

// stop stops the load and waits for its last request.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

// mark returns a position in the outcomes, for since.
func (l *load) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

// since returns the outcomes recorded after mark.
func (l *load) since(mark int) []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.results[mark:]...)
}

// byVersion counts the responses by X-Bluejay-Version, failed or not.
func (l *load) byVersion() map[string]int {
	out := map[string]int{}
	for _, o := range l.since(0) {
		if o.err == nil {
			out[o.version]++
		}
	}
	return out
}

// failures lists every failed request.
func (l *load) failures() []outcome { return l.failuresSince(0) }

// failuresSince lists the failed requests recorded after mark.
func (l *load) failuresSince(mark int) []outcome {
	var out []outcome
	for _, o := range l.since(mark) {
		if o.failed() {
			out = append(out, o)
		}
	}
	return out
}

func (l *load) summary() string {
	return fmt.Sprintf("%d requests (%.0f/s), by version %v, %d failed", l.mark(), l.rate(), l.byVersion(), len(l.failures()))
}

// rate is the requests per second recorded since the load started.
func (l *load) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := l.end
	if end.IsZero() {
		end = time.Now()
	}
	return float64(len(l.results)) / end.Sub(l.start).Seconds()
}

// waitServed polls until the last n requests were all answered 200 by v.
func (l *load) waitServed(t *testing.T, v string, n int, timeout time.Duration) {
	t.Helper()
	start := l.mark()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		got := l.since(start)
		if len(got) >= n && allServedBy(got[len(got)-n:], v) {
			return
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	got := l.since(start)
	t.Fatalf("after %s, the last %d requests were not all answered by %s: %v (%s)", timeout, n, v, tail(got, n), l.summary())
}

// waitCount polls until v answered at least n requests in all.
func (l *load) waitCount(t *testing.T, v string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l.byVersion()[v] >= n {
			return
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Fatalf("after %s, %s had answered fewer than %d requests (%s)", timeout, v, n, l.summary())
}

// assertNoFailures fails the test for every failed request.
func (l *load) assertNoFailures(t *testing.T) {
	t.Helper()
	if f := l.failures(); len(f) > 0 {
		t.Errorf("%d of %d user requests failed; first ones: %v", len(f), l.mark(), tail(f[:min(len(f), 10)], 10))
	}
}

func allServedBy(outs []outcome, v string) bool {
	for _, o := range outs {
		if o.failed() || o.version != v {
			return false
		}
	}
	return true
}

func tail(outs []outcome, n int) []string {
	var out []string
	for _, o := range outs[max(0, len(outs)-n):] {
		out = append(out, o.String())
	}
	return out
}

// waitProxyServes polls the proxy with fresh connections until n
// requests in a row are answered 200 by v.
func waitProxyServes(t *testing.T, proxyAddr, v string, n int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	inARow := 0
	var last outcome
	for time.Now().Before(deadline) {
		last = outcome{}
		resp, err := client.Get("http://" + proxyAddr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			last.status, last.version = resp.StatusCode, resp.Header.Get("X-Bluejay-Version")
		}
		last.err = err
		if last.failed() || last.version != v {
			inARow = 0
			time.Sleep(20 * time.Millisecond) // poll interval
			continue
		}
		if inARow++; inARow == n {
			return
		}
	}
	t.Fatalf("after %s the proxy did not answer %d requests in a row from %s; last: %v", timeout, n, v, last)
}

// ── processes ───────────────────────────────────────────────────────

// processGone reports whether pid has exited (a zombie counts as gone:
// it runs nothing and holds no port).
func processGone(pid int) bool {
	if _, err := os.Stat("/proc/self"); err != nil {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) // no procfs
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		// pid (comm) STATE ...; comm may hold spaces and parentheses.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			return s[i+2] == 'Z'
		}
		return false
	}
	return errors.Is(err, os.ErrNotExist)
}

// waitFor waits up to timeout for the process to exit; ok is false if
// it did not (it is killed at cleanup).
func (b *bgCmd) waitFor(timeout time.Duration) (res result, ok bool) {
	select {
	case <-b.done:
		return b.res, true
	case <-time.After(timeout):
		return result{}, false
	}
}

// historyRow is one line of `bluejay history` (table output).
type historyRow struct {
	id, from, to, phase string
}

// history runs `bluejay history web -n 0` and parses its table by the
// header's column names, so that new columns do not break it. The
// columns up to PHASE hold one word each.
func (s *server) history() ([]historyRow, string) {
	s.t.Helper()
	r := s.mustCLI(0, "history", s.name(), "-n", "0")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	col := map[string]int{}
	for i, name := range strings.Fields(lines[0]) {
		col[name] = i
	}
	for _, name := range []string{"ID", "FROM", "TO", "PHASE"} {
		if _, ok := col[name]; !ok {
			s.t.Fatalf("history: no %s column in the header:\n%s", name, r.stdout)
		}
	}
	var rows []historyRow
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col["PHASE"] {
			s.t.Fatalf("history: short line %q in:\n%s", line, r.stdout)
		}
		rows = append(rows, historyRow{id: f[col["ID"]], from: f[col["FROM"]], to: f[col["TO"]], phase: f[col["PHASE"]]})
	}
	return rows, r.stdout
}

// waitFirstVersion polls `bluejay status SERVICE -o json` (run in dir with
// env, and args before the command such as -c FILE) until the service's
// first rollout has ended Completed. Its version takes traffic a tick
// before that (routed, then Completed once the router confirmed it), and a
// deploy in between is refused; a person reading curl's answer is slower.
func waitFirstVersion(t *testing.T, dir string, env []string, service string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := runCLI(t, dir, env, append(args, "status", service, "-o", "json")...)
		var st status
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Rollout.Phase == "Completed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's first version not Completed after 30s: %s", service, r)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}
