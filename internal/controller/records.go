package controller

import "time"

// Everything the loop knows of a version and of an instance beyond what
// the platform and the store say lives in one record each, and each
// record's lifecycle is one table below: versionLifecycle and
// instanceLifecycle (pinned by TestLifecycles). A record changes state
// only through on(event); an event a state does not list is refused.

// versionState is where a version stands with this run of the loop.
type versionState string

// Version states.
const (
	// versionIdle: this run neither started nor adopted it (or stopped
	// it); only the platform's word counts.
	versionIdle versionState = ""
	// versionOwned: started or adopted by this run; stopped once no
	// rollout uses it (collect).
	versionOwned versionState = "owned"
	// versionBroken: owned, and its last Deploy failed; observed as an
	// exited instance with the error until deployed again or stopped.
	versionBroken versionState = "broken"
	// versionStopping: being drained and stopped in the background;
	// observed as not running, and a deploy of it waits for the stop.
	versionStopping versionState = "stopping"
)

// versionEvent is what happens to a version.
type versionEvent string

// Version events.
const (
	verDeployed     versionEvent = "deployed"      // Deploy (or a scale) succeeded, or running instances were adopted
	verDeployFailed versionEvent = "deploy failed" // Deploy (or a scale) failed
	verStopStarted  versionEvent = "stop started"  // its drain and stop began
	verStopDone     versionEvent = "stop done"     // the platform stopped it
)

// versionLifecycle is the version's state machine.
var versionLifecycle = map[versionState]map[versionEvent]versionState{
	versionIdle:     {verDeployed: versionOwned, verDeployFailed: versionBroken, verStopStarted: versionStopping},
	versionOwned:    {verDeployed: versionOwned, verDeployFailed: versionBroken, verStopStarted: versionStopping},
	versionBroken:   {verDeployed: versionOwned, verDeployFailed: versionBroken, verStopStarted: versionStopping},
	versionStopping: {verStopDone: versionIdle},
}

// versionRec is the loop's record of one version.
type versionRec struct {
	state versionState
	// problem says why the last Deploy failed (versionBroken).
	problem string
	// scaling: a scale-down drains and stops some of its instances in
	// the background (orthogonal to state: an owned version scales).
	scaling bool
	// restarted is when supervise last restarted its exited instances.
	restarted time.Time
}

// on moves the record by e, reporting whether its state allows e.
func (v *versionRec) on(e versionEvent, problem string) bool {
	next, ok := versionLifecycle[v.state][e]
	if !ok {
		return false
	}
	v.state = next
	v.problem = ""
	if next == versionBroken {
		v.problem = problem
	}
	return true
}

// owned reports whether this run started or adopted the version and has
// not stopped it.
func (v *versionRec) owned() bool { return v.state == versionOwned || v.state == versionBroken }

// ver returns the record of the version label, creating it.
func (l *loop) ver(label string) *versionRec {
	v, ok := l.versions[label]
	if !ok {
		v = &versionRec{}
		l.versions[label] = v
	}
	return v
}

// instanceState is where an instance stands with readiness and traffic.
type instanceState string

// Instance states.
const (
	// instNew: not seen yet.
	instNew instanceState = ""
	// instPresumed: an address of the route restored at start, trusted
	// with traffic until its first probe result.
	instPresumed instanceState = "presumed"
	// instStarting: running, not ready yet.
	instStarting instanceState = "starting"
	// instReady: passing readiness since readySince.
	instReady instanceState = "ready"
	// instFailing: passed readiness once, and lost it (a lost instance).
	instFailing instanceState = "failing"
	// instDraining: taken out of the route by a scale-down, drained
	// before the platform stops it; its record goes with it.
	instDraining instanceState = "draining"
)

// instanceEvent is what is learnt of an instance.
type instanceEvent string

// Instance events.
const (
	instRestored instanceEvent = "restored" // the restored route names it
	instPasses   instanceEvent = "passes"   // its readiness passes
	instFails    instanceEvent = "fails"    // its readiness was checked and does not pass
	instUnprobed instanceEvent = "unprobed" // not probed yet
	instDrain    instanceEvent = "drain"    // a scale-down takes it out of the route
)

// instanceLifecycle is the instance's state machine.
var instanceLifecycle = map[instanceState]map[instanceEvent]instanceState{
	instNew:      {instRestored: instPresumed, instPasses: instReady, instFails: instStarting, instUnprobed: instStarting, instDrain: instDraining},
	instPresumed: {instRestored: instPresumed, instPasses: instReady, instFails: instStarting, instUnprobed: instPresumed, instDrain: instDraining},
	instStarting: {instPasses: instReady, instFails: instStarting, instUnprobed: instStarting, instDrain: instDraining},
	instReady:    {instPasses: instReady, instFails: instFailing, instUnprobed: instReady, instDrain: instDraining},
	instFailing:  {instPasses: instReady, instFails: instFailing, instUnprobed: instFailing, instDrain: instDraining},
	instDraining: {instPasses: instDraining, instFails: instDraining, instUnprobed: instDraining, instDrain: instDraining},
}

// instanceRec is the loop's record of one instance, by its readiness key
// (its address, or its id on a platform that reports readiness).
type instanceRec struct {
	state instanceState
	// readySince is when it last became ready (instReady).
	readySince time.Time
}

// on moves the record by e at now; an event its state does not list
// (a restored route naming an instance already seen) changes nothing.
func (in *instanceRec) on(e instanceEvent, now time.Time) {
	next, ok := instanceLifecycle[in.state][e]
	if !ok {
		return
	}
	if next == instReady && in.state != instReady {
		in.readySince = now
	}
	in.state = next
}

// inst returns the record of the instance with readiness key k, creating it.
func (l *loop) inst(k string) *instanceRec {
	in, ok := l.insts[k]
	if !ok {
		in = &instanceRec{}
		l.insts[k] = in
	}
	return in
}
