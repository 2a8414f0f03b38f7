package spec_test

import (
	"os"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestEdgeDefaults: with acme, httpListen is :80, the storage sits beside
// the store, the hosts are the services' and redirects are on.
func TestEdgeDefaults(t *testing.T) {
	cfg, err := spec.Parse("b.yaml", []byte(`proxy:
  tls: {acme: {email: ops@example.com}}
store: {path: /var/lib/bluejay/b.db}
services:
  - name: web
    version: v1
    match: {host: Example.com}
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
    hsts: {maxAge: 8760h}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Proxy
	a := p.TLS.ACME
	if p.HTTPListen != ":80" || a.CA != spec.DefaultACMECA || a.Storage != "/var/lib/bluejay/b.db.acme" ||
		len(a.Hosts) != 1 || a.Hosts[0] != "example.com" || !p.RedirectsHTTP() {
		t.Fatalf("defaults: httpListen %q, acme %+v, redirect %v", p.HTTPListen, a, p.RedirectsHTTP())
	}
	if len(p.HSTS) != 1 || p.HSTS[0] != (spec.HostHSTS{Host: "example.com", Header: "max-age=31536000"}) {
		t.Fatalf("hsts: %+v", p.HSTS)
	}
}

// TestEdgeErrors: each mistake in the edge settings is named with its
// place, and what would be valid.
func TestEdgeErrors(t *testing.T) {
	_, err := spec.Parse("b.yaml", []byte(`proxy:
  httpListen: ":80"
  tls:
    certificates:
      - {cert: a.pem, key: a.key}
    acme: {ca: "http://ca.example/dir", hosts: [a.example], onDemand: true}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
    hsts: {maxAge: 0s}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"b.yaml:5:9: proxy.tls.certificates[0].hosts: hosts is required",
		"b.yaml:6:16: proxy.tls.acme.ca: ca \"http://ca.example/dir\": want the https:// URL of an ACME directory",
		"b.yaml:6:71: proxy.tls.acme.onDemand: onDemand is not supported yet",
		"b.yaml:11:20: services[0].hsts.maxAge: maxAge must be more than 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = spec.Parse("b.yaml", []byte("proxy: {httpListen: \":80\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "b.yaml:1:21: proxy.httpListen: httpListen redirects to HTTPS and answers ACME challenges: it needs proxy.tls") {
		t.Fatalf("httpListen without tls: %v", err)
	}
}

// TestEdgeReadmeBlock parses the config README's "bluejay at the edge"
// shows, as written.
func TestEdgeReadmeBlock(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## bluejay at the edge\n")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no yaml block under \"bluejay at the edge\"")
	}
	cfg, err := spec.Parse("README.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Proxy.TLS.ACME
	if cfg.Proxy.HTTPListen != ":80" || a.CA != spec.DefaultACMECA || len(a.Hosts) != 1 || a.Hosts[0] != "www.example.com" ||
		len(cfg.Proxy.TLS.Certificates) != 1 || len(cfg.Proxy.HSTS) != 1 {
		t.Fatalf("README's edge config read as %+v, acme %+v", cfg.Proxy, a)
	}
}
