package controller_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// TestAlphaIsSpentAcrossTheRollout: a sequential judge's alpha (0.01)
// bounds the whole rollout's false rollbacks, so each of its runs gets a
// share: steps [setWeight 20, analysis, setWeight 100] take 4 runs (the
// analysis step's and the background's at each of the 3 steps), alpha
// 0.0025 each. On the old code every run had 0.01.
func TestAlphaIsSpentAcrossTheRollout(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc, templates := canaryService(v1, time.Minute, 50)
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), svc, templates)
	r.waitPhase(1, engine.PhaseCompleted)
	tr := sendTraffic(r.front.URL+"/", "v2", 2*time.Millisecond)
	defer tr.halt()
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseProgressing)
	v2.status.Store(500)
	ro = r.waitPhase(ro.ID, engine.PhaseRolledBack)
	if !strings.Contains(ro.Reason, "alpha 0.0025") {
		t.Fatalf("reason %q: want the run's share of alpha, 0.0025", ro.Reason)
	}
}
