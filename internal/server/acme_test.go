package server_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/edge"
	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// pebbleEnv names the directory holding pebble and pebble-challtestsrv,
// built by scripts/pebble.sh.
const pebbleEnv = "BLUEJAY_PEBBLE"

// pebble is a running Pebble ACME CA, its challenge test server's DNS
// answering every name with 127.0.0.1, validating challenges for real
// against httpPort (HTTP-01) and tlsPort (TLS-ALPN-01).
type pebble struct {
	dir   string // the directory URL
	roots string // PEM file: Pebble's HTTPS certificate (certmagic's caRoots)
	mgmt  string // management address
	stop  func()
}

// dnsAddr returns a loopback port free for both TCP and UDP, as
// challtestsrv's DNS server binds both.
func dnsAddr(t *testing.T) string {
	for range 100 {
		addr := freeAddr(t)
		if c, err := net.ListenPacket("udp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

// startPebble runs challtestsrv and Pebble with certificates valid for
// validity, refusing the names in blocked.
func startPebble(t *testing.T, httpPort, tlsPort string, validity time.Duration, blocked ...string) *pebble {
	t.Helper()
	bin := os.Getenv(pebbleEnv)
	if bin == "" {
		enginetest.Missing(t, "pebble", fmt.Errorf("$%s is not set: export %s=$(scripts/pebble.sh)", pebbleEnv, pebbleEnv))
	}
	if _, err := os.Stat(filepath.Join(bin, "pebble")); err != nil {
		enginetest.Missing(t, "pebble", err)
	}
	dir := t.TempDir()
	dns := dnsAddr(t)
	cts := exec.Command(filepath.Join(bin, "pebble-challtestsrv"), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", dns, "-management", freeAddr(t), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	// Pebble's own HTTPS certificate, trusted by the ACME client as caRoots.
	cert, key, _ := writeCert(t, dir, "pebble", "pebble", "localhost", "127.0.0.1")
	listen, mgmt := freeAddr(t), freeAddr(t)
	var hp, tp int
	fmt.Sscan(httpPort, &hp)
	fmt.Sscan(tlsPort, &tp)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt, "certificate": cert, "privateKey": key,
		"httpPort": hp, "tlsPort": tp, "ocspResponderURL": "", "domainBlocklist": blocked,
		"retryAfter": map[string]int{"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": int(validity.Seconds())}},
	}}
	data, _ := json.Marshal(conf)
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	peb := exec.Command(filepath.Join(bin, "pebble"), "-config", confPath, "-dnsserver", dns, "-strict=false")
	// No sleep before validating, no bad nonces on purpose: validation
	// itself stays on (PEBBLE_VA_ALWAYS_VALID is never set).
	peb.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var logs lockedBuffer
	for _, c := range []*exec.Cmd{cts, peb} {
		c.Stdout, c.Stderr = &logs, &logs
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	p := &pebble{dir: "https://" + listen + "/dir", roots: cert, mgmt: mgmt}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			for _, c := range []*exec.Cmd{peb, cts} {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		})
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble:\n%s", logs.String())
		}
	})
	waitTCP(t, dns) // challtestsrv's DNS also listens on TCP: Pebble fails what it cannot resolve
	waitTCP(t, listen)
	return p
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listened: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// issuingRoots fetches Pebble's issuing root (made afresh at each start).
func (p *pebble) issuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // Pebble's own management API, on loopback
	res, err := c.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	pemData, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("pebble /roots/0: %q", pemData)
	}
	return pool
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// served returns the leaf certificate served for host, verified against
// roots, and the protocol of a request over it; err until one is served.
func served(addr, host string, roots *x509.CertPool) (*x509.Certificate, string, error) {
	res, err := tlsClient(addr, roots).Get("https://" + host + "/")
	if err != nil {
		return nil, "", err
	}
	res.Body.Close()
	return res.TLS.PeerCertificates[0], res.Proto, nil
}

