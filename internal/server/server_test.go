package server_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// upstream is a real backend: GET / answers its version, /stream sends
// two server-sent events a while apart, /ws upgrades and echoes a line.
func upstream(t *testing.T, release chan struct{}) string { return upstreamSignalling(t, release, nil) }

// upstreamSignalling is upstream, telling slow when a /slow request arrived.
func upstreamSignalling(t *testing.T, release, slow chan struct{}) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprintln(w, "ok")
		case "/slow":
			slow <- struct{}{}
			time.Sleep(300 * time.Millisecond) // the request stays in flight through the shutdown
			fmt.Fprintln(w, "slow done")
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release
			fmt.Fprint(w, "data: second\n\n")
		case "/ws":
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			line, _ := rw.ReadString('\n')
			fmt.Fprint(rw, "echo "+line)
			rw.Flush()
		default:
			fmt.Fprintf(w, "version=v1 proto=%s\n", r.Proto)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a real server on a static service; extra is YAML added
// under proxy:.
func start(t *testing.T, target, extra string) string {
	addr, _ := startCancellable(t, target, extra)
	return addr
}

// startCancellable is start, also returning the function that shuts the
// server down and waits for it.
func startCancellable(t *testing.T, target, extra string) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	proxyAddr := freeAddr(t)
	yaml := fmt.Sprintf(`proxy:
  listen: %s
  versionHeader: X-Bluejay-Version
  maxHeaderBytes: 4096
%sadmin: {listen: %s, token: t}
store: {path: %s}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 50ms}
`, proxyAddr, extra, freeAddr(t), filepath.Join(dir, "b.db"), target)
	path := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return proxyAddr, stop
}

// TestShutdownFinishesInFlightRequests: bluejay's own graceful shutdown
// loses no request — one in flight when it begins completes.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	slow := make(chan struct{}, 1)
	addr, stop := startCancellable(t, upstreamSignalling(t, nil, slow), "")
	waitServing(t, http.DefaultClient, "http://"+addr+"/")
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{code: resp.StatusCode, body: string(b)}
	}()
	<-slow // the request reached the instance: it is in flight
	stop()
	if a := <-got; a.err != nil || a.code != 200 || !strings.Contains(a.body, "slow done") {
		t.Fatalf("in-flight request across the shutdown: %d %q %v, want 200 slow done", a.code, a.body, a.err)
	}
}

// waitServing polls until the proxy routes to v1.
func waitServing(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Bluejay-Version") == "v1" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s never served v1", url)
}

func TestProxyStreamsAndUpgrades(t *testing.T) {
	release := make(chan struct{})
	addr := start(t, upstream(t, release), "  upgrades: [echo]\n") // proxy.upgrades reaches the proxy
	waitServing(t, http.DefaultClient, "http://"+addr+"/")

	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("first event = %q, %v: a streamed response must reach the client before it ends", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest of the stream = %q", rest)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade status line %q, want 101", status)
	}
	for line, _ := br.ReadString('\n'); line != "\r\n" && line != ""; line, _ = br.ReadString('\n') {
	}
	fmt.Fprint(conn, "hello\n")
	if got, _ := br.ReadString('\n'); got != "echo hello\n" {
		t.Fatalf("through the upgraded connection: %q, want echo hello", got)
	}
}

func TestProxyRefusesHugeHeaders(t *testing.T) {
	addr := start(t, upstream(t, nil), "")
	waitServing(t, http.DefaultClient, "http://"+addr+"/")
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 8192))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("8 KiB header past maxHeaderBytes 4096: %d, want 431", resp.StatusCode)
	}
}

func TestProxyServesHTTP2(t *testing.T) {
	target := upstream(t, nil)
	t.Run("over TLS", func(t *testing.T) {
		cert, key := selfSigned(t)
		addr := start(t, target, fmt.Sprintf("  tls: {cert: %q, key: %q}\n", cert, key))
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
		waitServing(t, c, "https://"+addr+"/")
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("client got %s, want HTTP/2 over TLS", resp.Proto)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		addr := start(t, target, "  h2c: true\n")
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		c := &http.Client{Transport: &http.Transport{Protocols: &p}}
		waitServing(t, c, "http://"+addr+"/")
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("client got %s, want HTTP/2 without TLS", resp.Proto)
		}
	})
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns
// their paths.
func selfSigned(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bluejay test"},
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
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestProxyBodyLimitsFromConfig: proxy.maxBodyBytes reaches the proxy.
func TestProxyBodyLimitsFromConfig(t *testing.T) {
	addr := start(t, upstream(t, nil), "  maxBodyBytes: 8\n")
	waitServing(t, http.DefaultClient, "http://"+addr+"/")
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("more than eight bytes"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("21-byte body past maxBodyBytes 8: %d, want 413", resp.StatusCode)
	}
}
