package e2e

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// TestSwitchAndFlipBackDropNothing deploys a healthy v2 under continuous
// load, then a healthy v3 that a person rolls back during its watch: no
// user request may fail across the switch and the flip back.
func TestSwitchAndFlipBackDropNothing(t *testing.T) {
	o := defaultOptions()
	o.watch = "3s"
	s := startServer(t, o)
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.mustCLI(0, "deploy", "web", "v2", "--wait")
	if !strings.Contains(r.stdout, "Completed") {
		t.Errorf("deploy v2 --wait exited 0 without printing Completed:\n%s", r)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)

	d3 := s.cliBackground("deploy", "web", "v3", "--wait")
	s.waitStatus("v3 Watching", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v3" && st.Rollout.Phase == "Watching"
	})
	l.waitCount(t, "v3", 5, 5*time.Second)
	rb := s.mustCLI(0, "rollback", "web")
	if !strings.Contains(rb.stdout, "RolledBack") {
		t.Errorf("rollback during the watch: want phase RolledBack in the output, got:\n%s", rb)
	}
	res, ok := d3.waitFor(15 * time.Second)
	switch {
	case !ok:
		t.Errorf("deploy v3 --wait still running 15s after the rollback")
	case res.code != 1 || !strings.Contains(res.stdout+res.stderr, "RolledBack"):
		t.Errorf("deploy v3 --wait of a rolled-back rollout: want exit 1 and RolledBack, got:\n%s", res)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)

	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != "v2" || st.Rollout.Phase != "RolledBack" || !maps.Equal(st.Weights, map[string]int{"v2": 100}) {
		t.Errorf("after the rollback: want stable v2, phase RolledBack, weights v2=100; got stable %q, phase %q, weights %v",
			st.Stable, st.Rollout.Phase, st.Weights)
	}

	l.stop()
	l.assertNoFailures(t)
	counts := l.byVersion()
	for _, v := range []string{"v1", "v2", "v3"} {
		if counts[v] == 0 {
			t.Errorf("%s served no user request (%s)", v, l.summary())
		}
	}
	t.Logf("load: %s", l.summary())
}

// TestBlueGreenSuccessOnNoData pins the bug where a blue-green whose
// watch saw no request ended "watched 2s: 0/0 requests failed …
// Completed": with no user traffic the watch goes on past its window,
// and at the progress deadline the rollout pauses for a person with a
// reason that says no traffic came; v2 keeps the traffic it had and a
// person's promote completes it.
func TestBlueGreenSuccessOnNoData(t *testing.T) {
	o := defaultOptions()
	o.service = "progressDeadline: 2s\n"
	s := startServer(t, o)
	s.mustCLI(0, "deploy", "web", "v2")
	// watch 2s + readyTimeout 5s (planned) + the 2s deadline
	st := s.waitStatus("v2 Paused for want of traffic", 40*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase != "Watching" && st.Rollout.Phase != "Deploying" &&
			st.Rollout.Phase != "Smoke"
	})
	if st.Rollout.Phase != "Paused" || !strings.Contains(st.Rollout.Reason, "no traffic came") {
		t.Fatalf("a watch with no traffic: want Paused saying no traffic came, got %s: %s", st.Rollout.Phase, st.Rollout.Reason)
	}
	if st.Weights["v2"] != 100 {
		t.Errorf("paused watch: want v2 to keep all traffic (v1 warm), got %v", st.Weights)
	}
	s.mustCLI(0, "promote", "web")
	s.waitStatus("v2 Completed after promote", 20*time.Second, func(next status) bool {
		return next.Rollout.ID == st.Rollout.ID && next.Rollout.Phase == "Completed" && next.Stable == "v2"
	})
}