// TestACMEWithPebble obtains certificates from a real ACME CA (Pebble,
// validating HTTP-01 and TLS-ALPN-01 against the proxy's own listeners):
// two hosts get theirs and are served over HTTP/2 while a host the CA
// refuses is logged with the CA's reason and leaves them serving; the
// certificates are kept across a restart with the CA gone, and renewed
// when short-lived.
func TestACMEWithPebble(t *testing.T) {
	dir := t.TempDir()
	listen, httpListen := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(listen)
	_, httpPort, _ := net.SplitHostPort(httpListen)
	const validity = 30 * time.Second
	peb := startPebble(t, httpPort, tlsPort, validity, "refused.test")
	yaml := fmt.Sprintf(`proxy:
  listen: %s
  httpListen: %s
  tls:
    acme: {email: ops@a.test, ca: %q, caRoots: %s, hosts: [a.test, b.test, refused.test]}
store: {path: %s}
services:
  - name: web
    version: v1
    match: {host: a.test}
    platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}
  - name: api
    version: v1
    match: {host: b.test}
    platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}
`, listen, httpListen, peb.dir, peb.roots, filepath.Join(dir, "b.db"))
	cfg, err := spec.Parse("acme.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bluejay:\n%s", logs.String())
		}
	})
	// Without ARI: Pebble's renewal window for a 30 s certificate is its
	// whole life, so certmagic would renew at a random moment in it,
	// maybe before the restart below.
	eo := edge.Options{RenewCheckInterval: time.Second, DisableARI: true}
	target := upstream(t, nil)
	start := time.Now()
	d, stop := serveEdgeWith(t, cfg, eo, target, slog.New(slog.NewTextHandler(&logs, nil)))
	roots := peb.issuingRoots(t)

	first := map[string]*x509.Certificate{}
	for _, host := range []string{"a.test", "b.test"} {
		var proto string
		waitFor(t, "a certificate for "+host, 60*time.Second, func() bool {
			var err error
			first[host], proto, err = served(d.Addr(), host, roots)
			return err == nil
		})
		if proto != "HTTP/2.0" || first[host].VerifyHostname(host) != nil {
			t.Fatalf("%s: served over %s for %v", host, proto, first[host].DNSNames)
		}
	}
	issued := time.Now()
	t.Logf("issuance: both hosts served %v after start", issued.Sub(start).Round(time.Millisecond))
	waitFor(t, "the refused host's failure in the log", 60*time.Second, func() bool {
		return strings.Contains(logs.String(), "refused.test") && strings.Contains(logs.String(), "rejectedIdentifier")
	})
	if _, _, err := served(d.Addr(), "refused.test", roots); err == nil {
		t.Fatal("refused.test was served a certificate the CA refused")
	}

	// Kept across a restart: the stored certificate is served (a new
	// one would have another serial), well before its renewal is due.
	stop()
	restart := time.Now()
	d, _ = serveEdgeWith(t, cfg, eo, target, slog.New(slog.NewTextHandler(&logs, nil)))
	var after *x509.Certificate
	waitFor(t, "a.test after the restart", 20*time.Second, func() bool {
		var err error
		after, _, err = served(d.Addr(), "a.test", roots)
		return err == nil
	})
	if after.SerialNumber.Cmp(first["a.test"].SerialNumber) != 0 {
		t.Fatalf("after a restart a.test has serial %v, want the stored %v", after.SerialNumber, first["a.test"].SerialNumber)
	}
	t.Logf("restart: a.test served from storage %v after the restart", time.Since(restart).Round(time.Millisecond))

	// Renewal of the short-lived certificates.
	waitFor(t, "a.test renewed", 90*time.Second, func() bool {
		c, _, err := served(d.Addr(), "a.test", roots)
		return err == nil && c.SerialNumber.Cmp(first["a.test"].SerialNumber) != 0
	})
	t.Logf("renewal: a.test renewed %v after its first issuance (valid %v)", time.Since(issued).Round(time.Millisecond), validity)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestACMEFleetOnEtcd: two proxies sharing ACME storage in etcd get one
// certificate between them, obtained once (the CA validates against the
// first proxy's listeners only; the second answers from the store).
func TestACMEFleetOnEtcd(t *testing.T) {
	etcdSrv := etcdtest.New(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcdSrv.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	prefix := etcdSrv.Prefix(t) + "/acme"

	listen, httpListen := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(listen)
	_, httpPort, _ := net.SplitHostPort(httpListen)
	peb := startPebble(t, httpPort, tlsPort, time.Hour)
	cfg, err := spec.Parse("fleet.yaml", fmt.Appendf(nil, `proxy:
  listen: %s
  httpListen: %s
  tls:
    acme: {ca: %q, caRoots: %s, hosts: [a.test]}
services:
  - name: web
    version: v1
    match: {host: a.test}
    platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}
`, listen, httpListen, peb.dir, peb.roots))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bluejay:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(&logs, nil))
	target := upstream(t, nil)
	second := *cfg
	second.Proxy.Listen, second.Proxy.HTTPListen = freeAddr(t), freeAddr(t)
	dB, _ := serveEdgeWith(t, &second, edge.Options{Storage: edge.NewEtcdStorage(cli, prefix)}, target, log)
	dA, _ := serveEdgeWith(t, cfg, edge.Options{Storage: edge.NewEtcdStorage(cli, prefix)}, target, log)
	roots := peb.issuingRoots(t)
	serials := map[string]string{}
	for name, d := range map[string]*server.DataPlane{"first": dA, "second": dB} {
		waitFor(t, "a certificate on the "+name+" proxy", 90*time.Second, func() bool {
			c, _, err := served(d.Addr(), "a.test", roots)
			if err == nil {
				serials[name] = c.SerialNumber.String()
			}
			return err == nil
		})
	}
	if serials["first"] != serials["second"] {
		t.Fatalf("the proxies serve different certificates (%v): each obtained its own", serials)
	}
}
