package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash harness kills `bluejay serve` with SIGKILL at random points of
// blue-green, canary and rolling rollouts under load, restarts it on the
// same config and store, and checks after every restart and at every
// rollout's end:
//
//  1. the rollout resumes and ends in the terminal phase its version
//     calls for (a healthy version completes, a broken one is rolled back
//     or fails): a crash never decides a rollout;
//  2. no event is lost: the decision log read before the kill is a prefix
//     of the one after, and each rollout's events form a chain (each
//     event's From is the previous one's Phase, the last one's Phase is
//     the rollout's);
//  3. the proxy's route table equals the store's (GET /v1/dataplane/routes
//     against GET /v1/routes);
//  4. no request goes to a stopped instance: while the proxy is up, no
//     request fails (a 502 from a dead instance, a 503 or 404 with no
//     instance or route); with the proxy inside serve, failures while
//     serve is down are counted apart.
//
// CI runs -crash.points (24) kill points across the three strategies;
// -crash.points=300 runs hundreds, and -crash.seed replays a plan:
//
//	go test ./test/e2e -run TestCrash -crash.points=300 -crash.seed=42 -timeout 1h -v
//
// (300 points take about 20 minutes on two cores.)

var (
	crashPoints = flag.Int("crash.points", 24, "SIGKILLs of serve the crash tests make across blue-green, canary and rolling "+
		"(a third each; TestCrashSeparateProxy makes a quarter as many, at least 4)")
	crashSeedFlag = flag.Int64("crash.seed", 0, "seed of the crash tests' kill points; 0 picks one from the clock (logged, for replay)")
)

var (
	crashSeedOnce sync.Once
	crashSeedVal  int64
)

// crashSeed is the run's seed: -crash.seed, or the clock's.
func crashSeed() int64 {
	crashSeedOnce.Do(func() {
		crashSeedVal = *crashSeedFlag
		if crashSeedVal == 0 {
			crashSeedVal = time.Now().UnixNano() % 1_000_000_000
		}
	})
	return crashSeedVal
}

// killTarget is a moment of a rollout: the first time its phase (and, for
// a canary's Progressing, its step index) or any later one is seen.
type killTarget struct {
	phase string
	step  int
}

func (k killTarget) String() string {
	if k.phase == "Progressing" {
		return fmt.Sprintf("Progressing step %d", k.step)
	}
	return k.phase
}

// phaseRank orders the phases as a rollout goes through them.
func phaseRank(p string) int {
	switch p {
	case "Deploying":
		return 0
	case "Smoke":
		return 1
	case "Preview", "Paused":
		return 2
	case "Progressing":
		return 3
	case "Watching":
		return 4
	case "Completed", "RolledBack", "Failed", "Aborted":
		return 5
	}
	return -1
}

func terminal(p string) bool { return phaseRank(p) == 5 }

// reached reports whether a rollout in st has reached k.
func (k killTarget) reached(st status) bool {
	r, want := phaseRank(st.Rollout.Phase), phaseRank(k.phase)
	return r > want || r == want && st.Rollout.Step >= k.step
}

// killPoint is when one SIGKILL comes: delay after the deploy (or the last
// restart), or when target is first seen, then after more.
type killPoint struct {
	delay  time.Duration
	target killTarget // zero: by delay
	after  time.Duration
}

