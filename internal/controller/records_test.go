package controller

import (
	"testing"
	"time"
)

// TestLifecycles pins the version and instance state machines, the one
// place a record's state changes (records.go).
func TestLifecycles(t *testing.T) {
	versions := []struct {
		from versionState
		ev   versionEvent
		to   versionState
		ok   bool
	}{
		{versionIdle, verDeployed, versionOwned, true},
		{versionIdle, verDeployFailed, versionBroken, true},
		{versionBroken, verDeployed, versionOwned, true},
		{versionOwned, verStopStarted, versionStopping, true},
		{versionBroken, verStopStarted, versionStopping, true},
		{versionStopping, verStopStarted, versionStopping, false}, // a stop under way is not started twice
		{versionStopping, verDeployed, versionStopping, false},    // a deploy waits for the stop
		{versionStopping, verStopDone, versionIdle, true},
		{versionIdle, verStopDone, versionIdle, false},
	}
	for _, tt := range versions {
		v := &versionRec{state: tt.from}
		if ok := v.on(tt.ev, "why"); ok != tt.ok || v.state != tt.to {
			t.Errorf("version %q on %q: %q, %v; want %q, %v", tt.from, tt.ev, v.state, ok, tt.to, tt.ok)
		}
		if v.state == versionBroken && v.problem != "why" || v.state != versionBroken && v.problem != "" && tt.ok {
			t.Errorf("version %q on %q: problem %q", tt.from, tt.ev, v.problem)
		}
	}
	if !(&versionRec{state: versionBroken}).owned() || (&versionRec{state: versionStopping}).owned() {
		t.Error("owned: a broken version is this run's to stop; a stopping one is being stopped")
	}

	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	instances := []struct {
		from instanceState
		ev   instanceEvent
		to   instanceState
	}{
		{instNew, instRestored, instPresumed},
		{instPresumed, instUnprobed, instPresumed}, // trusted until its first probe result
		{instPresumed, instFails, instStarting},
		{instPresumed, instPasses, instReady},
		{instNew, instUnprobed, instStarting},
		{instStarting, instFails, instStarting}, // not ready yet is not lost
		{instStarting, instPasses, instReady},
		{instReady, instFails, instFailing}, // lost its readiness: a lost instance
		{instFailing, instPasses, instReady},
		{instReady, instDrain, instDraining},
		{instDraining, instFails, instDraining}, // a draining instance is not a lost one
	}
	for state := range instanceLifecycle {
		for _, ev := range []instanceEvent{instRestored, instPasses, instFails, instUnprobed, instDrain} {
			if _, ok := instanceLifecycle[state][ev]; !ok && !(ev == instRestored && state != instNew && state != instPresumed) {
				t.Errorf("instance lifecycle: %q lists no %q", state, ev)
			}
		}
	}
	for _, tt := range instances {
		in := &instanceRec{state: tt.from}
		in.on(tt.ev, t0)
		if in.state != tt.to {
			t.Errorf("instance %q on %q: %q, want %q", tt.from, tt.ev, in.state, tt.to)
		}
	}
	in := &instanceRec{}
	in.on(instPasses, t0)
	in.on(instPasses, t0.Add(time.Minute))
	if !in.readySince.Equal(t0) {
		t.Errorf("readySince %v, want when it became ready (%v)", in.readySince, t0)
	}
}
