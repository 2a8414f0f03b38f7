package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router/haproxy/haproxytest"
)

// haproxyOptions is promOptions behind a real HAProxy driven through its
// runtime API; it returns the users' address (HAProxy's listener).
func haproxyOptions(t *testing.T) (options, string) {
	d := haproxytest.New(t)
	o := promOptions(t)
	h := d.Router
	o.top += fmt.Sprintf("router:\n  haproxy: {socket: %q, config: %q, stateFile: %q, masterSocket: %q, binary: %q, listen: %q}\n",
		h.Socket, h.Config, h.StateFile, h.MasterSocket, h.Binary, h.Listen)
	return o, h.Listen
}

// TestCanaryBehindHAProxyJudgedFromPrometheusRollsBack: a canary of the
// sample app behind HAProxy, judged from Prometheus, is rolled back when
// it errors, and HAProxy sends nothing more to it once the rollback's
// split is applied.
func TestCanaryBehindHAProxyJudgedFromPrometheusRollsBack(t *testing.T) {
	o, users := haproxyOptions(t)
	s := startServer(t, o)
	l := startLoadEvery(t, users, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 20*time.Second)

	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("deploy of a failing canary behind HAProxy: want exit 1 and RolledBack, got:\n%s", r)
	}
	ro := s.rolloutTo("v2")
	t.Logf("rolled back: %s", ro.Reason)
	if !strings.Contains(ro.Reason, "canary.errorRate") {
		t.Errorf("the rollback reason lacks the canary's error rate from Prometheus: %q", ro.Reason)
	}
	s.waitStatus("the rollback's split applied", 10*time.Second, func(st status) bool { return st.Weights["v2"] == 0 })
	mark := l.mark()
	l.waitServed(t, "v1", 100, 20*time.Second)
	if byV := versionsOf(l.since(mark)); byV["v2"] > 0 {
		t.Errorf("after the rollback was applied HAProxy still sent %d requests to v2", byV["v2"])
	}
}

// TestCanaryBehindHAProxyPromotes: a healthy canary goes to 100% through
// runtime-API changes without a failed request.
func TestCanaryBehindHAProxyPromotes(t *testing.T) {
	o, users := haproxyOptions(t)
	s := startServer(t, o)
	l := startLoadEvery(t, users, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 20*time.Second)
	r := s.cli(deployCanary("v2", true)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy of a healthy canary behind HAProxy: want exit 0 and Completed, got:\n%s", r)
	}
	l.waitServed(t, "v2", 50, 20*time.Second)
	l.assertNoFailures(t)
}
