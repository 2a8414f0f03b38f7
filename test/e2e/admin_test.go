package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminTokenTLSAndTheCLI runs serve on a config with no admin token
// and with admin TLS, and drives it with the CLI using only -c: serve
// generates the token (0600, never logged), the CLI finds it and trusts
// admin.tls.cert over HTTPS. Then the commands people use through a
// rollout: status -w to its end (plain lines in a pipe), rollback --to a
// version from the history, a misspelt service, routes -o yaml.
func TestAdminTokenTLSAndTheCLI(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	admin := freeAddr(t)
	cfg := fmt.Sprintf(`proxy: {listen: %s}
admin:
  listen: %s
  tls: {cert: %s, key: %s}
store: {path: bluejay.db}
services:
  - name: web
    version: v1
    platform:
      process:
        command: [%q, "app", "--port", "{{.Port}}", "--version", "{{.Version}}"]
        stopGrace: 2s
    health: {path: /healthz, interval: 100ms, timeout: 100ms, healthyThreshold: 2, readyTimeout: 5s}
    blueGreen: {watch: 1s, minRequests: 0}
`, freeAddr(t), admin, cert, key, bin)
	if err := os.WriteFile(filepath.Join(dir, "bluejay.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := startCLI(t, dir, nil, "serve", "-c", "bluejay.yaml")
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, dir, []string{"BLUEJAY_ADMIN=", "BLUEJAY_TOKEN="}, append(args, "-c", "bluejay.yaml")...)
	}

	tokenPath := filepath.Join(dir, "bluejay.token")
	waitFor(t, "the generated token file", func() bool { _, err := os.Stat(tokenPath); return err == nil })
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", fi.Mode().Perm(), err)
	}
	raw, _ := os.ReadFile(tokenPath)
	token := strings.TrimSpace(string(raw))
	waitFor(t, "v1 Completed, seen over HTTPS with the generated token", func() bool {
		r := cli("status", "web", "-o", "json")
		return r.code == 0 && strings.Contains(r.stdout, `"stable": "v1"`) && strings.Contains(r.stdout, `"phase": "Completed"`)
	})

	t.Run("status -w follows a deploy to its end", func(t *testing.T) {
		if r := cli("deploy", "web", "v2"); r.code != 0 {
			t.Fatalf("%s", r)
		}
		r := cli("status", "web", "-w")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || !strings.Contains(lines[len(lines)-1], "Completed  v2=100") {
			t.Fatalf("status -w: want exit 0 and a last line Completed with v2=100:\n%s", r)
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("status -w wrote terminal escapes into a pipe:\n%q", r.stdout)
		}
		t.Logf("status -w:\n%s", r.stdout)
	})

	t.Run("rollback --to", func(t *testing.T) {
		if r := cli("deploy", "web", "v3", "--wait"); r.code != 0 {
			t.Fatalf("%s", r)
		}
		r := cli("rollback", "web", "--to", "v9")
		if r.code != 1 || !strings.Contains(r.stderr, "web never ran v9") || !strings.Contains(r.stderr, "v3, v2, v1") {
			t.Errorf("rollback --to a version never run: want exit 1 naming it and the versions run:\n%s", r)
		}
		if r := cli("rollback", "web", "--to", "v1", "--wait"); r.code != 0 || !strings.Contains(r.stdout, "rollback to v1 requested") {
			t.Fatalf("rollback --to v1 --wait: want exit 0 and a rollout saying it is a rollback:\n%s", r)
		}
		r = cli("history", "web", "-o", "json", "-n", "1")
		var rs []struct {
			From, To struct{ Label string }
			Phase    string
		}
		if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil || len(rs) != 1 ||
			rs[0].From.Label != "v3" || rs[0].To.Label != "v1" || rs[0].Phase != "Completed" {
			t.Fatalf("history after rollback --to v1: want v3→v1 Completed: %v\n%s", err, r)
		}
	})

	t.Run("helpful errors and yaml", func(t *testing.T) {
		if r := cli("status", "wbe"); r.code != 2 || !strings.Contains(r.stderr, `did you mean "web"?`) {
			t.Errorf("status wbe: want exit 2 suggesting web:\n%s", r)
		}
		if r := cli("routes", "-o", "yaml"); r.code != 0 || !strings.Contains(r.stdout, "service: web") || !strings.Contains(r.stdout, "version: v1") {
			t.Errorf("routes -o yaml:\n%s", r)
		}
		env := []string{"BLUEJAY_ADMIN=https://" + admin, "BLUEJAY_TOKEN=" + token}
		if r := runCLI(t, t.TempDir(), env, "status"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
			t.Errorf("status over HTTPS without the CA: want exit 1 and a certificate error:\n%s", r)
		}
		env = append(env, "BLUEJAY_CA_FILE="+cert)
		if r := runCLI(t, t.TempDir(), env, "status"); r.code != 0 {
			t.Errorf("status with BLUEJAY_CA_FILE: %s", r)
		}
	})

	serve.cancel()
	<-serve.done
	if strings.Contains(serve.res.stderr, token) || strings.Contains(serve.res.stdout, token) {
		t.Errorf("serve's log contains the admin token")
	}
	if !strings.Contains(serve.res.stderr, tokenPath) {
		t.Errorf("serve's log does not name the token file %s:\n%s", tokenPath, serve.res.stderr)
	}
}

// waitFor polls cond until it holds, for at most 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// writeSelfSigned writes a certificate and key for 127.0.0.1 into dir.
func writeSelfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bluejay e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
