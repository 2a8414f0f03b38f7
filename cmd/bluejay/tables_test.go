package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// inUTC shows times in UTC for the test, so that golden files do not
// depend on the machine's zone.
func inUTC(t *testing.T) {
	if time.Local != time.UTC {
		t.Fatal("the tables are pinned in UTC: TestMain sets time.Local")
	}
}

// TestMain pins the local zone to UTC before any test runs: setting it
// inside a test raced with goroutines other tests left running (the
// race detector failed CI once).
func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// TestGoldenTables pins the read commands' tables: status, history,
// events (plain and --numbers) and routes.
func TestGoldenTables(t *testing.T) {
	inUTC(t)
	canary, back := canaryAtStep3(), rolledBack()
	evs := []engine.Event{
		{ID: 1, RolloutID: 9, Service: "web", Time: t0, Phase: engine.PhaseDeploying, Reason: "deploy requested: blue-green v3, replacing v2",
			Weights: map[string]int{"v2": 100}},
		{ID: 2, RolloutID: 9, Service: "web", Time: t0.Add(30 * time.Second), From: engine.PhaseDeploying, Phase: engine.PhaseWatching,
			Reason: "v3 ready (1/1 instances); switched all traffic to v3", Weights: map[string]int{"v3": 100, "v2": 0},
			Numbers: map[string]float64{"ready": 1, "exposedRequests": 0, "exposedErrors": 0, "exposedUsers": 0, "failedUsers": 0}},
		{ID: 3, RolloutID: 9, Service: "web", Time: t0.Add(41 * time.Second), From: engine.PhaseWatching, Phase: engine.PhaseRolledBack,
			Reason: back.Rollout.Reason, Weights: map[string]int{"v2": 100},
			Numbers: map[string]float64{"errorRate": 0.13636363636, "maxErrorRate": 0.05, "requests": 44, "errors": 6, "minRequests": 20,
				"exposedRequests": 44, "exposedErrors": 6, "exposedUsers": 12, "failedUsers": 3}},
	}
	routes := []router.Route{
		{Service: "web", PathPrefix: "/", Backends: []router.Backend{
			{Version: "v2", Weight: 20, Addrs: []string{"127.0.0.1:9001", "127.0.0.1:9002"}},
			{Version: "v1", Weight: 80, Addrs: []string{"127.0.0.1:9000"}}},
			Sticky: &router.Sticky{Cookie: "bluejay-key"}, Mirror: &router.Mirror{Version: "v2", Percent: 10}},
		{Service: "api", Host: "api.example.com", PathPrefix: "/v1", Backends: []router.Backend{{Version: "1.4.0", Weight: 100}}},
	}
	var b strings.Builder
	b.WriteString("=== status\n")
	printStatus(&b, []controller.ServiceStatus{canary, back})
	b.WriteString("\n=== history\n")
	printHistory(&b, []engine.Rollout{back.Rollout, canary.Rollout})
	b.WriteString("\n=== events\n")
	printEvents(&b, evs)
	b.WriteString("\n=== events --numbers\n")
	printEventNumbers(&b, evs)
	b.WriteString("\n=== routes\n")
	printRoutes(&b, routes)
	golden(t, "tables.golden", b.String())
}
