package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestCrashReload gives the crash harness reload points: serve is killed
// with SIGKILL in the middle of applying a reload that changes the
// service's version (the loops parked, the specs swapped, the rollout
// being created) — either from a settled service, or while a rollout to
// another version is under way (abort, then the new version). After the
// restart on the same file and store, the decision log kept every event,
// the proxy's table is the store's, no request failed while the proxy
// was up, and the version the file names is rolled out and completes:
// the reload's intent is not lost with the process that was applying it.
func TestCrashReload(t *testing.T) {
	sc := blueGreenScenario()
	sc.name = "blue-green, reload"
	good := sc.kinds[0]
	e := newCrashEnv(t, sc.opts, false, sc.edits...)
	r := newCrashRun(t, e, sc, 4, max(2, *crashPoints/6))
	e.boot()
	r.l = startCrashLoad(t, e.proxy)
	r.l.waitServed(t, "v1", 20, 10*time.Second)
	n := 2
	for r.kills < r.points {
		version := fmt.Sprintf("v%d", n)
		n++
		mid := r.rng.IntN(2) == 1
		if mid {
			// A rollout under way, then a reload naming another version.
			r.reloadTo(version)
			st := e.waitRollout("the rollout to "+version+" past Deploying", 30*time.Second, func(st status) bool {
				return st.Rollout.To.Label == version && st.Rollout.Phase != "Deploying"
			})
			r.planLog = append(r.planLog, fmt.Sprintf("#%d %s in %s, then a reload to v%d", st.Rollout.ID, version, st.Rollout.Phase, n))
			version = fmt.Sprintf("v%d", n)
			n++
		}
		before, err := e.apiEvents()
		if err != nil {
			t.Fatal(err)
		}
		last, err := e.apiStatus()
		if err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.rng.Int64N(int64(150 * time.Millisecond)))
		where := fmt.Sprintf("seed %d, reload kill %d/%d: reload to %s (mid-rollout %v), killed %s after the request", r.seed, r.kills+1, r.points, version, mid, delay)
		r.planLog = append(r.planLog, where)
		r.writeVersion(version)
		go e.call(http.MethodPost, "/v1/reload", nil, nil) // its answer is lost with serve
		time.Sleep(delay)                                  // the kill point itself, not a wait for a condition
		r.kills++
		r.kill(where)
		r.afterRestart(where, before, last.Rollout.ID)
		st := e.waitRollout(where+": a rollout to "+version, 60*time.Second, func(st status) bool {
			return st.Rollout.To.Label == version
		})
		r.rollouts++
		r.ended(st.Rollout.ID, version, good)
	}
	r.l.stop()
	r.finish()
}

var versionLine = regexp.MustCompile(`(?m)^    version: \S+$`)

// reloadTo sets the file's version and has serve reload it.
func (r *crashRun) reloadTo(version string) {
	r.writeVersion(version)
	if _, _, err := r.e.call(http.MethodPost, "/v1/reload", nil, nil); err != nil {
		r.t.Fatalf("reload to %s: %v", version, err)
	}
}

// writeVersion sets the version in the config file.
func (r *crashRun) writeVersion(version string) {
	b, err := os.ReadFile(r.e.config)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.e.config, versionLine.ReplaceAll(b, []byte("    version: "+version)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}
