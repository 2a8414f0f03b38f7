// Package examples_test runs the example files users are told to use, as
// the README and each file's comments say, against the real tools
// (nginx -t, haproxy -c, promtool check config, the hook script), so an
// example cannot rot. Paths under /etc, /run, /srv and /var are moved
// into a temporary directory; nothing else changes. A missing tool skips
// (fails under BLUEJAY_REQUIRE_ENGINES=1), see internal/enginetest.
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// tool returns the path of the named binary, or skips t.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		enginetest.Missing(t, name, err)
	}
	return p
}

// moved returns the example at path with each old path replaced by a
// file of the same base name in dir.
func moved(t *testing.T, path, dir string, old ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, o := range old {
		if !strings.Contains(s, o) {
			t.Fatalf("%s no longer names %s: update the test", path, o)
		}
		s = strings.ReplaceAll(s, o, filepath.Join(dir, filepath.Base(o)))
	}
	out := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func touch(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestNginxConf: examples/nginx/nginx.conf passes `nginx -t` with the
// file bluejay owns included, empty as before bluejay's first start (the
// start-up order the README gives).
func TestNginxConf(t *testing.T) {
	nginx := tool(t, "nginx")
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "bluejay.conf"), "")
	conf := moved(t, "nginx/nginx.conf", dir, "/etc/nginx/bluejay.conf", "/run/nginx.pid",
		"/var/log/nginx/error.log", "/var/log/nginx/access.log")
	if os.Geteuid() != 0 {
		b, _ := os.ReadFile(conf)
		touch(t, conf, strings.Replace(string(b), "user www-data;", "", 1)) // only root may switch users
	}
	run(t, nginx, "-t", "-q", "-p", dir, "-c", conf)
}

// TestHAProxyCfg: examples/haproxy/haproxy.cfg passes `haproxy -c` with
// bluejay's file after it, as the start command in its comment loads them.
func TestHAProxyCfg(t *testing.T) {
	haproxy := tool(t, "haproxy")
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "bluejay.cfg"), "")
	cfg := moved(t, "haproxy/haproxy.cfg", dir, "/run/haproxy/admin.sock", "/run/haproxy.pid")
	if os.Geteuid() != 0 {
		b, _ := os.ReadFile(cfg)
		s := strings.Replace(strings.Replace(string(b), "    user haproxy\n", "", 1), "    group haproxy\n", "", 1)
		touch(t, cfg, s)
	}
	run(t, haproxy, "-c", "-q", "-f", cfg, "-f", filepath.Join(dir, "bluejay.cfg"))
}

// TestPrometheusYML: examples/prometheus.yml passes `promtool check
// config` with the token file and the targets file bluejay writes.
func TestPrometheusYML(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "token"), "example-token-not-a-secret\n")
	touch(t, filepath.Join(dir, "prom-targets.json"), `[{"targets":["127.0.0.1:9001"],"labels":{"service":"web","version":"v1"}}]`)
	cfg := moved(t, "prometheus.yml", dir, "/etc/bluejay/token", "/srv/bluejay/prom-targets.json")
	run(t, promtool, "check", "config", cfg)
}

// TestHookScript: examples/hooks/log.sh, run as a hook runs it (the
// rollout on stdin, BLUEJAY_* in the environment), logs the payload and
// says what it did.
func TestHookScript(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("hooks/log.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "log.sh")
	if err := os.WriteFile(script, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("hooks/log.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("hooks/log.sh is not executable (hooks.yaml runs it as ./hooks/log.sh): %v", err)
	}
	cmd := exec.Command(script)
	cmd.Stdin = strings.NewReader(`{"id":2,"service":"api"}`)
	cmd.Env = append(os.Environ(), "BLUEJAY_HOOK=preRollout", "BLUEJAY_SERVICE=api", "BLUEJAY_FROM=v1", "BLUEJAY_TO=v2",
		"BLUEJAY_PHASE=Deploying")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "preRollout for api v1 -> v2 (Deploying) logged" {
		t.Fatalf("log.sh: %v: %q", err, out)
	}
	logged, _ := os.ReadFile(filepath.Join(dir, "runs.log"))
	if string(logged) != `{"id":2,"service":"api"}`+"\n" {
		t.Fatalf("runs.log: %q", logged)
	}
}