func (k killPoint) String() string {
	if k.target.phase == "" {
		return fmt.Sprintf("%s after the deploy or restart", k.delay.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s after %s is first seen", k.after.Round(time.Millisecond), k.target)
}

// versionKind is a kind of version a crash scenario deploys.
type versionKind struct {
	name    string
	args    []string // the sample app's fault flags
	want    string   // the terminal phase the version must end in
	errors  bool     // answers 500 on purpose
	weight  int      // relative frequency
	targets []killTarget
}

// crashScenario is a strategy's crash test.
type crashScenario struct {
	name, strategy string
	opts           options
	edits          []configEdit
	kinds          []versionKind
	maxDelay       time.Duration // bound of a kill's random delay
}

// Kill targets per phase.
var (
	atDeploying  = killTarget{phase: "Deploying"}
	atSmoke      = killTarget{phase: "Smoke"}
	atPreview    = killTarget{phase: "Preview"}
	atWatching   = killTarget{phase: "Watching"}
	atCompleted  = killTarget{phase: "Completed"}
	atRolledBack = killTarget{phase: "RolledBack"}
	atFailed     = killTarget{phase: "Failed"}
)

func atStep(i int) killTarget { return killTarget{phase: "Progressing", step: i} }

// failHealth never becomes ready: Failed at readyTimeout (5s), no traffic.
func failHealth(targets ...killTarget) versionKind {
	return versionKind{name: "fail-health", args: []string{"--fail-health"}, want: "Failed", weight: 1,
		targets: append(targets, atDeploying, atFailed)}
}

func blueGreenScenario() crashScenario {
	o := defaultOptions()
	o.previewWeight = 20 // Preview for 1s, then a 2s watch
	o.smokePath = "/version"
	return crashScenario{name: "blue-green", strategy: "blue-green", opts: o, edits: []configEdit{shortScaleDown},
		maxDelay: 4 * time.Second,
		kinds: []versionKind{
			{name: "good", want: "Completed", weight: 3,
				targets: []killTarget{atDeploying, atSmoke, atPreview, atWatching, atCompleted}},
			{name: "errors", args: []string{"--error-rate", "1"}, want: "RolledBack", errors: true, weight: 1,
				targets: []killTarget{atDeploying, atSmoke, atPreview, atRolledBack}},
			failHealth(),
		}}
}

// crashCanarySteps: 20%, a 2s analysis (sequential error-rate test,
// verdicts every second), 50%, 100%.
const crashCanarySteps = `
analysis: t
scaleDownDelay: 1s
abortScaleDownDelay: 1s
progressDeadline: 30s
steps:
  - setWeight: 20
  - analysis: {template: t, duration: 2s}
  - setWeight: 50
  - setWeight: 100`

func canaryScenario() crashScenario {
	return crashScenario{name: "canary", strategy: "canary", opts: canaryOptions(crashCanarySteps, errorRateTemplate(20)),
		maxDelay: 6 * time.Second,
		kinds: []versionKind{
			{name: "good", want: "Completed", weight: 3,
				targets: []killTarget{atDeploying, atSmoke, atStep(0), atStep(1), atStep(2), atCompleted}},
			{name: "errors", args: []string{"--error-rate", "0.5"}, want: "RolledBack", errors: true, weight: 1,
				targets: []killTarget{atDeploying, atSmoke, atStep(0), atStep(1), atRolledBack}},
			failHealth(),
		}}
}

func rollingScenario() crashScenario {
	o := rollingOptions()
	o.rolling = "maxSurge: 1\nmaxUnavailable: 0\nminHealthyTime: 500ms\nprogressDeadline: 30s\n"
	return crashScenario{name: "rolling", strategy: "rolling", opts: o, edits: []configEdit{replicas3},
		maxDelay: 5 * time.Second,
		kinds: []versionKind{
			{name: "good", want: "Completed", weight: 3,
				targets: []killTarget{atDeploying, atSmoke, killTarget{phase: "Progressing"}, atCompleted}},
			failHealth(),
		}}
}

func TestCrashBlueGreen(t *testing.T) { runCrash(t, blueGreenScenario(), 0) }
func TestCrashCanary(t *testing.T)    { runCrash(t, canaryScenario(), 1) }
func TestCrashRolling(t *testing.T)   { runCrash(t, rollingScenario(), 2) }

// runCrash runs a third of -crash.points kill points of the scenario with
// serve's own proxy.
func runCrash(t *testing.T, sc crashScenario, stream uint64) {
	points := max(1, (*crashPoints+2)/3)
	e := newCrashEnv(t, sc.opts, false, sc.edits...)
	r := newCrashRun(t, e, sc, stream, points)
	r.run()
}

// TestCrashSeparateProxy is the issue's "done means": with `bluejay
// proxy` running apart from serve (proxy.control set), kill -9 of serve
// during canaries under load costs no user request, and every canary
// still completes.
func TestCrashSeparateProxy(t *testing.T) {
	sc := canaryScenario()
	sc.name = "canary, separate proxy"
	sc.kinds = sc.kinds[:1] // healthy canaries: any failed request is the kill's
	e := newCrashEnv(t, sc.opts, true, sc.edits...)
	if res := runCLI(t, e.dir, nil, "validate", "-c", e.config); res.code != 0 {
		t.Fatalf("the separate-proxy config is invalid:\n%s", res)
	}
	r := newCrashRun(t, e, sc, 3, max(4, *crashPoints/4))
	r.run()
}

// crashRun is one scenario's run: its plan, its load and its tallies.
type crashRun struct {
	t      *testing.T
	e      *crashEnv
	l      *crashLoad
	sc     crashScenario
	seed   int64
	rng    *rand.Rand
	points int

	kills, rollouts int
	stable          string
	outcomes        map[string]int // "good→Completed": count
	downs           []downtime
	injecting       map[string]bool // versions that answer 500 on purpose
	routeChecks     int
	survivors       int // instance processes alive right after the kills
	planLog         []string
}

func newCrashRun(t *testing.T, e *crashEnv, sc crashScenario, stream uint64, points int) *crashRun {
	seed := crashSeed()
	t.Logf("crash seed %d (replay: go test ./test/e2e -run '%s$' -crash.seed=%d -crash.points=%d); %s: %d kill points",
		seed, t.Name(), seed, *crashPoints, sc.name, points)
	return &crashRun{t: t, e: e, sc: sc, seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), stream)), points: points,
		outcomes: map[string]int{}, injecting: map[string]bool{}, stable: "v1"}
}

