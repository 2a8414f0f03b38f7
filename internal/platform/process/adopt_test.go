package process_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

// restart stands for a new bluejay: a fresh Platform on the same state
// file, configured like the first, that adopts what the state file lists.
func restart(t *testing.T, state string, cfg process.Config) (*process.Platform, int) {
	t.Helper()
	p, _ := newPlatform(t, cfg)
	p.SetStateFile(state)
	n, err := p.Adopt(t.Context())
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	return p, n
}

func TestAdoptKeepsInstancesServing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "bluejay.db.instances.json")
	cfg := process.Config{Replicas: 2, LogDir: t.TempDir()}
	first, _ := newPlatform(t, cfg)
	first.SetStateFile(state)
	before := deploy(t, first, platform.Version{Service: "web", Label: "v1"})
	for _, in := range before {
		waitStatus(t, in.Addr, "/healthz", 200)
	}

	second, n := restart(t, state, cfg)
	if n != 2 {
		t.Fatalf("adopted %d instances, want 2", n)
	}
	after := instancesOf(t, second, "web", "v1")
	if len(after) != 2 {
		t.Fatalf("after adoption: %d instances, want 2: %+v", len(after), after)
	}
	for i := range after {
		if after[i].PID != before[i].PID || after[i].Addr != before[i].Addr || after[i].State != platform.StateRunning {
			t.Errorf("instance %d: adopted %+v, started %+v", i, after[i], before[i])
		}
	}
	// Deploy of an adopted version starts nothing new.
	again := deploy(t, second, platform.Version{Service: "web", Label: "v1"})
	for i := range again {
		if again[i].PID != before[i].PID {
			t.Errorf("Deploy after adoption restarted replica %d: pid %d, was %d", i, again[i].PID, before[i].PID)
		}
	}

	// An adopted instance that dies is seen to exit and is restarted by
	// the next Deploy on the same address.
	if err := syscall.Kill(before[1].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the adopted instance's exit to be seen", func() bool {
		return instancesOf(t, second, "web", "v1")[1].State == platform.StateExited
	})
	restarted := deploy(t, second, platform.Version{Service: "web", Label: "v1"})
	if restarted[1].PID == before[1].PID || restarted[1].State != platform.StateRunning {
		t.Errorf("replica 1 after Deploy: %+v, want a new running process", restarted[1])
	}
	waitStatus(t, restarted[1].Addr, "/healthz", 200)

	// Stop stops adopted instances too.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := second.Stop(ctx, "web", "v1"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitFor(t, "the adopted instance to be gone", func() bool { return processGone(before[0].PID) })
	if got := readState(t, state); len(got) != 0 {
		t.Errorf("state file after Stop lists %d instances, want none", len(got))
	}
}

func TestAdoptSkipsAReusedPID(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := process.Config{LogDir: t.TempDir()}
	first, _ := newPlatform(t, cfg)
	first.SetStateFile(state)
	deploy(t, first, platform.Version{Service: "web", Label: "v1"})

	// Rewrite the record's start time: the pid now stands for another
	// process, which must not be adopted (nor, later, signalled).
	var st map[string][]map[string]any
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	st["instances"][0]["procStart"] = 1
	b, _ = json.Marshal(st)
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pid := int(st["instances"][0]["pid"].(float64))
	second, n := restart(t, state, cfg)
	if n != 0 {
		t.Errorf("adopted %d, want none: the pid belongs to another process", n)
	}
	// v1 is still wanted: a new instance replaces the one not adopted.
	if ins := instancesOf(t, second, "web", "v1"); len(ins) != 1 || ins[0].PID == pid || ins[0].State != platform.StateRunning {
		t.Errorf("after adoption: %+v, want one new instance (not pid %d)", ins, pid)
	}
}

// TestAdoptStartsWhatAKilledDeployDidNot: a bluejay killed in the middle
// of a Deploy had recorded the version's replicas before starting any:
// the next one adopts the instance that started and starts the other
// (regression: the crash harness found a version left at 1 of 2
// instances, which then failed its ready timeout).
func TestAdoptStartsWhatAKilledDeployDidNot(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := process.Config{Replicas: 2, LogDir: t.TempDir()}
	first, _ := newPlatform(t, cfg)
	first.SetStateFile(state)
	before := deploy(t, first, platform.Version{Service: "web", Label: "v1"})

	// As if the kill came after replica 0 started, before replica 1 did.
	var st map[string]any
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["instances"] = st["instances"].([]any)[:1]
	b, _ = json.Marshal(st)
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(before[1].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica 1 gone", func() bool { return processGone(before[1].PID) })

	second, n := restart(t, state, cfg)
	if n != 1 {
		t.Errorf("adopted %d, want replica 0", n)
	}
	after := instancesOf(t, second, "web", "v1")
	if len(after) != 2 || after[0].PID != before[0].PID || after[1].State != platform.StateRunning || after[1].PID == before[1].PID {
		t.Fatalf("after adoption: %+v; want replica 0 adopted and replica 1 started", after)
	}
	waitStatus(t, after[1].Addr, "/healthz", 200)
}

func TestAdoptStopsInstancesOfRemovedServices(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	first, _ := newPlatform(t, process.Config{LogDir: t.TempDir()})
	first.SetStateFile(state)
	pid := deploy(t, first, platform.Version{Service: "web", Label: "v1"})[0].PID

	second := process.New() // "web" is no longer configured
	second.SetStateFile(state)
	if n, err := second.Adopt(t.Context()); err != nil || n != 0 {
		t.Fatalf("Adopt = %d, %v; want 0, nil", n, err)
	}
	waitFor(t, "the removed service's instance to be stopped", func() bool { return processGone(pid) })
}

func TestAdoptWithoutStateFile(t *testing.T) {
	p, n := restart(t, filepath.Join(t.TempDir(), "missing.json"), process.Config{})
	if n != 0 || len(instancesOf(t, p, "web", "v1")) != 0 {
		t.Errorf("Adopt with no state file adopted %d", n)
	}
}

func readState(t *testing.T, path string) []map[string]any {
	t.Helper()
	var st struct {
		Instances []map[string]any `json:"instances"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	return st.Instances
}

// processGone reports whether pid no longer runs (gone or a zombie).
func processGone(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
