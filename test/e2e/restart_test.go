package e2e

import (
	"slices"
	"testing"
	"time"
)

// TestKillServeAfterSwitch kills bluejay with SIGKILL after a switch to
// v2: its instances must outlive it (a separate proxy may still route to
// them), and a new serve on the same config must adopt them — same
// processes, no restart — and serve v2 again from the store, with the
// history intact.
func TestKillServeAfterSwitch(t *testing.T) {
	o := defaultOptions()
	o.minRequests = 0 // no user traffic before the kill: the watch passes on none
	s := startServer(t, o)
	s.mustCLI(0, "deploy", "web", "v2", "--wait")
	before, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	waitProxyServes(t, s.proxy, "v2", 20, 10*time.Second)

	s.kill()
	running := map[string]int{} // instance id → pid, of v2
	for _, in := range before.Instances {
		if in.PID > 0 && in.Version == "v2" {
			running[in.ID] = in.PID
		}
	}
	if len(running) < 2 {
		t.Fatalf("status before the kill lists no running v2 instances: %+v", before.Instances)
	}
	for id, pid := range running {
		if processGone(pid) {
			t.Errorf("%s (pid %d) died with bluejay serve; instances must outlive it", id, pid)
		}
	}

	s.start()
	st := s.waitStatus("stable v2 after the restart", 20*time.Second, func(st status) bool {
		return st.Stable == "v2" && st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Completed"
	})
	if st.Rollout.ID != before.Rollout.ID {
		t.Errorf("after the restart the latest rollout is #%d, want #%d as before the kill", st.Rollout.ID, before.Rollout.ID)
	}
	waitProxyServes(t, s.proxy, "v2", 20, 20*time.Second)
	for _, in := range st.Instances {
		if pid, ok := running[in.ID]; ok && in.PID != pid {
			t.Errorf("after the restart %s runs as pid %d, want the adopted pid %d", in.ID, in.PID, pid)
		}
	}

	rows, out := s.history()
	if !slices.Contains(rows, historyRow{id: "2", from: "v1", to: "v2", phase: "Completed"}) ||
		!slices.Contains(rows, historyRow{id: "1", from: "(none)", to: "v1", phase: "Completed"}) || len(rows) != 2 {
		t.Errorf("history after the restart: want rollouts #1 of v1 and #2 of v2, both Completed; got:\n%s", out)
	}
}

// waitGone waits until every pid has exited and returns those still
// running at the deadline.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if !processGone(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
