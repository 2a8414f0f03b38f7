package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first ```sh block after marker in README.md.
func readmeBlock(t *testing.T, root, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("README.md: no ```sh block after %q", marker)
	}
	return s[start+6 : start+6+end]
}

// copyTree copies the files under src (relative to root) into dst.
func copyTree(t *testing.T, root, dst string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		err := filepath.Walk(filepath.Join(root, rel), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			r, _ := filepath.Rel(root, path)
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, r)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, r), b, info.Mode())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDockerQuickStart runs README's "Deploy containers on one host"
// commands as written, with bash, in a copy of the files they use, with
// the built bluejay on PATH and this test's dockerd in DOCKER_HOST. Only
// the example's two fixed ports are swapped for free ones. The canary of
// web:v2 (30% errors) must be rolled back.
func TestDockerQuickStart(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	onDocker(t, options{}) // DOCKER_HOST, and every container removed at the end
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("the docker CLI is not installed: %v", err)
	}
	script := readmeBlock(t, root, "<!-- quickstart:docker")
	dir := t.TempDir()
	copyTree(t, root, dir, "go.mod", "go.sum", "examples/app", "examples/docker", "internal/sampleapp", "internal/router")
	proxy, admin := freeAddr(t), freeAddr(t)
	swap := strings.NewReplacer("127.0.0.1:8080", proxy, "127.0.0.1:7070", admin)
	cfgPath := filepath.Join(dir, "examples", "docker", "bluejay.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(swap.Replace(string(cfg))), 0o644); err != nil {
		t.Fatal(err)
	}
	// serve was started in the background (&): stop it as the script ends.
	script = swap.Replace(script) + "\nkill $!\nwait $!\n"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	serveLog, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s\n--- serve.log\n%s", err, out, serveLog)
	}
	text := string(out)
	for _, want := range []string{"version=v1", "web-v1-0-", "RolledBack", "v2 was rolled back"} {
		if !strings.Contains(text, want) {
			t.Errorf("the quick start's output lacks %q:\n%s\n--- serve.log\n%s", want, text, serveLog)
		}
	}
	t.Logf("quick start output:\n%s", text)
}