func (r *crashRun) run() {
	t, e := r.t, r.e
	e.boot()
	r.l = startCrashLoad(t, e.proxy)
	r.l.waitServed(t, "v1", 20, 10*time.Second)
	if e.checkRoutes(t, "after the first rollout", 5*time.Second) {
		r.routeChecks++
	}
	// Each kind of version once, in a random order, then at random.
	first := r.rng.Perm(len(r.sc.kinds))
	for n := 0; r.kills < r.points; n++ {
		var kind versionKind
		if n < len(first) {
			kind = r.sc.kinds[first[n]]
		} else {
			kind = r.pickKind()
		}
		kills := min(1+r.rng.IntN(3), r.points-r.kills)
		r.rollout(fmt.Sprintf("v%d", n+2), kind, r.plan(kind, kills))
	}
	r.l.stop()
	r.finish()
}

func (r *crashRun) pickKind() versionKind {
	total := 0
	for _, k := range r.sc.kinds {
		total += k.weight
	}
	x := r.rng.IntN(total)
	for _, k := range r.sc.kinds {
		if x -= k.weight; x < 0 {
			return k
		}
	}
	panic("unreachable")
}

// plan draws n kill points, half of them by delay, half by phase.
func (r *crashRun) plan(kind versionKind, n int) []killPoint {
	var ps []killPoint
	for range n {
		if r.rng.IntN(2) == 0 {
			ps = append(ps, killPoint{delay: time.Duration(r.rng.Int64N(int64(r.sc.maxDelay)))})
			continue
		}
		ps = append(ps, killPoint{target: kind.targets[r.rng.IntN(len(kind.targets))],
			after: time.Duration(r.rng.Int64N(int64(300 * time.Millisecond)))})
	}
	return ps
}

// rollout deploys version, kills serve at each point of plan and restarts
// it, then checks how the rollout ended.
func (r *crashRun) rollout(version string, kind versionKind, plan []killPoint) {
	t, e := r.t, r.e
	if kind.errors {
		r.injecting[version] = true
	}
	ro := e.deploy(version, r.sc.strategy, kind.args)
	r.rollouts++
	since := time.Now()
	for i, kp := range plan {
		r.kills++
		where := fmt.Sprintf("seed %d, %s kill %d/%d (rollout #%d %s→%s, %s version; its kill %d/%d at %s)",
			r.seed, r.sc.name, r.kills, r.points, ro.ID, r.stable, version, kind.name, i+1, len(plan), kp)
		seen := r.reach(ro.ID, kp, since, where)
		before, err := e.apiEvents()
		if err != nil {
			t.Fatalf("%s: reading the events before the kill: %v", where, err)
		}
		r.planLog = append(r.planLog, fmt.Sprintf("#%d %s %s: %s, killed in %s", ro.ID, version, kind.name, kp, seen))
		r.kill(where)
		since = time.Now()
		r.afterRestart(where+", killed in "+seen, before, ro.ID)
	}
	r.ended(ro.ID, version, kind)
}

// reach waits for the kill point and returns the phase the rollout was
// in (as last seen).
func (r *crashRun) reach(id int64, kp killPoint, since time.Time, where string) string {
	e := r.e
	if kp.target.phase == "" {
		time.Sleep(time.Until(since.Add(kp.delay))) // the kill point itself, not a wait for a condition
		st, err := e.apiStatus()
		if err != nil {
			return "(status: " + err.Error() + ")"
		}
		return describe(st)
	}
	st := e.waitRollout(where+": the kill's phase", 60*time.Second, func(st status) bool {
		// Paused is no scenario's phase: the kill goes on (ended reports it).
		return st.Rollout.ID == id && (kp.target.reached(st) || st.Rollout.Phase == "Paused")
	})
	time.Sleep(kp.after) // the kill point's random offset
	return describe(st)
}

func describe(st status) string {
	if st.Rollout.Phase == "Progressing" {
		return fmt.Sprintf("Progressing step %d, weights %v", st.Rollout.Step, st.Weights)
	}
	return fmt.Sprintf("%s, weights %v", st.Rollout.Phase, st.Weights)
}

