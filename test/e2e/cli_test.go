package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIUsageAndErrors checks the CLI's exit statuses and messages for
// usage mistakes, invalid configs, a wrong token and a rollout that is
// already under way, and promote and abort of a paused rollout.
func TestCLIUsageAndErrors(t *testing.T) {
	t.Run("missing argument", func(t *testing.T) {
		r := runCLI(t, t.TempDir(), nil, "deploy", "web")
		if r.code != 2 || !strings.Contains(strings.ToLower(r.stderr), "usage") {
			t.Errorf("deploy web (no version): want exit 2 and a pointer to the usage, got:\n%s", r)
		}
	})

	t.Run("typo in config", func(t *testing.T) {
		dir, line, col := writeBadConfig(t)
		r := runCLI(t, dir, nil, "validate", "-c", "bad.yaml")
		want := fmt.Sprintf("bad.yaml:%d:%d: services[0].blueGreen.wacth", line, col)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("validate of a config with a typo: want exit 1 and %q, got:\n%s", want, r)
		}
		if !strings.Contains(r.stderr, "watch") {
			t.Errorf("validate of a config with a typo: want the valid field (watch) suggested, got:\n%s", r)
		}
	})

	t.Run("serve refuses a bad config", func(t *testing.T) {
		dir, _, _ := writeBadConfig(t)
		b := startCLI(t, dir, nil, "serve", "-c", "bad.yaml")
		r, ok := b.waitFor(15 * time.Second)
		if !ok {
			t.Fatalf("serve on an invalid config was still running after 15s")
		}
		if r.code != 1 || !strings.Contains(r.stderr, "services[0].blueGreen.wacth") {
			t.Errorf("serve on an invalid config: want exit 1 naming the bad field, got:\n%s", r)
		}
		if dbs, _ := filepath.Glob(filepath.Join(dir, "*.db*")); len(dbs) > 0 {
			t.Errorf("serve on an invalid config created a store: %v", dbs)
		}
	})

	o := defaultOptions()
	o.previewWeight, o.autoPromote = 10, false
	s := startServer(t, o)

	t.Run("wrong token", func(t *testing.T) {
		s := s.on(t)
		env := []string{"BLUEJAY_ADMIN=" + s.admin, "BLUEJAY_TOKEN=not-the-token"}
		r := runCLI(t, t.TempDir(), env, "status")
		if r.code != 1 || !strings.Contains(r.stderr, "401") && !strings.Contains(r.stderr, "token") {
			t.Errorf("status with a wrong token: want exit 1 and 401 or token in stderr, got:\n%s", r)
		}
		env = []string{"BLUEJAY_ADMIN=" + s.admin, "BLUEJAY_TOKEN=" + s.token}
		if r := runCLI(t, t.TempDir(), env, "status"); r.code != 0 || !strings.Contains(r.stdout, "web") {
			t.Errorf("status with the right token from the environment: want exit 0 listing web, got:\n%s", r)
		}
	})

	t.Run("active rollout, promote and abort", func(t *testing.T) {
		s := s.on(t)
		l := startLoad(t, s.proxy)
		s.mustCLI(0, "deploy", "web", "v2")
		st := s.waitStatus("v2 Paused", 30*time.Second, func(st status) bool {
			return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Paused"
		})
		if st.Weights["v2"] != 10 || st.Weights["v1"] != 90 {
			t.Errorf("paused after the preview: want weights v1=90 v2=10, got %v", st.Weights)
		}
		r := s.cli("deploy", "web", "v3")
		if r.code != 1 || !strings.Contains(r.stderr, "active rollout") {
			t.Errorf("deploy during a paused rollout: want exit 1 and \"active rollout\", got:\n%s", r)
		}
		s.mustCLI(0, "promote", "web")
		s.waitStatus("v2 Completed after promote", 30*time.Second, func(next status) bool {
			return next.Rollout.ID == st.Rollout.ID && next.Rollout.Phase == "Completed" && next.Stable == "v2"
		})
		l.waitServed(t, "v2", 20, 10*time.Second)

		s.mustCLI(0, "deploy", "web", "v3")
		s.waitStatus("v3 Paused", 30*time.Second, func(st status) bool {
			return st.Rollout.To.Label == "v3" && st.Rollout.Phase == "Paused"
		})
		l.waitCount(t, "v3", 1, 10*time.Second) // the paused split sends it some users
		s.mustCLI(0, "abort", "web")
		st = s.waitStatus("v3 rollout ended", 10*time.Second, func(st status) bool {
			return st.Rollout.To.Label == "v3" && st.Rollout.Phase != "Paused"
		})
		if st.Stable != "v2" || !maps.Equal(st.Weights, map[string]int{"v2": 100}) ||
			st.Rollout.Phase != "RolledBack" && st.Rollout.Phase != "Aborted" {
			t.Errorf("after abort: want stable v2, weights v2=100, phase RolledBack or Aborted; got stable %q weights %v phase %q (%s)",
				st.Stable, st.Weights, st.Rollout.Phase, st.Rollout.Reason)
		}
		t.Logf("after abort: %s: %s", st.Rollout.Phase, st.Rollout.Reason)
		l.waitServed(t, "v2", 20, 10*time.Second)
		l.stop()
		l.assertNoFailures(t)
	})
}

// writeBadConfig writes dir/bad.yaml, whose blueGreen has the typo
// "wacth", and returns the directory and the typo's line and column.
func writeBadConfig(t *testing.T) (dir string, line, col int) {
	t.Helper()
	dir = t.TempDir()
	cfg := fmt.Sprintf(`proxy:
  listen: %s
admin:
  listen: %s
  token: e2e-token
store:
  path: ./bluejay.db
services:
  - name: web
    version: v1
    platform:
      process:
        command: [%q, "app", "--port", "{{.Port}}", "--version", "{{.Version}}"]
    blueGreen:
      wacth: 2s
`, freeAddr(t), freeAddr(t), bin)
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(cfg, "wacth")
	line = strings.Count(cfg[:i], "\n") + 1
	col = i - strings.LastIndexByte(cfg[:i], '\n')
	return dir, line, col
}
