package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// editConfig rewrites s's config file, replacing old with new once.
func (s *server) editConfig(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		s.t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// TestGitOpsReload is the README's GitOps path with the real binary:
// edit the file's version, see the drift (status warns, diff shows it),
// reload, and the rollout runs under load with no failed request. An
// invalid file is refused (SIGHUP leaves serve running; reload prints
// FILE:LINE:COL and exits 1) and changes nothing. Before, SIGHUP killed
// serve and an edited file was ignored until a restart.
func TestGitOpsReload(t *testing.T) {
	s := startServer(t, defaultOptions())
	l := startLoad(t, s.proxy)
	env := []string{"BLUEJAY_ADMIN=" + s.admin, "BLUEJAY_TOKEN=" + s.token} // reach serve even when the file is broken

	// An invalid file: SIGHUP and reload refuse it, serve keeps serving v1.
	s.editConfig("watch: 2s", "wacth: 2s")
	if err := s.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, s.dir, env, "reload")
	if r.code != 1 || !strings.Contains(r.stderr, "bluejay.yaml:") || !strings.Contains(r.stderr, "blueGreen.wacth") {
		t.Fatalf("reload of an invalid file: want exit 1 with bluejay.yaml:LINE:COL and the field, got:\n%s", r)
	}
	s.failIfExited()
	if r := runCLI(t, s.dir, env, "status"); r.code != 0 || !strings.Contains(r.stdout, "#1 (none)→v1") || strings.Contains(r.stdout, "#2") {
		t.Fatalf("an invalid file changed the state:\n%s", r)
	}

	// The GitOps path: edit the version, look, reload, watch.
	s.editConfig("wacth: 2s", "watch: 2s")
	// The README's commands, as written, in the config's directory.
	readme := func(want int, args ...string) result {
		t.Helper()
		r := runCLI(t, s.dir, nil, args...)
		if r.code != want {
			t.Fatalf("want exit %d, got:\n%s", want, r)
		}
		return r
	}
	sed := exec.Command("sed", "-i", "s/version: v1/version: v2/", "bluejay.yaml")
	sed.Dir = s.dir
	if out, err := sed.CombinedOutput(); err != nil {
		t.Fatalf("sed: %v\n%s", err, out)
	}
	if r := readme(0, "status"); !strings.Contains(r.stdout, "changed on disk") {
		t.Errorf("status after editing the file: want a stale-file warning, got:\n%s", r)
	}
	if r := readme(0, "diff"); !strings.Contains(r.stdout, "~ service web: services[web].version") {
		t.Errorf("diff: want the version change, got:\n%s", r)
	}
	if r := readme(0, "reload"); !strings.Contains(r.stdout, "web: rollout #2 to v2") || !strings.Contains(r.stdout, "reloaded") {
		t.Fatalf("reload: want rollout #2 to v2, got:\n%s", r)
	}
	if r := readme(0, "status", "web", "-w"); !strings.Contains(r.stdout, "Completed") {
		t.Errorf("status -w: want the rollout followed to Completed, got:\n%s", r)
	}
	if r := s.mustCLI(0, "status"); strings.Contains(r.stdout, "changed on disk") || strings.Contains(r.stdout, "desired") {
		t.Errorf("status after the rollout: want no drift, got:\n%s", r)
	}
	// A SIGHUP with nothing changed keeps serve running and changes nothing.
	if err := s.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n := l.mark()
	deadline := time.Now().Add(10 * time.Second)
	for len(l.since(n)) < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	s.failIfExited()
	l.stop()
	var failed []outcome
	for _, o := range l.since(0) {
		if o.failed() {
			failed = append(failed, o)
		}
	}
	t.Logf("requests through the reloads and the rollout: %d, failed %d, by version %v", len(l.since(0)), len(failed), l.byVersion())
	if len(failed) > 0 {
		t.Errorf("%d requests failed; first: %s", len(failed), failed[0])
	}
}
