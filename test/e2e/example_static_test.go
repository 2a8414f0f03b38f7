package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaticExampleAsWritten runs examples/static.yaml as its comment
// says, with two backends in place of the two sample apps and the ports
// moved to free ones: curl 127.0.0.1 reaches v1 (the match takes any
// host), and deploy api v2 --target ... --wait completes under a trickle
// of users.
func TestStaticExampleAsWritten(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	backend := func(v string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "version=%s instance=0", v)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	v1, v2 := backend("v1"), backend("v2")
	proxy, admin := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"static.yaml", "token.txt"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("127.0.0.1:9001", v1, "127.0.0.1:9002", v2, "127.0.0.1:8081", proxy,
			"127.0.0.1:7071", admin).Replace(string(b))
		if err := os.WriteFile(filepath.Join(dir, "examples", f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"BLUEJAY_ADMIN=", "BLUEJAY_TOKEN="}
	const config = "examples/static.yaml"
	serve := startCLI(t, dir, env, "serve", "-c", config)
	deadline := time.Now().Add(30 * time.Second)
	for {
		body := ""
		if res, err := http.Get("http://" + proxy + "/"); err == nil { // curl -i http://127.0.0.1:8081/
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			body = string(b)
		}
		if body == "version=v1 instance=0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("curl http://%s/ got %q, want version=v1\n--- serve\n%s", proxy, body, serve.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	waitFirstVersion(t, dir, env, "api", "-c", config)
	l := startLoadEvery(t, proxy, 20*time.Millisecond)
	r := runCLI(t, dir, env, "-c", config, "deploy", "api", "v2", "--target", v2, "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy api v2 --wait as the example says: %s", r)
	}
	l.waitServed(t, "v2", 5, 10*time.Second)
	l.stop()
	l.assertNoFailures(t)
}
