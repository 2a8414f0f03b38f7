package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestEnsureTokenCreatesOnceWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.token")
	token, created, err := server.EnsureToken(path)
	if err != nil || !created || len(token) < 26 {
		t.Fatalf("first EnsureToken = %q, created %v, %v; want a new token of 26+ characters", token, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := server.EnsureToken(path)
	if err != nil || created || again != token {
		t.Fatalf("second EnsureToken = %q, created %v, %v; want the same token, not created", again, created, err)
	}
	other, _, _ := server.EnsureToken(filepath.Join(t.TempDir(), "bluejay.token"))
	if other == token {
		t.Fatalf("two generated tokens are equal: %q", token)
	}
	empty := filepath.Join(t.TempDir(), "bluejay.token")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := server.EnsureToken(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("EnsureToken on an empty file: %v; want an error saying it is empty (never overwritten)", err)
	}
}

// TestEnsureTokenRace starts serve and proxy at once, as it were: every
// caller gets the one token, and exactly one created it.
func TestEnsureTokenRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.token")
	const n = 8
	tokens, created := make([]string, n), make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if tokens[i], created[i], err = server.EnsureToken(path); err != nil {
				t.Errorf("EnsureToken: %v", err)
			}
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if tokens[i] != tokens[0] || tokens[i] == "" {
			t.Fatalf("tokens differ: %q", tokens)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d callers created the file; want 1", creators)
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAdminGeneratedTokenAndTLS serves a config with no token and with
// admin.tls: the token is generated next to the config, logged by path
// only, and required over HTTPS; a second start reuses it.
func TestAdminGeneratedTokenAndTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t)
	admin := freeAddr(t)
	yaml := fmt.Sprintf(`proxy: {listen: %s}
admin: {listen: %s, tls: {cert: %s, key: %s}}
store: {path: b.db}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
`, freeAddr(t), admin, cert, key, upstream(t, nil))
	path := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	var tokens []string
	for run := range 2 {
		logs := &syncBuffer{}
		cfg, err := spec.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()

		token, err := spec.ReadTokenFile(filepath.Join(dir, spec.DefaultTokenFile))
		if err != nil {
			t.Fatalf("run %d: the generated token file: %v", run, err)
		}
		tokens = append(tokens, token)
		waitUntil(t, "the admin API over HTTPS", func() bool {
			code, _ := tlsGet(client, "https://"+admin+"/v1/services", token)
			return code == http.StatusOK
		})
		if code, _ := tlsGet(client, "https://"+admin+"/v1/services", ""); code != http.StatusUnauthorized {
			t.Errorf("run %d: no token over HTTPS: %d, want 401", run, code)
		}
		// GET / sends a browser to the dashboard; TLS makes it say HSTS.
		noFollow := &http.Client{Transport: client.Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if res, err := noFollow.Get("https://" + admin + "/"); err != nil {
			t.Errorf("run %d: GET /: %v", run, err)
		} else {
			res.Body.Close()
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/ui/" {
				t.Errorf("run %d: GET /: %d Location %q, want 302 to /ui/", run, res.StatusCode, res.Header.Get("Location"))
			}
			if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
				t.Errorf("run %d: Strict-Transport-Security %q under admin TLS", run, got)
			}
		}
		if res, err := http.Get("http://" + admin + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Errorf("run %d: plain HTTP served on a TLS admin listener", run)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run %d: server: %v", run, err)
		}
		if strings.Contains(logs.String(), token) {
			t.Errorf("run %d: the log contains the token:\n%s", run, logs)
		}
		if !strings.Contains(logs.String(), filepath.Join(dir, spec.DefaultTokenFile)) {
			t.Errorf("run %d: the log does not name the token file:\n%s", run, logs)
		}
	}
	if tokens[0] != tokens[1] {
		t.Errorf("the second start generated a new token; want the first one reused")
	}
}

func tlsGet(c *http.Client, url, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
