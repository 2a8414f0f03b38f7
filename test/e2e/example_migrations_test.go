package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/pgtest"
)

// TestMigrationsExampleAsWritten runs examples/migrations as its comment
// says, from a copy of the repository's layout (bin/app built as `make
// build` builds it, the example's files as they are, only its two ports
// moved to free ones): schema v1 applied, serve, deploy v2 --wait exits
// 0, and contract is refused within the rollback window.
func TestMigrationsExampleAsWritten(t *testing.T) {
	c := pgtest.New(t)
	url := c.NewDatabase(t, "example")
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
	copyFile := func(rel string, edit func(string) string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if edit != nil {
			s = edit(s)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proxy, admin := freeAddr(t), freeAddr(t)
	copyFile("examples/migrations/bluejay.yaml", func(s string) string {
		if !strings.Contains(s, "127.0.0.1:8083") || !strings.Contains(s, "127.0.0.1:7073") {
			t.Fatal("the example no longer listens on 8083 and 7073: update the test")
		}
		return strings.NewReplacer("127.0.0.1:8083", proxy, "127.0.0.1:7073", admin).Replace(s)
	})
	copyFile("examples/token.txt", nil)
	for _, f := range []string{"v1.sql", "v2-expand.sql", "v2-contract.sql"} {
		copyFile("examples/migrations/profiles/"+f, nil)
	}
	v1, err := os.ReadFile(filepath.Join(dir, "examples/migrations/profiles/v1.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgtest.Open(t, url).Exec(string(v1)); err != nil { // psql -f profiles/v1.sql
		t.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + url, "BLUEJAY_ADMIN=", "BLUEJAY_TOKEN="}
	const config = "examples/migrations/bluejay.yaml"
	serve := startCLI(t, dir, env, "serve", "-c", config)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := runCLI(t, dir, env, "-c", config, "status", "web")
		if r.code == 0 && strings.Contains(r.stdout, "Completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v1 not Completed after 60s: %s\n--- serve\n%s", r, serve.stderr.String())
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	start := time.Now()
	r := runCLI(t, dir, env, "-c", config, "deploy", "web", "v2", "--arg=--schema", "--arg=v2", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy v2 --wait as the example says: %s", r)
	}
	t.Logf("deploy v2 --wait took %s", time.Since(start).Round(time.Second))
	r = runCLI(t, dir, env, "-c", config, "contract", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot contract: a rollback to v1 is still possible") {
		t.Fatalf("contract within the rollback window: want exit 1 and the reason, got %s", r)
	}
}
