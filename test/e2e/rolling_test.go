package e2e

import (
	"strings"
	"testing"
	"time"
)

func rollingOptions() options {
	o := defaultOptions()
	o.rolling = "maxSurge: 1\nmaxUnavailable: 0\nminHealthyTime: 500ms\nprogressDeadline: 1m\n"
	return o
}

// TestRollingReplacesInstancesWithoutDrops: a healthy rolling update
// replaces both instances one at a time under load, never runs more than
// replicas + maxSurge instances, never fewer than replicas ready, and
// drops no request.
func TestRollingReplacesInstancesWithoutDrops(t *testing.T) {
	s := startServer(t, rollingOptions())
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	bg := s.cliBackground("deploy", "web", "v2", "--strategy", "rolling", "--wait")
	maxRunning, minReady := 0, 99
	st := s.waitStatus("the rolling rollout to v2 completes", 60*time.Second, func(st status) bool {
		running, ready := 0, 0
		for _, in := range st.Instances {
			if in.State == "running" {
				running++
			}
			if in.Ready {
				ready++
			}
		}
		if st.Rollout.Strategy == "rolling" && st.Rollout.Phase == "Progressing" {
			maxRunning, minReady = max(maxRunning, running), min(minReady, ready)
		}
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Completed"
	})
	if r := bg.wait(); r.code != 0 {
		t.Fatalf("deploy --strategy rolling --wait: %s", r)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)
	l.stop()
	l.assertNoFailures(t)
	if maxRunning > 3 || (minReady != 99 && minReady < 2) {
		t.Errorf("during the rollout up to %d instances ran and as few as %d were ready; want at most 3 and at least 2", maxRunning, minReady)
	}
	if st.Stable != "v2" {
		t.Errorf("stable = %q, want v2", st.Stable)
	}
}

// TestRollingCrashingVersionHaltsAndReverts: the seed's "rolling update
// without health checks" — a version whose instances crash soon after they
// start halts the rollout at its first batch and the old version is put
// back at full strength.
func TestRollingCrashingVersionHaltsAndReverts(t *testing.T) {
	s := startServer(t, rollingOptions())
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.cli("deploy", "web", "v2", "--strategy", "rolling", "--arg=--crash-after", "--arg=1s", "--wait")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") || !strings.Contains(r.stdout+r.stderr, "lost an instance") {
		t.Fatalf("want exit 1, RolledBack and the lost instance in the reason; got:\n%s", r)
	}
	st := s.waitStatus("v1 back at 2 ready instances", 20*time.Second, func(st status) bool {
		ready := 0
		for _, in := range st.Instances {
			if in.Version == "v1" && in.Ready {
				ready++
			}
		}
		return ready == 2 && st.Weights["v1"] == 100
	})
	for _, in := range st.Instances {
		if in.Version == "v2" {
			t.Errorf("instance %s of v2 is still there after the revert: %+v", in.ID, in)
		}
	}
	l.stop()
	if counts := l.byVersion(); counts["v1"] == 0 {
		t.Errorf("v1 served nothing: %v", counts)
	}
	t.Logf("load: %s", l.summary())
}