// kill sends SIGKILL to serve, and only to serve, then restarts it on the
// same config and store.
func (r *crashRun) kill(where string) {
	e := r.e
	e.logMark("SIGKILL: %s", where)
	from := time.Now()
	e.server.kill()
	if st, err := readInstances(e.storePath); err == nil {
		for _, in := range st.Instances {
			if in.PID > 0 && !processGone(in.PID) {
				r.survivors++
			}
		}
	}
	if e.proxyExited() {
		r.t.Fatalf("%s: the separate bluejay proxy exited (status %d) with serve", where, e.proxyProc.code)
	}
	e.start()
	if !e.separate {
		e.waitProxyListening(10 * time.Second)
		r.downs = append(r.downs, downtime{from: from, to: time.Now()})
	}
}

// afterRestart checks that no event was lost and that the proxy's table
// matches the store's once serve is back.
func (r *crashRun) afterRestart(where string, before []crashEvent, id int64) {
	t, e := r.t, r.e
	after, err := e.apiEvents()
	if err != nil {
		t.Fatalf("%s: reading the events after the restart: %v", where, err)
	}
	checkPrefix(t, where, before, after)
	if _, _, err := e.call(http.MethodGet, fmt.Sprintf("/v1/rollouts/%d", id), nil, nil); err != nil {
		t.Errorf("%s: rollout #%d after the restart: %v", where, id, err)
	}
	if e.checkRoutes(t, where+": after the restart", 5*time.Second) {
		r.routeChecks++
	}
}

// checkPrefix reports events seen before a kill that are gone or changed
// after it.
func checkPrefix(t *testing.T, where string, before, after []crashEvent) {
	t.Helper()
	for i, ev := range before {
		if i >= len(after) {
			t.Errorf("%s: event lost: %d events before the kill, %d after; first missing: %s", where, len(before), len(after), ev)
			return
		}
		if !ev.equal(after[i]) {
			t.Errorf("%s: the decision log changed across the kill at position %d:\nbefore: %s\nafter:  %s", where, i, ev, after[i])
			return
		}
	}
}

// ended waits for the rollout to end and checks its phase, its chain of
// events, the weights and the route tables.
func (r *crashRun) ended(id int64, version string, kind versionKind) {
	t, e := r.t, r.e
	where := fmt.Sprintf("seed %d, %s rollout #%d %s→%s (%s version)", r.seed, r.sc.name, id, r.stable, version, kind.name)
	st := e.waitRollout(where+": a terminal phase", 60*time.Second, func(st status) bool {
		return st.Rollout.ID == id && (terminal(st.Rollout.Phase) || st.Rollout.Phase == "Paused")
	})
	if st.Rollout.Phase == "Paused" {
		// No scenario pauses: a rollout waiting for a person after a crash
		// is stuck. Report it, then abort it to go on.
		r.outcomes[kind.name+"→Paused (aborted)"]++
		evs, _ := e.apiEvents()
		t.Errorf("%s: Paused, waiting for a person: %q; want %s without one; its events:\n%s",
			where, st.Rollout.Reason, kind.want, crashEventsString(evs, id))
		if _, _, err := e.call(http.MethodPost, "/v1/services/web/abort", nil, nil); err != nil {
			t.Fatalf("%s: abort of the paused rollout: %v", where, err)
		}
		e.waitRollout(where+": aborted", 30*time.Second, func(st status) bool {
			return st.Rollout.ID == id && terminal(st.Rollout.Phase)
		})
		return
	}
	ro := st.Rollout
	r.outcomes[kind.name+"→"+ro.Phase]++
	evs, err := e.apiEvents()
	if err != nil {
		t.Fatalf("%s: events: %v", where, err)
	}
	if ro.Phase != kind.want {
		t.Errorf("%s: ended %s, want %s: %q; its events:\n%s", where, ro.Phase, kind.want, ro.Reason, crashEventsString(evs, id))
	}
	checkChain(t, where, ro, evs)
	stable := r.stable
	if ro.Phase == "Completed" {
		stable = version
	}
	deadline := time.Now().Add(5 * time.Second)
	for !onlyStable(st.Weights, stable) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // poll interval
		if st, err = e.apiStatus(); err != nil {
			t.Fatalf("%s: status: %v", where, err)
		}
	}
	if !onlyStable(st.Weights, stable) || st.Stable != stable {
		t.Errorf("%s: after %s the live weights are %v and stable %q, want all traffic on %s", where, ro.Phase, st.Weights, st.Stable, stable)
	}
	if e.checkRoutes(t, where+": at its end", 5*time.Second) {
		r.routeChecks++
	}
	r.stable = stable
}

