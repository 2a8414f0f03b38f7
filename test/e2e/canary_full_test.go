package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestCanaryBreakingAtFullTrafficRolledBack pins the bug where a canary
// that broke once it had all the traffic completed: with no stable
// traffic left beside it, the sequential judge had no baseline and could
// never fail, so a version failing every request for the whole final
// pause ended Completed. The sample app fails every request after its
// first 150 (per instance, two instances): it passes the 20% step and
// breaks at 100%, where it must be judged against the baseline measured
// before the switch and rolled back after a few failed requests.
func TestCanaryBreakingAtFullTrafficRolledBack(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
abortScaleDownDelay: 1s
steps:
  - setWeight: 20
  - pause: {duration: 5s}
  - setWeight: 100
  - pause: {duration: 25s}`, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	mark := l.mark()

	start := time.Now()
	r := s.cli(deployCanary("v2", true, "--error-rate", "1", "--errors-after-requests", "150")...)
	took := time.Since(start)
	ro := s.rolloutTo("v2")
	evs, raw := s.events(ro.ID)
	if r.code != 1 || ro.Phase != "RolledBack" {
		t.Fatalf("deploy of a canary that breaks at 100%%: want exit 1 and RolledBack, got %s (%s):\n%s\nevents:\n%s", ro.Phase, ro.Reason, r, raw)
	}
	l.waitServed(t, "v1", 50, 10*time.Second)

	at100 := false
	for _, e := range evs {
		if e.Weights["v2"] == 100 {
			at100 = true
		}
	}
	if !at100 {
		t.Errorf("the canary never had all the traffic, so the test proved nothing:\n%s", eventsString(evs))
	}
	rb := evs[len(evs)-1]
	for _, want := range []string{"error-rate", "before"} {
		if !strings.Contains(rb.Reason, want) {
			t.Errorf("the RolledBack event's reason does not mention %q: %q", want, rb.Reason)
		}
	}
	if rb.Numbers["error-rate.before.requests"] <= 0 {
		t.Errorf("the RolledBack event's numbers lack the baseline before the switch: %v", rb.Numbers)
	}
	if st, err := s.status(); err != nil {
		t.Fatal(err)
	} else if st.Stable != "v1" || !onlyStable(st.Weights, "v1") {
		t.Errorf("after the rollback: want stable v1 with all traffic, got stable %q weights %v", st.Stable, st.Weights)
	}

	failed := l.failuresSince(mark)
	t.Logf("rolled back %s after deploy; %d user requests failed (exposure %d requests, %d failed); load %s; reason: %s",
		took.Round(100*time.Millisecond), len(failed), ro.Exposure.Requests, ro.Exposure.Errors, l.summary(), rb.Reason)
	if took > 25*time.Second {
		t.Errorf("the rollback took %s: the final pause ran out first", took)
	}
	if len(failed) > 60 {
		t.Errorf("%d user requests failed before the rollback, want at most 60 (a few failures, and the requests in flight at 200 rps until the flip)", len(failed))
	}
}
