package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecondServeOnOneStoreRefused: a second `bluejay serve` on the same
// store.path, with ports of its own, used to start, adopt the first
// one's instances and, when stopped, stop them under the first one's
// users. It must exit non-zero at once, naming the holder (pid and
// listen addresses) and changing nothing: the first serve's instances
// keep their pids and its users keep getting 200s.
func TestSecondServeOnOneStoreRefused(t *testing.T) {
	a := startServer(t, defaultOptions())
	before := a.waitStatus("v1's instances are ready", 10*time.Second, func(st status) bool {
		return len(st.Instances) == 2 && st.Instances[0].Ready && st.Instances[1].Ready
	})
	l := startLoadEvery(t, a.proxy, 10*time.Millisecond)

	dir := t.TempDir()
	cfg, err := os.ReadFile(writeConfig(t, dir, freeAddr(t), freeAddr(t), a.token, defaultOptions()))
	if err != nil {
		t.Fatal(err)
	}
	samePath := regexp.MustCompile(`(?m)^  path: .*$`).ReplaceAllLiteralString(string(cfg),
		"  path: "+strconv.Quote(filepath.Join(a.dir, "bluejay.db")))
	config := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(config, []byte(samePath), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startCLI(t, dir, nil, "serve", "-c", config)
	res, ok := b.waitFor(10 * time.Second)
	if !ok {
		t.Fatal("the second serve on the first one's store was still running after 10s; want it refused at once")
	}
	if res.code == 0 {
		t.Errorf("the second serve exited 0, want non-zero:\n%s", res)
	}
	t.Logf("the second serve exited %d: %s", res.code, strings.TrimSpace(res.stderr))
	pid := strconv.Itoa(a.proc.cmd.Process.Pid)
	for _, want := range []string{"bluejay.db.lock", "pid " + pid, "admin " + a.admin, "proxy " + a.proxy} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("the second serve's stderr does not name %q:\n%s", want, res)
		}
	}

	waitProxyServes(t, a.proxy, "v1", 20, 10*time.Second)
	l.stop()
	l.assertNoFailures(t)
	after, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	if pids(after) != pids(before) {
		t.Errorf("the first serve's instances changed: before %s, after %s", pids(before), pids(after))
	}
}

func pids(st status) string {
	var out []string
	for _, in := range st.Instances {
		out = append(out, in.ID+"="+strconv.Itoa(in.PID)+"/"+in.State)
	}
	return strings.Join(out, " ")
}
