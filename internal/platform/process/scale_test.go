package process_test

import (
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

// TestDeployScales pins Version.Replicas: Deploy grows a version to the
// count asked for and shrinks it by stopping the highest-numbered
// instances, leaving the others running.
func TestDeployScales(t *testing.T) {
	p, _ := newPlatform(t, process.Config{Replicas: 2})
	v := platform.Version{Service: "web", Label: "v2", Replicas: 3}
	insts := deploy(t, p, v)
	if len(insts) != 3 {
		t.Fatalf("scaled up to %d instances, want 3", len(insts))
	}
	for _, in := range insts {
		waitStatus(t, in.Addr, "/healthz", 200)
	}
	v.Replicas = 1
	left := deploy(t, p, v)
	if len(left) != 1 || left[0].PID != insts[0].PID {
		t.Fatalf("scaled down to %+v, want only %s (pid %d)", left, insts[0].ID, insts[0].PID)
	}
	for _, gone := range insts[1:] {
		if _, _, err := get(gone.Addr, "/healthz"); err == nil {
			t.Errorf("%s still answers after the scale-down", gone.ID)
		}
	}
	if got := deploy(t, p, platform.Version{Service: "web", Label: "v2"}); len(got) != 2 || got[0].PID != insts[0].PID {
		t.Fatalf("Replicas 0 should mean the configured 2 and keep %s: got %+v", insts[0].ID, got)
	}
}
