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
	rb := rolledBack(t, evs)
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

// TestBlueGreenWatchJudgedAgainstBefore is the blue-green half: a new
// version failing 2% of its requests, under the watch's maxErrorRate
// (5%), replaced one that failed none, since the watch had nothing to
// compare with. Judged against the old version's errors before the
// switch it is flipped back during the watch.
func TestBlueGreenWatchJudgedAgainstBefore(t *testing.T) {
	o := defaultOptions()
	o.smokePath, o.watch = "/version", "15s"
	s := startServer(t, o)
	l := startLoad(t, s.proxy)
	// The old version's record before the switch: 2,000 requests
	// without an error bound its rate below 0.23% (at 99%).
	l.waitServed(t, "v1", 2000, 60*time.Second)
	mark := l.mark()

	// The errors start after each instance's first 20 requests, so that
	// the first few cannot trip maxErrorRate's small-count budget.
	r := s.cli("deploy", "web", "v2", "--wait", "--arg=--error-rate", "--arg=0.02", "--arg=--errors-after-requests", "--arg=20")
	ro := s.rolloutTo("v2")
	evs, raw := s.events(ro.ID)
	if r.code != 1 || ro.Phase != "RolledBack" || !strings.Contains(ro.Reason, "before the switch") {
		t.Fatalf("a version failing 2%% against one failing none: want exit 1 and RolledBack against the old version before the switch, got %s (%s):\n%s\nevents:\n%s", ro.Phase, ro.Reason, r, raw)
	}
	if rb := rolledBack(t, evs); rb.Weights["v1"] != 100 {
		t.Errorf("the RolledBack event's weights are %v, want v1=100", rb.Weights)
	}
	t.Logf("flipped back with %d failed user requests (exposure %d requests, %d failed); load %s; reason: %s",
		len(l.failuresSince(mark)), ro.Exposure.Requests, ro.Exposure.Errors, l.summary(), ro.Reason)
}

// rolledBack returns the event that rolled the rollout back (not a later
// one, such as the stop of the new version).
func rolledBack(t *testing.T, evs []event) event {
	t.Helper()
	for _, e := range evs {
		if e.Phase == "RolledBack" && e.From != "RolledBack" {
			return e
		}
	}
	t.Fatalf("no event enters RolledBack:\n%s", eventsString(evs))
	return event{}
}
