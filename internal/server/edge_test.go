package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/edge"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// writeCert writes a self-signed certificate for hosts, named cn, to
// dir/name.pem and dir/name.key, and returns them with the certificate.
func writeCert(t *testing.T, dir, name, cn string, hosts ...string) (certPath, keyPath string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	// The key first: a reader that sees the new certificate sees its key.
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return certPath, keyPath, cert
}

// serveEdge runs a data plane of the config's proxy with routes for its
// services to target.
func serveEdge(t *testing.T, cfg *spec.Config, eo edge.Options, target string) *server.DataPlane {
	t.Helper()
	d, _ := serveEdgeWith(t, cfg, eo, target, slog.New(slog.DiscardHandler))
	return d
}

// serveEdgeWith is serveEdge logging to log, also returning the function
// that shuts it down and waits for it.
func serveEdgeWith(t *testing.T, cfg *spec.Config, eo edge.Options, target string, log *slog.Logger) (*server.DataPlane, func()) {
	t.Helper()
	d, err := server.NewDataPlaneWith(cfg.Proxy, eo, log)
	if err != nil {
		t.Fatal(err)
	}
	d.HTTPServer().ErrorLog = stdlog.New(io.Discard, "", 0) // handshakes refused while certificates are obtained
	for _, s := range cfg.Services {
		d.Proxy().SetRoute(router.Route{Service: s.Name, Host: s.Match.Host,
			Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{target}}}})
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := errors.Join(d.Shutdown(ctx), <-done); err != nil {
				t.Errorf("data plane: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// tlsClient reaches addr whatever the URL's host, trusting roots, over
// HTTP/2 when the server offers it.
func tlsClient(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestEdgeRedirectHSTSAndHostCertificates: the HTTP listener redirects
// with 308 to the HTTPS listener's port, each host gets its own
// certificate (exact, wildcard, else the default), a certificate whose
// files change is served anew without a restart, and HSTS goes with the
// service that asks for it, over HTTPS only.
func TestEdgeRedirectHSTSAndHostCertificates(t *testing.T) {
	dir := t.TempDir()
	defCert, defKey, def := writeCert(t, dir, "default", "default", "c.test")
	aCert, aKey, a := writeCert(t, dir, "a", "a", "a.test")
	bCert, bKey, b := writeCert(t, dir, "b", "b", "*.b.test")
	cfg, err := spec.Parse("edge.yaml", fmt.Appendf(nil, `proxy:
  listen: %s
  httpListen: %s
  tls:
    cert: %s
    key: %s
    certificates:
      - {hosts: [a.test], cert: %s, key: %s}
      - {hosts: ["*.b.test"], cert: %s, key: %s}
services:
  - name: web
    version: v1
    match: {host: a.test}
    platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}
    hsts: {maxAge: 8760h, includeSubdomains: true}
  - name: other
    version: v1
    match: {host: c.test}
    platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}
`, freeAddr(t), freeAddr(t), defCert, defKey, aCert, aKey, bCert, bKey))
	if err != nil {
		t.Fatal(err)
	}
	d := serveEdge(t, cfg, edge.Options{}, upstream(t, nil))
	_, httpsPort, _ := net.SplitHostPort(d.Addr())

	plain := tlsClient(d.HTTPAddr(), nil)
	res, err := plain.Get("http://a.test/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://a.test:" + httpsPort + "/path?q=1"; res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
		t.Fatalf("HTTP listener: %d Location %q, want 308 to %s", res.StatusCode, res.Header.Get("Location"), want)
	}
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("HSTS sent over plain HTTP")
	}

	roots := x509.NewCertPool()
	for _, c := range []*x509.Certificate{def, a, b} {
		roots.AddCert(c)
	}
	c := tlsClient(d.Addr(), roots)
	for _, tc := range []struct {
		host, cn, hsts string
	}{
		{"a.test", "a", "max-age=31536000; includeSubDomains"},
		{"x.b.test", "b", ""},
		{"c.test", "default", ""},
	} {
		res, err := c.Get("https://" + tc.host + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		res.Body.Close()
		if got := res.TLS.PeerCertificates[0].Subject.CommonName; got != tc.cn {
			t.Errorf("%s: served certificate %q, want %q", tc.host, got, tc.cn)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != tc.hsts {
			t.Errorf("%s: HSTS %q, want %q", tc.host, got, tc.hsts)
		}
		if res.ProtoMajor != 2 {
			t.Errorf("%s: served over %s, want HTTP/2", tc.host, res.Proto)
		}
	}

	_, _, a2 := writeCert(t, dir, "a", "a renewed", "a.test")
	roots.AddCert(a2)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := tlsClient(d.Addr(), roots) // a new connection, a new handshake
		res, err := c.Get("https://a.test/")
		if err == nil {
			res.Body.Close()
			if res.TLS.PeerCertificates[0].Subject.CommonName == "a renewed" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed certificate of a.test was never served (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
