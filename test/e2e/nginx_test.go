package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router/nginx/nginxtest"
)

// nginxOptions is promOptions behind a real NGINX: bluejay renders the
// split into NGINX's included file and reloads it; its own proxy serves
// nobody; Prometheus scrapes the instances bluejay lists and judges them.
// It returns the users' URL (NGINX's listener).
func nginxOptions(t *testing.T) (options, string) {
	d := nginxtest.New(t)
	o := promOptions(t)
	n := d.Router
	o.top += fmt.Sprintf("router:\n  nginx: {config: %q, mainConfig: %q, pidFile: %q, binary: %q, listen: %q, status: %q}\n",
		n.Config, n.MainConfig, n.PIDFile, n.Binary, n.Listen, n.Status)
	if n.Prefix != "" {
		o.top = strings.Replace(o.top, "status:", fmt.Sprintf("prefix: %q, status:", n.Prefix), 1)
	}
	return o, n.Listen
}

// TestCanaryBehindNginxJudgedFromPrometheusRollsBack is issue 6's "done
// means": a canary of the sample app behind NGINX, judged from
// Prometheus, is rolled back automatically when it errors, and traffic
// is back on v1 through NGINX.
func TestCanaryBehindNginxJudgedFromPrometheusRollsBack(t *testing.T) {
	o, users := nginxOptions(t)
	s := startServer(t, o)
	l := startLoadEvery(t, users, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 20*time.Second)

	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("deploy of a failing canary behind NGINX: want exit 1 and RolledBack, got:\n%s", r)
	}
	ro := s.rolloutTo("v2")
	t.Logf("rolled back: %s", ro.Reason)
	if !strings.Contains(ro.Reason, "canary.errorRate") {
		t.Errorf("the rollback reason lacks the canary's error rate from Prometheus: %q", ro.Reason)
	}
	// The phase is persisted before the route is acted on, so the CLI can
	// see RolledBack while NGINX still reloads: count from when the split
	// the controller applied says v2 is out.
	s.waitStatus("the rollback's split applied", 10*time.Second, func(st status) bool { return st.Weights["v2"] == 0 })
	mark := l.mark()
	l.waitServed(t, "v1", 100, 20*time.Second)
	// An old worker's idle keep-alive connection serves its next request
	// with the old config before closing (internal/router/nginx's doc): at
	// most one such request per load client.
	if byV := versionsOf(l.since(mark)); byV["v2"] > 2 {
		t.Errorf("after the rollback was applied NGINX still sent %d requests to v2", byV["v2"])
	}
}

// TestCanaryBehindNginxPromotes: a healthy canary goes through NGINX
// reloads to 100% without a failed request.
func TestCanaryBehindNginxPromotes(t *testing.T) {
	o, users := nginxOptions(t)
	s := startServer(t, o)
	l := startLoadEvery(t, users, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 20*time.Second)
	r := s.cli(deployCanary("v2", true)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy of a healthy canary behind NGINX: want exit 0 and Completed, got:\n%s", r)
	}
	l.waitServed(t, "v2", 50, 20*time.Second)
	l.assertNoFailures(t)
}

func versionsOf(outs []outcome) map[string]int {
	m := map[string]int{}
	for _, o := range outs {
		m[o.version]++
	}
	return m
}
