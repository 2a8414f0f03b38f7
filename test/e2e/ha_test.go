package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
)

// haServer is one of several serves on one etcd store, sharing a
// directory (so the instances one started can be adopted by another on
// this machine).
func haServer(t *testing.T, dir, name string, o options, endpoints []string, prefix string) *server {
	t.Helper()
	s := &server{t: t, dir: dir, proxy: freeAddr(t), admin: freeAddr(t), token: "e2e-token",
		logPath: filepath.Join(t.TempDir(), name+".log")}
	tmp := t.TempDir()
	cfg, err := os.ReadFile(writeConfig(t, tmp, s.proxy, s.admin, s.token, o))
	if err != nil {
		t.Fatal(err)
	}
	store := regexp.MustCompile(`(?m)^store:\n  path: .*$`)
	etcd := fmt.Sprintf("store:\n  etcd: {endpoints: [%q], prefix: %q, leaseTTL: 2s}", endpoints[0], prefix)
	s.config = filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(s.config, []byte(store.ReplaceAllString(string(cfg), etcd)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopAtCleanup()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.start()
	return s
}

// TestLeaderKilledMidCanary: two serves on one etcd elect one controller.
// The leader is killed (SIGKILL) in the middle of a canary: the standby
// takes over within about one lease TTL (2s), adopts the instances, and
// the rollout carries on from its persisted phase to Completed, with an
// unbroken event chain — while users, served by the standby's proxy
// (which follows the store), see no failed request.
func TestLeaderKilledMidCanary(t *testing.T) {
	srv := etcdtest.New(t)
	prefix := srv.Prefix(t)
	dir := t.TempDir()
	t.Cleanup(func() { killInstances(t, filepath.Join(dir, "bluejay")) })
	o := canaryOptions(`
steps:
  - setWeight: 20
  - pause: {duration: 3s}
  - setWeight: 50
  - pause: {duration: 3s}
  - setWeight: 100`, "")
	a := haServer(t, dir, "a", o, srv.Endpoints(), prefix)
	a.waitStatus("a leads and v1 is Completed", 20*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed"
	})
	b := haServer(t, dir, "b", o, srv.Endpoints(), prefix)
	if r := b.cli("deploy", "web", "v9"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "standby") {
		t.Errorf("a command to the standby: want it refused as a standby, got:\n%s", r)
	}
	waitProxyServes(t, b.proxy, "v1", 10, 10*time.Second) // the standby's proxy follows the store

	l := startLoadEvery(t, b.proxy, 10*time.Millisecond)
	a.mustCLI(0, deployCanary("v2", false)...)
	a.waitStatus("the canary at 20%", 20*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Weights["v2"] == 20
	})
	killed := time.Now()
	a.kill()

	st := b.waitStatus("b leads and finishes the canary", 60*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Completed"
	})
	t.Logf("the standby completed the canary %s after the leader was killed", time.Since(killed).Round(100*time.Millisecond))
	logB, _ := os.ReadFile(b.logPath)
	m := regexp.MustCompile(`time=(\S+) level=INFO msg="leading: this bluejay runs the rollouts"`).FindSubmatch(logB)
	if m == nil {
		t.Fatalf("b never logged that it leads:\n%s", logB)
	}
	if led, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil {
		took := led.Sub(killed)
		t.Logf("the standby led %s after the leader was killed (lease TTL 2s)", took.Round(10*time.Millisecond))
		if took > 6*time.Second {
			t.Errorf("the standby took %s to lead, want about one lease TTL (2s)", took)
		}
	}
	evs, raw := b.events(st.Rollout.ID)
	for i := 1; i < len(evs); i++ {
		if evs[i].From != "" && evs[i].From != evs[i-1].Phase {
			t.Errorf("event %d goes from %s, but the one before ended in %s:\n%s", i, evs[i].From, evs[i-1].Phase, raw)
		}
	}
	l.waitServed(t, "v2", 50, 20*time.Second)
	l.assertNoFailures(t)
}

// TestFleetJudgedAsOneFromPrometheus: two serves on one etcd, each with
// its proxy; users reach only the standby's. With prometheus.fleet, the
// leader — whose own proxy sees none of the traffic — judges the canary
// from Prometheus scraping both serves' /metrics: the failing canary is
// rolled back on the errors the standby's proxy saw, and the blast
// radius counts them.
func TestFleetJudgedAsOneFromPrometheus(t *testing.T) {
	srv := etcdtest.New(t)
	prefix := srv.Prefix(t)
	dir := t.TempDir()
	t.Cleanup(func() { killInstances(t, filepath.Join(dir, "bluejay")) })
	fleet := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(fleet, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := startPrometheusJob(t, filepath.Join(t.TempDir(), "apps.json"), fmt.Sprintf(`
- job_name: fleet
  authorization: {credentials: e2e-token}
  file_sd_configs: [{files: [%q], refresh_interval: 1s}]`, fleet))
	o := canaryOptions(`
analysis: prometheus
steps:
  - setWeight: 50
  - analysis: {duration: 30s}
  - setWeight: 100`, "")
	o.top = fmt.Sprintf("prometheus: {address: %q, fleet: true}\n", url)

	a := haServer(t, dir, "a", o, srv.Endpoints(), prefix)
	a.waitStatus("a leads and v1 is Completed", 20*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed"
	})
	b := haServer(t, dir, "b", o, srv.Endpoints(), prefix)
	targets := fmt.Sprintf(`[{"targets": [%q, %q]}]`, a.admin, b.admin)
	if err := os.WriteFile(fleet, []byte(targets), 0o644); err != nil {
		t.Fatal(err)
	}
	waitProxyServes(t, b.proxy, "v1", 10, 10*time.Second)
	l := startLoadEvery(t, b.proxy, 10*time.Millisecond) // the leader's proxy serves no one

	r := a.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("deploy of a failing canary served by the standby's proxy: want exit 1 and RolledBack, got:\n%s", r)
	}
	ro := a.rolloutTo("v2")
	t.Logf("rolled back: %s (exposure %d requests, %d errors)", ro.Reason, ro.Exposure.Requests, ro.Exposure.Errors)
	if !strings.Contains(ro.Reason, "error-rate: Fail: canary") {
		t.Errorf("the rollback reason lacks the canary's errors from Prometheus: %q", ro.Reason)
	}
	if ro.Exposure.Requests == 0 || ro.Exposure.Errors == 0 {
		t.Errorf("exposure = %+v: the blast radius missed the requests the standby's proxy sent to v2", ro.Exposure)
	}
	if served := l.byVersion()["v2"]; int64(served) < ro.Exposure.Requests/2 {
		t.Errorf("exposure counts %d requests to v2, but users saw only %d", ro.Exposure.Requests, served)
	}
}
