package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickStartAsWritten runs the README's "Try it by hand" with the
// repository's bluejay.yaml, from a copy of the layout `make build`
// leaves (bin/app; only the two ports moved to free ones): serve, with
// no token configured, generates bluejay.token, and the CLI, given no
// -c and no BLUEJAY_* variables, finds ./bluejay.yaml and the token.
func TestQuickStartAsWritten(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "app"), "./examples/app")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/app: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(root, "bluejay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	proxy, admin := freeAddr(t), freeAddr(t)
	if !strings.Contains(string(b), "127.0.0.1:8080") || !strings.Contains(string(b), "127.0.0.1:7070") {
		t.Fatal("bluejay.yaml no longer listens on 8080 and 7070: update the test")
	}
	cfg := strings.NewReplacer("127.0.0.1:8080", proxy, "127.0.0.1:7070", admin).Replace(string(b))
	if err := os.WriteFile(filepath.Join(dir, "bluejay.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"BLUEJAY_ADMIN=", "BLUEJAY_TOKEN="}
	serve := startCLI(t, dir, env, "serve")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var version string
		if res, err := http.Get("http://" + proxy + "/"); err == nil { // curl -i http://127.0.0.1:8080/
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			version = res.Header.Get("X-Bluejay-Version")
		}
		if version == "v1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no X-Bluejay-Version: v1 from the proxy after 30s\n--- serve\n%s", serve.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if fi, err := os.Stat(filepath.Join(dir, "bluejay.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bluejay.token: %v, %v; want a 0600 file serve generated", fi, err)
	}
	waitFirstVersion(t, dir, env, "web")
	// while sleep 0.05; do curl -s -o /dev/null http://127.0.0.1:8080/; done &
	l := startLoadEvery(t, proxy, 50*time.Millisecond)
	r := runCLI(t, dir, env, "deploy", "web", "v2", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy web v2 --wait: %s", r)
	}
	l.stop()
	l.assertNoFailures(t)
	if r := runCLI(t, dir, env, "history", "web"); r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("history web: %s", r)
	}
}
