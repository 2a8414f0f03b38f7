package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// errorRateTemplate is the analysis template t the canary tests judge
// with: the sequential error-rate test, a verdict every second, no Pass
// below minRequests canary (and baseline) requests.
func errorRateTemplate(minRequests int) string {
	return `
t:
  interval: 1s
  minRequests: ` + strconv.Itoa(minRequests) + `
  metrics:
    - name: error-rate
      judge: sequential
      condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"`
}

// canaryOptions returns a config with the canary block and analysis
// templates given. Its smoke test reads /version, which the sample app's
// fault flags leave alone: a canary started with --error-rate must pass
// its gates to be judged under user traffic (a smoke test on / would fail
// it before it took any).
func canaryOptions(canary, analysis string) options {
	o := defaultOptions()
	o.smokePath = "/version"
	o.canary, o.analysis = canary, analysis
	return o
}

// deployCanary is the argument list of `deploy web VERSION --strategy
// canary` with the sample app's args appended for that version.
func deployCanary(version string, wait bool, appArgs ...string) []string {
	a := []string{"deploy", "web", version, "--strategy", "canary"}
	if wait {
		a = append(a, "--wait")
	}
	for _, x := range appArgs {
		a = append(a, "--arg="+x)
	}
	return a
}

// rolloutTo returns the newest rollout to version from history.
func (s *server) rolloutTo(version string) rollout {
	s.t.Helper()
	var found []rollout
	for _, r := range s.rollouts() {
		if r.To.Label == version {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		s.t.Fatalf("history has no rollout to %s", version)
	}
	slices.SortFunc(found, func(a, b rollout) int { return int(b.ID - a.ID) })
	return found[0]
}

// stepRE finds the step a canary event entered: "...; step 3/5: setWeight 50".
var stepRE = regexp.MustCompile(`step (\d+)/(\d+): `)

// enteredStep returns the step (1-based) the event's reason says the
// canary entered, and false if it names none.
func enteredStep(reason string) (int, bool) {
	m := stepRE.FindAllStringSubmatch(reason, -1)
	if len(m) == 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n, true
}

func onlyStable(w map[string]int, stable string) bool {
	for v, x := range w {
		if v == stable && x != 100 || v != stable && x != 0 {
			return false
		}
	}
	return w[stable] == 100
}

func eventsString(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}

// TestCanaryErrorRateRolledBack deploys a canary that fails half its
// requests under about 200 requests a second: the sequential test must
// roll it back on its own at its first 10% step, with a reason that names
// the metric and carries canary and baseline numbers, after a small
// number of failed user requests.
func TestCanaryErrorRateRolledBack(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
abortScaleDownDelay: 1s
steps:
  - setWeight: 10
  - analysis: {template: t, duration: 5s}
  - setWeight: 50
  - analysis: {template: t, duration: 5s}
  - setWeight: 100`, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	mark := l.mark()

	start := time.Now()
	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	took := time.Since(start)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Errorf("deploy of a canary failing 50%% of requests: want exit 1 and RolledBack, got:\n%s", r)
	}
	l.waitServed(t, "v1", 50, 10*time.Second)

	ro := s.rolloutTo("v2")
	if ro.Phase != "RolledBack" || ro.Strategy != "canary" {
		t.Errorf("history: rollout #%d of v2 is %s %s, want canary RolledBack", ro.ID, ro.Strategy, ro.Phase)
	}
	for _, want := range []string{"error-rate", "Bayes factor", "canary", "baseline"} {
		if !strings.Contains(ro.Reason, want) {
			t.Errorf("history: the rollback reason does not mention %q: %q", want, ro.Reason)
		}
	}

	evs, raw := s.events(ro.ID)
	if len(evs) == 0 || evs[len(evs)-1].Phase != "RolledBack" {
		t.Fatalf("events of rollout #%d: want the last one RolledBack, got:\n%s", ro.ID, raw)
	}
	rb := evs[len(evs)-1]
	if rb.Weights["v2"] != 0 || rb.Weights["v1"] != 100 {
		t.Errorf("the RolledBack event's weights are %v, want v1=100 and v2=0", rb.Weights)
	}
	if !strings.Contains(rb.Reason, "error-rate") || !strings.Contains(rb.Reason, "Bayes factor") {
		t.Errorf("the RolledBack event's reason does not name the metric and its test: %q", rb.Reason)
	}
	n := rb.Numbers
	switch {
	case n["error-rate.canary.requests"] <= 0 || n["error-rate.canary.errors"] <= 0:
		t.Errorf("the RolledBack event's numbers lack the canary's requests and errors: %v", n)
	case n["error-rate.baseline.requests"] <= 0:
		t.Errorf("the RolledBack event's numbers lack the baseline's requests: %v", n)
	case !(n["error-rate.bayesFactor"] >= n["error-rate.threshold"]) || n["error-rate.threshold"] <= 1:
		t.Errorf("the RolledBack event's Bayes factor %v is not past its threshold %v: %v",
			n["error-rate.bayesFactor"], n["error-rate.threshold"], n)
	}
	for _, e := range evs {
		if e.Weights["v2"] > 10 {
			t.Errorf("the canary was judged at its 10%% step, yet got %d%%: %s", e.Weights["v2"], e)
		}
	}

	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != "v1" || !onlyStable(st.Weights, "v1") {
		t.Errorf("after the rollback: want stable v1 with all traffic, got stable %q weights %v", st.Stable, st.Weights)
	}

	failed := l.failuresSince(mark)
	served := 0
	for _, o := range l.since(mark) {
		if o.err == nil && o.version == "v2" {
			served++
		}
	}
	for _, f := range failed {
		if f.err != nil || f.version != "v2" || f.status != 500 {
			t.Errorf("a failed request not from the canary's injected errors: %v", f)
		}
	}
	t.Logf("canary rolled back after %s (deploy to exit); %d user requests failed of %d the canary served; exposure %d requests, %d failed; load %s; reason: %s",
		took.Round(100*time.Millisecond), len(failed), served, ro.Exposure.Requests, ro.Exposure.Errors, l.summary(), rb.Reason)
	if served == 0 {
		t.Errorf("the canary served no user request, so the test proved nothing (%s)", l.summary())
	}
	if len(failed) > 30 {
		t.Errorf("%d user requests failed before the rollback, want at most 30", len(failed))
	}
	if ro.Exposure.Errors < 1 || ro.Exposure.Errors > int64(len(failed)) {
		t.Errorf("history's exposure counts %d failed requests on v2, the load generator (the only client) saw %d",
			ro.Exposure.Errors, len(failed))
	}
}

// TestCanaryHealthyPromotesThroughSteps deploys a healthy canary under
// load: it goes through every step in order, each logged as an event,
// waits out each analysis, completes, and no user request fails.
func TestCanaryHealthyPromotesThroughSteps(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
steps:
  - setWeight: 20
  - analysis: {template: t, duration: 2s}
  - setWeight: 50
  - analysis: {template: t, duration: 2s}
  - setWeight: 100`, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.mustCLI(0, deployCanary("v2", true)...)
	if !strings.Contains(r.stdout, "Completed") {
		t.Errorf("deploy --wait of a healthy canary exited 0 without printing Completed:\n%s", r)
	}
	l.waitServed(t, "v2", 50, 10*time.Second)

	ro := s.rolloutTo("v2")
	evs, _ := s.events(ro.ID)
	var steps []int
	at := map[int]event{}
	for _, e := range evs {
		if e.Phase != "Progressing" {
			continue
		}
		if n, ok := enteredStep(e.Reason); ok {
			steps = append(steps, n)
			at[n] = e
		}
	}
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(steps, want) {
		t.Fatalf("Progressing events of rollout #%d entered steps %v, want %v in order:\n%s", ro.ID, steps, want, eventsString(evs))
	}
	if last := evs[len(evs)-1]; last.Phase != "Completed" || last.Weights["v2"] != 100 {
		t.Errorf("the last event of rollout #%d is %s, want Completed with v2=100", ro.ID, last)
	}
	checks := []struct {
		step   int
		weight int
		reason string
	}{
		{2, 20, "v2 now takes 20% of traffic"},
		{3, 20, "analysis t passed"},
		{4, 50, "v2 now takes 50% of traffic"},
		{5, 50, "analysis t passed"},
	}
	for _, c := range checks {
		e := at[c.step]
		if e.Weights["v2"] != c.weight || !strings.Contains(e.Reason, c.reason) {
			t.Errorf("entering step %d/5: want v2=%d and a reason with %q, got %s", c.step, c.weight, c.reason, e)
		}
	}
	for _, analysis := range []int{2, 4} {
		if d := at[analysis+1].Time.Sub(at[analysis].Time); d < 2*time.Second {
			t.Errorf("the 2s analysis of step %d/5 ended after %s", analysis, d)
		}
	}

	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != "v2" || st.Rollout.Phase != "Completed" || !onlyStable(st.Weights, "v2") {
		t.Errorf("after the canary: want stable v2, Completed, all traffic on v2; got stable %q, %s, weights %v",
			st.Stable, st.Rollout.Phase, st.Weights)
	}
	l.stop()
	l.assertNoFailures(t)
	t.Logf("load: %s\nevents:\n%s", l.summary(), eventsString(evs))
}

// pauseCanary has two pause steps that wait for promote.
const pauseCanary = `
analysis: t
steps:
  - setWeight: 20
  - pause: {}
  - setWeight: 50
  - pause: {}
  - setWeight: 100`

// TestCanaryPauseWaitsForPromote checks that `pause: {}` holds a canary
// (through several background analysis intervals) until `promote`, and
// that `promote --full` skips the remaining steps.
func TestCanaryPauseWaitsForPromote(t *testing.T) {
	s := startServer(t, canaryOptions(pauseCanary, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	d := s.cliBackground(deployCanary("v2", true)...)
	pausedAt := func(step, weight int) func(status) bool {
		return func(st status) bool {
			return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Paused" && st.Rollout.Step == step-1 &&
				st.Weights["v2"] == weight && strings.Contains(st.Rollout.Reason, "until promote")
		}
	}
	s.waitStatus("v2 Paused at step 2/5 (20%)", 20*time.Second, pausedAt(2, 20))
	// The background analysis judges every second: the pause must outlast
	// several of its verdicts, and the canary must take traffic meanwhile.
	mark := l.mark()
	polls := s.holdStatus("Paused at step 2/5 (20%)", 3*time.Second, pausedAt(2, 20))
	if got := l.since(mark); !slices.ContainsFunc(got, func(o outcome) bool { return o.version == "v2" }) {
		t.Errorf("the paused canary at 20%% served none of %d user requests", len(got))
	}
	t.Logf("still Paused after %d status polls over 3s", polls)

	r := s.mustCLI(0, "promote", "web")
	if !strings.Contains(r.stdout, "promoted past step 2/5") {
		t.Errorf("promote of a paused canary: want the reason to say it moved past step 2/5, got:\n%s", r)
	}
	s.waitStatus("v2 Paused at step 4/5 (50%)", 10*time.Second, pausedAt(4, 50))
	s.holdStatus("Paused at step 4/5 (50%)", 2500*time.Millisecond, pausedAt(4, 50))
	s.mustCLI(0, "promote", "web")
	if res, ok := d.waitFor(20 * time.Second); !ok {
		t.Fatalf("deploy v2 --wait still running 20s after the last promote")
	} else if res.code != 0 || !strings.Contains(res.stdout, "Completed") {
		t.Errorf("deploy v2 --wait after two promotes: want exit 0 and Completed, got:\n%s", res)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)

	t.Run("promote --full", func(t *testing.T) {
		s := s.on(t)
		s.mustCLI(0, deployCanary("v3", false)...)
		s.waitStatus("v3 Paused at step 2/5", 20*time.Second, func(st status) bool {
			return st.Rollout.To.Label == "v3" && st.Rollout.Phase == "Paused" && st.Rollout.Step == 1
		})
		r := s.mustCLI(0, "promote", "web", "--full")
		if !strings.Contains(r.stdout, "Completed") || !strings.Contains(r.stdout, "promoted fully at step 2/5") {
			t.Errorf("promote --full at step 2/5: want Completed, promoted fully at step 2/5; got:\n%s", r)
		}
		l.waitServed(t, "v3", 20, 10*time.Second)
		ro := s.rolloutTo("v3")
		evs, _ := s.events(ro.ID)
		for _, e := range evs {
			if n, ok := enteredStep(e.Reason); ok && n > 2 || e.Weights["v3"] == 50 {
				t.Errorf("promote --full at step 2/5 should skip steps 3-5, yet: %s", e)
			}
		}
		if ro.Phase != "Completed" || !strings.Contains(evs[len(evs)-1].Reason, "promoted fully") {
			t.Errorf("rollout #%d of v3: want Completed by promote --full, got %s; events:\n%s", ro.ID, ro.Phase, eventsString(evs))
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Stable != "v3" || !onlyStable(st.Weights, "v3") {
			t.Errorf("after promote --full: want stable v3 with all traffic, got stable %q weights %v", st.Stable, st.Weights)
		}
	})
	l.stop()
	l.assertNoFailures(t)
	t.Logf("load: %s", l.summary())
}

// TestCanaryLowTrafficInconclusive sends 2 requests a second: an
// analysis that needs 50 canary requests cannot pass in 3s, so it ends
// Inconclusive and the canary waits in Paused — never promoted on too
// little data — until abort returns all traffic to the stable version.
func TestCanaryLowTrafficInconclusive(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
steps:
  - setWeight: 50
  - analysis: {template: t, duration: 3s}
  - setWeight: 100`, errorRateTemplate(50)))
	l := startLoadEvery(t, s.proxy, 500*time.Millisecond)

	d := s.cliBackground(deployCanary("v2", true)...)
	inconclusive := func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Paused" && st.Weights["v2"] == 50
	}
	st := s.waitStatus("v2 Paused after an inconclusive analysis", 30*time.Second, func(st status) bool {
		if st.Rollout.To.Label == "v2" && slices.Contains([]string{"Completed", "RolledBack", "Failed", "Aborted"}, st.Rollout.Phase) {
			return true // reported below
		}
		return inconclusive(st)
	})
	for _, want := range []string{"Inconclusive", "too little data", "of 50 canary requests"} {
		if !strings.Contains(st.Rollout.Reason, want) {
			t.Errorf("the paused canary's reason does not mention %q: %s %q", want, st.Rollout.Phase, st.Rollout.Reason)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	s.holdStatus("Paused after an inconclusive analysis", 3*time.Second, inconclusive)

	r := s.mustCLI(0, "abort", "web")
	if !strings.Contains(r.stdout, "RolledBack") {
		t.Errorf("abort of a canary at 50%%: want RolledBack (traffic had moved), got:\n%s", r)
	}
	if res, ok := d.waitFor(15 * time.Second); !ok {
		t.Errorf("deploy v2 --wait still running 15s after abort")
	} else if res.code != 1 {
		t.Errorf("deploy v2 --wait of an aborted canary: want exit 1, got:\n%s", res)
	}
	waitProxyServes(t, s.proxy, "v1", 20, 10*time.Second)
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != "v1" || !onlyStable(st.Weights, "v1") {
		t.Errorf("after abort: want stable v1 with all traffic, got stable %q weights %v", st.Stable, st.Weights)
	}
	ro := s.rolloutTo("v2")
	evs, _ := s.events(ro.ID)
	for _, e := range evs {
		if e.Phase == "Completed" || e.Weights["v2"] == 100 {
			t.Errorf("the canary judged on too little data was promoted: %s", e)
		}
	}
	l.stop()
	l.assertNoFailures(t)
	t.Logf("load: %s\nevents:\n%s", l.summary(), eventsString(evs))
}

// TestRetry rolls back a canary that fails every request, then retries
// it: `retry` starts a new rollout of the same version with the same
// arguments, which is rolled back the same way. Before that, with nothing
// rolled back, retry is refused.
func TestRetry(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
abortScaleDownDelay: 1s
steps:
  - setWeight: 20
  - analysis: {template: t, duration: 5s}
  - setWeight: 100`, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	if r := s.cli("retry", "web"); r.code != 1 || !strings.Contains(r.stderr, "nothing to retry") {
		t.Errorf("retry after a completed rollout: want exit 1 and nothing to retry, got:\n%s", r)
	}
	s.mustCLI(1, deployCanary("v2", true, "--error-rate", "1")...)
	first := s.rolloutTo("v2")
	if first.Phase != "RolledBack" {
		t.Fatalf("rollout #%d of a canary failing every request ended %s, want RolledBack: %s", first.ID, first.Phase, first.Reason)
	}
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.mustCLI(0, "retry", "web")
	if !strings.Contains(r.stdout, "v1 → v2 (canary)") {
		t.Errorf("retry: want a new canary rollout v1 → v2, got:\n%s", r)
	}
	st := s.waitStatus("the retried rollout rolled back", 30*time.Second, func(st status) bool {
		return st.Rollout.ID > first.ID && st.Rollout.Phase == "RolledBack"
	})
	l.waitServed(t, "v1", 20, 10*time.Second)

	var tries []rollout
	for _, ro := range s.rollouts() {
		if ro.To.Label == "v2" {
			tries = append(tries, ro)
		}
	}
	slices.SortFunc(tries, func(a, b rollout) int { return int(a.ID - b.ID) })
	if len(tries) != 2 {
		t.Fatalf("history: want two rollouts of v2 (the first and the retry), got %d: %+v", len(tries), tries)
	}
	second := tries[1]
	if second.ID != st.Rollout.ID || second.From.Label != "v1" || second.Strategy != "canary" ||
		!slices.Equal(second.To.Args, first.To.Args) || !slices.Equal(first.To.Args, []string{"--error-rate", "1"}) {
		t.Errorf("history: the retry should be a new canary rollout v1 → v2 with args %v; first %+v, retry %+v",
			first.To.Args, first, second)
	}
	if second.Exposure.Requests == 0 {
		t.Errorf("the retried canary served no user request: %+v", second)
	}
	if !onlyStable(st.Weights, "v1") {
		t.Errorf("after the retry rolled back: weights %v, want all on v1", st.Weights)
	}
	evs, _ := s.events(second.ID)
	judged := evs[len(evs)-1].Numbers["error-rate.canary.requests"]
	t.Logf("first #%d: %s; retry #%d: %s; load %s", first.ID, first.Reason, second.ID, second.Reason, l.summary())
	t.Logf("exposure: first %+v, retry %+v; the retry's rollback judged %v canary requests", first.Exposure, second.Exposure, judged)
}

// TestRedeployAfterRollbackStartsFreshInstances pins the bug where a
// version deployed again reused the failing instances of its last
// rollout: after a canary of v3 with --error-rate 1 is rolled back (its
// instances kept by abortScaleDownDelay), `deploy web v3` without the
// flag ran against the OLD instances and was rolled back too. Instances
// that failed a gate, or were started with other args, are stopped and
// fresh ones started, and the decision log says so.
func TestRedeployAfterRollbackStartsFreshInstances(t *testing.T) {
	s := startServer(t, canaryOptions(`
analysis: t
abortScaleDownDelay: 1m
steps:
  - setWeight: 20
  - analysis: {template: t, duration: 3s}
  - setWeight: 100`, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	s.mustCLI(1, deployCanary("v3", true, "--error-rate", "1")...)
	first := s.rolloutTo("v3")
	if first.Phase != "RolledBack" {
		t.Fatalf("a canary failing every request ended %s, want RolledBack: %s", first.Phase, first.Reason)
	}
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	old := map[int]bool{}
	for _, in := range st.Instances {
		if in.Version == "v3" && in.PID > 0 && !processGone(in.PID) {
			old[in.PID] = true
		}
	}
	if len(old) == 0 {
		t.Fatalf("no v3 instance kept running by abortScaleDownDelay: %+v", st.Instances)
	}

	r := s.mustCLI(0, deployCanary("v3", true)...)
	if !strings.Contains(r.stdout, "Completed") {
		t.Errorf("deploy v3 without the fault: want Completed:\n%s", r)
	}
	second := s.rolloutTo("v3")
	evs, _ := s.events(second.ID)
	if !strings.Contains(eventsString(evs), "failed a gate in rollout #") || !strings.Contains(eventsString(evs), "starting fresh ones") {
		t.Errorf("the decision log should say the old v3 instances failed a gate and fresh ones start:\n%s", eventsString(evs))
	}
	st, err = s.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Instances {
		if in.Version == "v3" && old[in.PID] {
			t.Errorf("%s still runs as the rolled-back pid %d", in.ID, in.PID)
		}
	}
}
