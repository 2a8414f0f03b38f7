package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// This file holds what the crash harness (crash_test.go) runs on: a serve
// started on an edited config, optionally beside a separate `bluejay
// proxy`; the admin API read directly (a CLI process per poll would cost
// more than the rollouts); and a load that timestamps every request so
// that failures can be set against the moments serve was down.

// configEdit replaces Old, which must occur exactly once in the config
// writeConfig wrote, by New.
type configEdit struct{ Old, New string }

// Edits the crash scenarios make to writeConfig's config.
var (
	replicas3 = configEdit{"        replicas: 2\n", "        replicas: 3\n"}
	// blueGreen.scaleDownDelay defaults to 5m: the old versions would pile
	// up over a dozen rollouts.
	shortScaleDown = configEdit{"      autoPromote: true\n", "      autoPromote: true\n      scaleDownDelay: 1s\n"}
	// Probes that time out after 250ms twice in a row (to lose an
	// instance) still fail now and then on a busy two-core machine while
	// a restarted serve starts several instances at once: that would
	// roll back a good version for a reason that is no crash's.
	steadyProbes = configEdit{"interval: 250ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 2,",
		"interval: 250ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3,"}
)

// controlEdit sets proxy.control: serve then runs no proxy itself and
// drives the separate `bluejay proxy` listening there.
func controlEdit(addr string) configEdit {
	return configEdit{"  drainTimeout: 5s\n", "  drainTimeout: 5s\n  control: " + addr + "\n"}
}

// crashEnv is a serve process (restartable after SIGKILL), its store,
// and in separate mode the `bluejay proxy` process beside it.
type crashEnv struct {
	*server
	storePath string
	separate  bool
	control   string // proxy.control in separate mode
	proxyLog  string
	proxyProc *serveProc // the separate proxy; nil in-process
	api       *http.Client

	mu         sync.Mutex
	routeSkips map[string]bool // paths that answered 404, reported once
}

// newCrashEnv writes the config (writeConfig's, with edits) and registers
// the cleanup; it starts nothing.
func newCrashEnv(t *testing.T, o options, separate bool, edits ...configEdit) *crashEnv {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, proxy: freeAddr(t), admin: freeAddr(t), token: "e2e-token",
		logPath: filepath.Join(t.TempDir(), "serve.log")}
	e := &crashEnv{server: s, storePath: filepath.Join(dir, "bluejay.db"), separate: separate,
		api: &http.Client{Timeout: 5 * time.Second}, routeSkips: map[string]bool{}}
	edits = append(edits, steadyProbes)
	if separate {
		e.control = freeAddr(t)
		e.proxyLog = filepath.Join(t.TempDir(), "proxy.log")
		edits = append(edits, controlEdit(e.control))
	}
	s.config = writeConfig(t, dir, s.proxy, s.admin, s.token, o)
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, ed := range edits {
		if n := strings.Count(cfg, ed.Old); n != 1 {
			t.Fatalf("crash config edit: %q occurs %d times in the config writeConfig wrote, want once:\n%s", ed.Old, n, cfg)
		}
		cfg = strings.Replace(cfg, ed.Old, ed.New, 1)
	}
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

// boot starts the separate proxy if any, then serve, and waits for the
// first rollout (v1) to complete.
func (e *crashEnv) boot() {
	e.t.Helper()
	if e.separate {
		e.startProxy()
	}
	e.start()
	e.waitProxyListening(10 * time.Second)
	e.waitRollout("the first rollout (v1) Completed", 20*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed" && st.Stable == "v1"
	})
}

