package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// want asserts a CLI run's exit status and that its output holds each
// string (stdout and stderr together).
func want(t *testing.T, r result, code int, says ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d:\n%s", r.code, code, r)
	}
	for _, s := range says {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output lacks %q:\n%s", s, r)
		}
	}
}

// TestUsageMistakesExit2: arguments the server refuses, or the CLI
// itself, are usage errors.
func TestUsageMistakesExit2(t *testing.T) {
	newRig(t)
	want(t, cli("deploy", "web", "v2", "--strategy", "bogus"), 2, `bluejay: strategy "bogus": want blue-green, canary or rolling`,
		"Run 'bluejay --help' for usage.")
	want(t, cli("deploy", "web", "v_2!"), 2, `bluejay: version "v_2!": want letters, digits`)
	want(t, cli("history", "web", "-n", "-1"), 2, "bluejay: --limit -1: want a number >= 0 (0: all)")
	want(t, cli("events", "web", "-n", "-1"), 2, "bluejay: --limit -1: want a number >= 0")
}

func TestAdminAddressMistakes(t *testing.T) {
	r := newRig(t)
	t.Setenv("BLUEJAY_ADMIN", r.addrs["v1"]) // a backend, like the proxy's port
	want(t, cli("status"), 1, "bluejay: "+r.addrs["v1"]+": the address answered but is not bluejay's admin API (HTTP 200",
		"check BLUEJAY_ADMIN or admin.listen")
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, "version=v1")
	}))
	defer notJSON.Close()
	t.Setenv("BLUEJAY_ADMIN", notJSON.URL)
	want(t, cli("status"), 1, "the address answered but is not bluejay's admin API (HTTP 200, reading the JSON answer")

	t.Setenv("BLUEJAY_ADMIN", r.url)
	t.Setenv("BLUEJAY_TOKEN", "")
	want(t, cli("status"), 2, "bluejay: BLUEJAY_ADMIN is set but BLUEJAY_TOKEN is not: set it to the admin token")
	t.Setenv("BLUEJAY_ADMIN", "")
	t.Setenv("BLUEJAY_TOKEN", testToken)
	want(t, cli("status"), 2, "bluejay: BLUEJAY_TOKEN is set but BLUEJAY_ADMIN is not")
}

// TestRepeatedCommandsAreNoOps: pause, resume and abort of a rollout
// already in that state exit 0 with a note; a rollback after the rollout
// ended says how to go further back.
func TestRepeatedCommandsAreNoOps(t *testing.T) {
	r := newRig(t)
	want(t, cli("deploy", "web", "v2"), 0, "rollout #2")
	r.waitPhase(2, "Paused")
	want(t, cli("pause", "web"), 0, "rollout #2 is already Paused; nothing to pause")
	// A gate that waits for promote is no pause that resume ends.
	want(t, cli("resume", "web"), 1, "bluejay: cannot resume: it waits for promote")
	want(t, cli("abort", "web"), 0, "rollout #2: Aborted")
	r.waitPhase(2, "Aborted")
	want(t, cli("abort", "web"), 0, "rollout #2 is already Aborted; nothing to abort")
	want(t, cli("resume", "web"), 0, "rollout #2 is already Aborted; nothing to resume")
	want(t, cli("pause", "web"), 1, "bluejay: cannot pause: the rollout has ended (rollout #2 is Aborted)")
	want(t, cli("rollback", "web"), 1, "web is already on its stable version v1 (rollout #2 Aborted)",
		"'bluejay rollback web --to VERSION' returns to one")
}

// TestWaitGivesUpAndShowsProgress: --timeout ends the wait, not the
// rollout, and says so; while the new version's instances start, their
// readiness and the last probe error are printed.
func TestWaitGivesUpAndShowsProgress(t *testing.T) {
	newRig(t)
	res := cli("deploy", "web", "v3", "--target", "127.0.0.1:1", "--wait", "--timeout", "2s")
	want(t, res, 1, "instances of v3: 0/1 ready; last probe error:",
		"bluejay: gave up waiting after 2s; rollout #2 is still Deploying (not aborted): 'bluejay status web -w' follows it")
}

// TestStatusJSONShape: status of one service is one object, of all an
// array; durations read as in the config.
func TestStatusJSONShape(t *testing.T) {
	newRig(t)
	var one map[string]any
	r := cli("status", "web", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one["service"] != "web" {
		t.Fatalf("status web -o json: want one object for web, got %v:\n%s", err, r)
	}
	params, _ := one["rollout"].(map[string]any)["params"].(map[string]any)
	if params["scaleDownDelay"] != "1m0s" || params["watch"] != "0s" || params["readyTimeout"] != "2m0s" {
		t.Errorf("durations in status -o json: %v; want scaleDownDelay 1m0s, watch 0s, readyTimeout 2m0s", params)
	}
	var all []map[string]any
	if r := cli("status", "-o", "json"); json.Unmarshal([]byte(r.stdout), &all) != nil || len(all) != 1 {
		t.Errorf("status -o json: want an array of one, got:\n%s", r)
	}
	y := cli("status", "web", "-o", "yaml")
	if !strings.Contains(y.stdout, "\n  scaleDownDelay: 1m0s\n") && !strings.Contains(y.stdout, "scaleDownDelay: 1m0s") {
		t.Errorf("status web -o yaml: want scaleDownDelay: 1m0s, got:\n%s", y)
	}
}
