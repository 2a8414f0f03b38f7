package e2e

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

// TestBadVersionNeverGetsTraffic deploys three broken versions under
// load: each fails a gate before the switch, so no user request ever
// reaches it and none fails.
func TestBadVersionNeverGetsTraffic(t *testing.T) {
	s := startServer(t, defaultOptions())
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	bad := []struct {
		version, why string
		args         []string
	}{
		{"v2", "fails its health checks", []string{"--arg=--fail-health"}},
		{"v3", "fails its smoke test", []string{"--arg=--error-rate", "--arg=1"}},
		{"v4", "exits on start", []string{"--arg=--exit-on-start"}},
	}
	for _, b := range bad {
		before := l.mark()
		args := append([]string{"deploy", "web", b.version, "--wait"}, b.args...)
		r := s.cli(args...)
		t.Logf("%s", r)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "Failed") {
			t.Errorf("deploy of %s, which %s: want exit 1 and phase Failed, got:\n%s", b.version, b.why, r)
		}
		if len(l.since(before)) == 0 {
			t.Errorf("no user request was sent while %s was deployed", b.version)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Stable != "v1" || !maps.Equal(st.Weights, map[string]int{"v1": 100}) {
			t.Errorf("after %s failed: want stable v1 with weights v1=100, got stable %q weights %v", b.version, st.Stable, st.Weights)
		}
	}
	l.stop()

	l.assertNoFailures(t)
	if counts := l.byVersion(); counts["v1"] == 0 || len(counts) != 1 {
		t.Errorf("every user response should come from v1; by version: %v", counts)
	}

	rows, out := s.history()
	want := map[string]string{"v1": "Completed", "v2": "Failed", "v3": "Failed", "v4": "Failed"}
	got := map[string]string{}
	ids := map[string]string{}
	for _, r := range rows {
		got[r.to], ids[r.id] = r.phase, r.to
	}
	if !maps.Equal(got, want) {
		t.Errorf("history web: want rollouts %v, got %v:\n%s", want, got, out)
	}

	r := s.mustCLI(0, "events", "web", "-o", "json", "-n", "0")
	var evs []struct {
		RolloutID json.Number `json:"rolloutId"`
		Phase     string      `json:"phase"`
		Reason    *string     `json:"reason"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil {
		t.Fatalf("events web -o json is not a JSON list of events: %v\n%s", err, r.stdout)
	}
	failedEvent := map[string]bool{}
	for i, e := range evs {
		if e.Reason == nil || strings.TrimSpace(*e.Reason) == "" {
			t.Errorf("event %d (rollout %s, phase %s) has no reason", i, e.RolloutID, e.Phase)
		}
		if e.Phase == "Failed" {
			failedEvent[ids[e.RolloutID.String()]] = true
		}
	}
	for _, v := range []string{"v2", "v3", "v4"} {
		if !failedEvent[v] {
			t.Errorf("events: no Failed event for the rollout of %s:\n%s", v, r.stdout)
		}
	}
}