// startProxy starts `bluejay proxy -c CONFIG` and waits for its control
// listener.
func (e *crashEnv) startProxy() {
	e.t.Helper()
	logf, err := os.OpenFile(e.proxyLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	p := &serveProc{cmd: exec.Command(bin, "proxy", "-c", e.config), done: make(chan struct{})}
	p.cmd.Dir = e.dir
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("starting bluejay proxy: %v", err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	e.proxyProc = p
	if err := waitTCP(e.control, 10*time.Second, p.done); err != nil {
		e.t.Fatalf("bluejay proxy: control listener %s: %v", e.control, err)
	}
}

// proxyExited reports whether the separate proxy has exited.
func (e *crashEnv) proxyExited() bool {
	if e.proxyProc == nil {
		return false
	}
	select {
	case <-e.proxyProc.done:
		return true
	default:
		return false
	}
}

// waitTCP dials addr until it accepts a connection; it gives up when
// exited is closed (the listening process died) or after timeout.
func waitTCP(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the process exited before listening")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("not listening after %s: %v", timeout, last)
}

// waitProxyListening waits until the proxy accepts connections.
func (e *crashEnv) waitProxyListening(timeout time.Duration) {
	e.t.Helper()
	var exited <-chan struct{} = e.proc.done
	if e.proxyProc != nil {
		exited = e.proxyProc.done
	}
	if err := waitTCP(e.proxy, timeout, exited); err != nil {
		e.t.Fatalf("proxy %s: %v", e.proxy, err)
	}
}

// logMark appends a line to serve's log, to find the kills in it.
func (e *crashEnv) logMark(format string, args ...any) {
	f, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== e2e: %s at %s\n", fmt.Sprintf(format, args...), time.Now().Format(time.RFC3339Nano))
}

// cleanup stops serve gracefully, kills any instance it left, stops the
// separate proxy, and prints the logs if the test failed.
func (e *crashEnv) cleanup() {
	t := e.t
	if e.proc != nil && !e.exited() {
		code, graceful := e.stop(20 * time.Second)
		if !graceful {
			t.Errorf("bluejay serve did not exit within 20s of SIGTERM; killed it")
		} else if code != 0 {
			t.Errorf("bluejay serve exited with status %d after SIGTERM, want 0", code)
		}
	}
	killInstances(t, e.storePath)
	if p := e.proxyProc; p != nil && !e.proxyExited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("bluejay proxy did not exit within 15s of SIGTERM; killed it")
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if t.Failed() {
		e.dumpLogs()
		if e.proxyLog != "" {
			b, _ := os.ReadFile(e.proxyLog)
			t.Logf("bluejay proxy log (%s):\n%s", e.proxyLog, b)
		}
	}
}

// ── admin API ───────────────────────────────────────────────────────

// call does one admin API request; body, if not nil, is sent as JSON and
// out, if not nil, receives the decoded answer of a 2xx.
func (e *crashEnv) call(method, path string, body, out any) (int, []byte, error) {
	return e.callAt(e.admin, method, path, body, out)
}

// callAt is call on another listener that takes the admin token (the
// separate proxy's control listener).
func (e *crashEnv) callAt(addr, method, path string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+addr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.api.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, fmt.Errorf("%s %s: decoding: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode, b, nil
}

// apiStatus reads GET /v1/services/web.
func (e *crashEnv) apiStatus() (status, error) {
	var st status
	_, _, err := e.call(http.MethodGet, "/v1/services/web", nil, &st)
	return st, err
}

// waitRollout polls the service's status until ok accepts it.
func (e *crashEnv) waitRollout(what string, timeout time.Duration, ok func(status) bool) status {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last status
	var lastErr error
	for time.Now().Before(deadline) {
		e.failIfExited()
		st, err := e.apiStatus()
		if err == nil && ok(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	e.t.Fatalf("waiting %s for %s; last status: rollout #%d %s→%s %s (step %d) %q, weights %v (err %v)", timeout, what,
		last.Rollout.ID, last.Rollout.From.Label, last.Rollout.To.Label, last.Rollout.Phase, last.Rollout.Step,
		last.Rollout.Reason, last.Weights, lastErr)
	return last
}

// deploy starts a rollout of web to version through the API.
func (e *crashEnv) deploy(version, strategy string, args []string) rollout {
	e.t.Helper()
	var ro rollout
	body := map[string]any{"version": version, "strategy": strategy}
	if len(args) > 0 {
		body["args"] = args
	}
	if _, _, err := e.call(http.MethodPost, "/v1/services/web/deploy", body, &ro); err != nil {
		e.t.Fatalf("deploy %s (%s, args %v): %v", version, strategy, args, err)
	}
	return ro
}

// crashEvent is one entry of the decision log, as the API returns it.
type crashEvent struct {
	ID        int64          `json:"id"`
	RolloutID int64          `json:"rolloutId"`
	Time      time.Time      `json:"time"`
	From      string         `json:"from"`
	Phase     string         `json:"phase"`
	Reason    string         `json:"reason"`
	Weights   map[string]int `json:"weights"`
}

func (ev crashEvent) String() string {
	return fmt.Sprintf("event %d %s #%d %s→%s %v: %s", ev.ID, ev.Time.Format("15:04:05.000"), ev.RolloutID,
		ev.From, ev.Phase, ev.Weights, ev.Reason)
}

func (ev crashEvent) equal(o crashEvent) bool {
	return ev.ID == o.ID && ev.RolloutID == o.RolloutID && ev.Time.Equal(o.Time) && ev.From == o.From &&
		ev.Phase == o.Phase && ev.Reason == o.Reason && maps.Equal(ev.Weights, o.Weights)
}

// apiEvents reads every event of web, oldest first.
func (e *crashEnv) apiEvents() ([]crashEvent, error) {
	var evs []crashEvent
	_, _, err := e.call(http.MethodGet, "/v1/services/web/events?limit=0", nil, &evs)
	return evs, err
}

// apiRollouts reads every rollout of web, newest first.
func (e *crashEnv) apiRollouts() ([]rollout, error) {
	var rs []rollout
	_, _, err := e.call(http.MethodGet, "/v1/services/web/rollouts?limit=0", nil, &rs)
	return rs, err
}

// ── routes: the store's table against the proxy's ───────────────────

// The stored table and the table the proxy applied.
const (
	storedRoutesPath  = "/v1/routes"
	appliedRoutesPath = "/v1/dataplane/routes"
)

// routeTables reads both tables: the stored one from the admin API, the
// applied one from the proxy's control API (mounted on the admin listener
// when serve runs the proxy itself). skipped names an endpoint that
// answered 404, in which case the tables cannot be compared.
func (e *crashEnv) routeTables() (stored, applied []router.Route, skipped string, err error) {
	dataplane := e.admin
	if e.separate {
		dataplane = e.control
	}
	for _, p := range []struct {
		addr, path string
		out        *[]router.Route
	}{{e.admin, storedRoutesPath, &stored}, {dataplane, appliedRoutesPath, &applied}} {
		code, b, err := e.callAt(p.addr, http.MethodGet, p.path, nil, nil)
		if code == http.StatusNotFound {
			return nil, nil, p.path, nil
		}
		if err != nil {
			return nil, nil, "", err
		}
		if *p.out, err = decodeRoutes(b); err != nil {
			return nil, nil, "", fmt.Errorf("GET %s: %v\n%s", p.path, err, b)
		}
	}
	return stored, applied, "", nil
}

// decodeRoutes reads a route table: a JSON list of routes, an object
// {"routes": [...]}, or an object keyed by service.
func decodeRoutes(b []byte) ([]router.Route, error) {
	var list []router.Route
	if err := json.Unmarshal(b, &list); err == nil {
		return normalRoutes(list), nil
	}
	var obj struct {
		Routes []router.Route `json:"routes"`
	}
	if err := json.Unmarshal(b, &obj); err == nil && obj.Routes != nil {
		return normalRoutes(obj.Routes), nil
	}
	var byService map[string]router.Route
	if err := json.Unmarshal(b, &byService); err != nil {
		return nil, fmt.Errorf("not a route table (a list, {\"routes\": [...]} or an object by service)")
	}
	for name, r := range byService {
		r.Service = cmp.Or(r.Service, name)
		list = append(list, r)
	}
	return normalRoutes(list), nil
}

// normalRoutes orders a table by service and each backend's addresses, so
// that two tables compare by content (the backends' order is the pick
// order, which is content, so it stays).
func normalRoutes(rs []router.Route) []router.Route {
	slices.SortFunc(rs, func(a, b router.Route) int { return strings.Compare(a.Service, b.Service) })
	for i := range rs {
		for j := range rs[i].Backends {
			slices.Sort(rs[i].Backends[j].Addrs)
			if len(rs[i].Backends[j].Addrs) == 0 {
				rs[i].Backends[j].Addrs = nil
			}
		}
	}
	return rs
}

// checkRoutes polls both tables until they are equal; the controller
// persists a route just before it applies it, so they may differ for a
// moment. It reports a mismatch that lasts timeout, or (once) an endpoint
// that answers 404, and returns whether the tables were found equal.
func (e *crashEnv) checkRoutes(t *testing.T, where string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var stored, applied []router.Route
	var err error
	for {
		var skipped string
		stored, applied, skipped, err = e.routeTables()
		if skipped != "" {
			e.mu.Lock()
			first := !e.routeSkips[skipped]
			e.routeSkips[skipped] = true
			e.mu.Unlock()
			if first {
				t.Errorf("%s: GET %s answers 404: the proxy's route table cannot be compared with the store's", where, skipped)
			}
			return false
		}
		if err == nil && reflect.DeepEqual(stored, applied) {
			return true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if err != nil {
		t.Errorf("%s: reading the route tables: %v", where, err)
		return false
	}
	sj, _ := json.MarshalIndent(stored, "", "  ")
	aj, _ := json.MarshalIndent(applied, "", "  ")
	t.Errorf("%s: the proxy's route table differs from the store's for %s:\nstore (GET %s on admin):\n%s\nproxy (GET %s on %s):\n%s",
		where, timeout, storedRoutesPath, sj, appliedRoutesPath, map[bool]string{false: "admin", true: "proxy.control"}[e.separate], aj)
	return false
}

// ── load with timestamps ────────────────────────────────────────────

// crashOutcome is one user request through the proxy.
type crashOutcome struct {
	start, end time.Time
	status     int
	version    string
	err        error
}

func (o crashOutcome) String() string {
	at := o.start.Format("15:04:05.000")
	if o.err != nil {
		return at + " transport error: " + o.err.Error()
	}
	return fmt.Sprintf("%s %d from %q", at, o.status, o.version)
}

// crashLoad sends GET / through the proxy every 5ms with one keep-alive
// client and records every request with its start and end.
type crashLoad struct {
	url    string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	results []crashOutcome
}

func startCrashLoad(t *testing.T, proxyAddr string) *crashLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &crashLoad{url: "http://" + proxyAddr + "/", cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	go func() {
		defer close(l.done)
		defer client.CloseIdleConnections()
		tick := time.NewTicker(5 * time.Millisecond)
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

func (l *crashLoad) send(ctx context.Context, client *http.Client) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		panic(err)
	}
	o := crashOutcome{start: time.Now()}
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		o.status, o.version = resp.StatusCode, resp.Header.Get("X-Bluejay-Version")
	}
	o.end = time.Now()
	if ctx.Err() != nil {
		return // stopped mid-request
	}
	o.err = err
	l.mu.Lock()
	l.results = append(l.results, o)
	l.mu.Unlock()
}

func (l *crashLoad) stop() {
	l.cancel()
	<-l.done
}

func (l *crashLoad) all() []crashOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

// waitServed polls until the last n requests were answered 200 by v.
func (l *crashLoad) waitServed(t *testing.T, v string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		got := l.all()
		if len(got) >= n && !slices.ContainsFunc(got[len(got)-n:], func(o crashOutcome) bool {
			return o.err != nil || o.status != http.StatusOK || o.version != v
		}) {
			return
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Fatalf("after %s, the last %d requests were not all answered 200 by %s", timeout, n, v)
}

// downtime is a span when the proxy was down: from the kill of serve to
// the restarted proxy's first accepted connection.
type downtime struct{ from, to time.Time }

// loadReport classifies the requests: answered 200; answered 500 by a
// version that injects errors on purpose; failed to connect or cut off
// while the proxy was down (not violations); and violations: any other
// answer (502 from a dead instance, 503 with no instance, 404 with no
// route...) or a transport error while the proxy was up.
type loadReport struct {
	total, ok, injected, downtimeErrs int
	violations                        []crashOutcome
	byStatus                          map[int]int // violations by status; 0: transport error
}

func classify(outs []crashOutcome, downs []downtime, injecting map[string]bool) loadReport {
	r := loadReport{total: len(outs), byStatus: map[int]int{}}
	for _, o := range outs {
		switch {
		case o.err == nil && o.status == http.StatusOK:
			r.ok++
		case o.err == nil && o.status == http.StatusInternalServerError && injecting[o.version]:
			r.injected++
		case o.err != nil && slices.ContainsFunc(downs, func(d downtime) bool {
			return !o.end.Before(d.from) && !o.start.After(d.to)
		}):
			r.downtimeErrs++
		default:
			r.violations = append(r.violations, o)
			r.byStatus[o.status]++
		}
	}
	return r
}

func (r loadReport) String() string {
	return fmt.Sprintf("%d requests: %d ok, %d injected 500s from bad versions, %d client errors while serve was down, %d proxy errors %v",
		r.total, r.ok, r.injected, r.downtimeErrs, len(r.violations), r.byStatus)
}
