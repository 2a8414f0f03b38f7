package e2e

import (
	"strings"
	"testing"
)

// TestDemoAsWritten runs the README's first command, `bluejay demo` (the
// README says `go run ./cmd/bluejay demo`: the same program), and checks
// that it exits 0 — it does only when every rollout ended as it should —
// after all seven versions, with every process it started stopped.
func TestDemoAsWritten(t *testing.T) {
	r := runCLI(t, t.TempDir(), []string{"BLUEJAY_ADMIN=", "BLUEJAY_TOKEN="}, "demo")
	if r.code != 0 {
		t.Fatalf("bluejay demo: %s", r)
	}
	for _, want := range []string{"deploy v2", "deploy v3", "deploy v4", "deploy v5", "deploy v6", "deploy v7",
		"rollout #6 ended RolledBack (want RolledBack)", "rollout #7 ended RolledBack (want RolledBack)",
		"stopped bluejay and every instance it started"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bluejay demo's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "✗") {
		t.Errorf("bluejay demo reported a failed check:\n%s", r.stdout)
	}
}
