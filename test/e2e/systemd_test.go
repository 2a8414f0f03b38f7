package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnits checks deploy/systemd's units with systemd-analyze
// verify (with ExecStart pointing at the binary built here) and that
// serve's unit lets the instances outlive serve (KillMode=process).
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze not installed: %v", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, unit := range []string{"bluejay.service", "bluejay-proxy.service"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "\nKillMode=process\n") {
			t.Errorf("%s: want KillMode=process, so that instances outlive a restart", unit)
		}
		path := filepath.Join(dir, unit)
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/bluejay", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
}