// checkChain checks that the rollout's events form a chain ending in its
// phase.
func checkChain(t *testing.T, where string, ro rollout, all []crashEvent) {
	t.Helper()
	var evs []crashEvent
	for _, ev := range all {
		if ev.RolloutID == ro.ID {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		t.Errorf("%s: rollout #%d has no event", where, ro.ID)
		return
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].From != evs[i-1].Phase {
			t.Errorf("%s: broken chain of events of rollout #%d: %s follows %s\n%s", where, ro.ID, evs[i], evs[i-1], crashEventsString(all, ro.ID))
			return
		}
	}
	if last := evs[len(evs)-1]; last.Phase != ro.Phase {
		t.Errorf("%s: rollout #%d is %s but its last event is %s", where, ro.ID, ro.Phase, last)
	}
}

func crashEventsString(all []crashEvent, id int64) string {
	var b strings.Builder
	for _, ev := range all {
		if ev.RolloutID == id {
			b.WriteString("  " + ev.String() + "\n")
		}
	}
	return b.String()
}

// finish checks the load and every rollout's chain, and logs the summary.
func (r *crashRun) finish() {
	t, e := r.t, r.e
	if e.proxyExited() {
		t.Errorf("seed %d, %s: the separate bluejay proxy exited (status %d)", r.seed, r.sc.name, e.proxyProc.code)
	}
	rep := classify(r.l.all(), r.downs, r.injecting)
	if len(rep.violations) > 0 {
		var first []string
		for _, o := range rep.violations[:min(len(rep.violations), 15)] {
			first = append(first, o.String())
		}
		t.Errorf("seed %d, %s: %d user requests failed while the proxy was up (%v by status, 0: transport error); first ones:\n  %s\nkills at: %s",
			r.seed, r.sc.name, len(rep.violations), rep.byStatus, strings.Join(first, "\n  "), r.downsString())
	}
	rs, err := e.apiRollouts()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.apiEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range rs {
		checkChain(t, fmt.Sprintf("seed %d, %s, at the end", r.seed, r.sc.name), ro, evs)
	}
	r.checkLeftovers()
	routes := fmt.Sprintf("route tables found equal %d times", r.routeChecks)
	var outcomes []string
	for k, n := range r.outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(outcomes)
	t.Logf("kill points:\n  %s", strings.Join(r.planLog, "\n  "))
	t.Logf("SUMMARY %s: seed %d, %d kill points, %d rollouts (%s), %d events; load: %s; %d instance processes alive right after the kills (summed over the kills); %s",
		r.sc.name, r.seed, r.kills, r.rollouts, strings.Join(outcomes, ", "), len(evs), rep, r.survivors, routes)
}

func (r *crashRun) downsString() string {
	var s []string
	for _, d := range r.downs {
		s = append(s, fmt.Sprintf("%s–%s", d.from.Format("15:04:05.000"), d.to.Format("15:04:05.000")))
	}
	if len(s) == 0 {
		return "(the proxy never went down)"
	}
	return strings.Join(s, ", ")
}

// checkLeftovers waits for the instances of every version but the stable
// one to stop: each scenario's scale-down delays are 1s and its stop grace
// 2s, so after the last rollout ended nothing else should run for long. A
// version left running after a crash is an instance nobody will stop.
func (r *crashRun) checkLeftovers() {
	t, e := r.t, r.e
	deadline := time.Now().Add(15 * time.Second)
	var extra []string
	for {
		st, err := readInstances(e.storePath)
		if err != nil {
			t.Errorf("reading %s: %v", instancesFile(e.storePath), err)
			return
		}
		extra = extra[:0]
		for _, in := range st.Instances {
			if in.Version != r.stable && in.PID > 0 && !processGone(in.PID) {
				extra = append(extra, fmt.Sprintf("%s-%s-%d (pid %d, %s)", in.Service, in.Version, in.Replica, in.PID, in.Addr))
			}
		}
		if len(extra) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	if len(extra) == 0 {
		return
	}
	rs, _ := e.apiRollouts()
	var hist []string
	for _, ro := range rs {
		hist = append(hist, fmt.Sprintf("#%d %s→%s %s", ro.ID, ro.From.Label, ro.To.Label, ro.Phase))
	}
	st, _ := e.apiStatus()
	t.Errorf("seed %d, %s: 15s after the last rollout ended, instances of versions other than the stable %s still run: %s\nrollouts: %s\nstatus instances: %+v",
		r.seed, r.sc.name, r.stable, strings.Join(extra, ", "), strings.Join(hist, ", "), st.Instances)
}
