package controller_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// unanswering is the static platform whose list of one version's
// instances fails while down is set, as a Kubernetes API that stopped
// answering would.
type unanswering struct {
	*static.Platform
	version string
	down    atomic.Bool
}

func (p *unanswering) Instances(service, version string) ([]platform.Instance, error) {
	if version == p.version && p.down.Load() {
		return nil, errors.New("the API server did not answer")
	}
	return p.Platform.Instances(service, version)
}

// TestFailedInstanceListIsNotALostVersion pins the bug where a failed
// list of instances read as "no instances" (Platform.Instances could not
// return an error) and rolled a healthy version back past its watch: the
// rollout holds, saying what it cannot see, keeps v2's traffic, and
// completes once the platform answers again.
func TestFailedInstanceListIsNotALostVersion(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1, func(s *spec.Service) {
		s.BlueGreen.Watch = spec.Duration(500 * time.Millisecond)
		// Probes that tolerate a loaded machine: only the failed list may matter here.
		s.Health.Interval, s.Health.Timeout = spec.Duration(200*time.Millisecond), spec.Duration(200*time.Millisecond)
		s.Health.UnhealthyThreshold = 5
	})
	plat := &unanswering{Platform: static.New(), version: "v2"}
	plat.SetTargets("web", "v1", []string{v1.addr()})
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, st, svc, plat)
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.deploy(v2)
	r.waitPhase(ro.ID, engine.PhaseWatching)
	plat.down.Store(true)

	// Past the watch and readyTimeout (2s), a lost v2 would be flipped back.
	until := time.Now().Add(4 * time.Second)
	for time.Now().Before(until) {
		s, _ := r.ctrl.Status("web")
		if s.Rollout.Phase != engine.PhaseWatching {
			t.Fatalf("with v2's instances unknown: phase %s (%s), want Watching held", s.Rollout.Phase, s.Rollout.Reason)
		}
		if v, _ := r.get(); v != "v2" {
			t.Fatalf("with v2's instances unknown, GET served by %q, want v2 (its route kept)", v)
		}
		time.Sleep(20 * time.Millisecond) // polling interval over a period that must see nothing happen
	}
	if s, _ := r.ctrl.Status("web"); !strings.Contains(s.Rollout.Reason, "holding: cannot list v2's instances") {
		t.Errorf("reason %q, want it to say what cannot be seen", s.Rollout.Reason)
	}
	plat.down.Store(false)
	got := r.waitPhase(ro.ID, engine.PhaseCompleted)
	if strings.Contains(got.Reason, "holding") {
		t.Errorf("completed with reason %q: the hold should have left it", got.Reason)
	}
}
