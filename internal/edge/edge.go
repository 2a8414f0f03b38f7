package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Options tune an Edge beyond the config.
type Options struct {
	// RenewCheckInterval is how often ACME certificates are checked for
	// renewal. Zero means certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
	// Now is the clock for the files' change checks. nil means time.Now.
	Now func() time.Time
	// Storage keeps ACME's account, certificates and locks. nil means
	// files in proxy.tls.acme.storage; a fleet on etcd shares an
	// EtcdStorage.
	Storage certmagic.Storage
	// DisableARI renews by the certificate's lifetime alone, ignoring
	// the CA's renewal-info (ARI) window. For CAs issuing certificates
	// that live seconds: Pebble's window then spans the whole lifetime
	// and certmagic renews at a random point in it.
	DisableARI bool
}

// Edge holds the proxy's certificates and the HTTP listener's behaviour.
type Edge struct {
	cfg  spec.ProxyConfig
	opts Options
	log  *slog.Logger

	files atomic.Pointer[Files] // swapped whole by SetFiles
	acme  *acmeManager          // nil without proxy.tls.acme
}

// New reads the static certificates of cfg.TLS and prepares ACME; it
// fails on a certificate file that does not load. Start begins ACME.
func New(cfg spec.ProxyConfig, opts Options, log *slog.Logger) (*Edge, error) {
	e := &Edge{cfg: cfg, opts: opts, log: log}
	e.files.Store(&Files{byName: map[string]*fileCert{}})
	t := cfg.TLS
	if t == nil {
		return e, nil
	}
	fs, err := LoadFiles(t)
	if err != nil {
		return nil, err
	}
	e.files.Store(fs)
	if t.ACME != nil {
		m, err := newACME(t.ACME, cfg, opts, log)
		if err != nil {
			return nil, fmt.Errorf("proxy.tls.acme: %w", err)
		}
		e.acme = m
	}
	return e, nil
}

// Start begins obtaining and renewing ACME certificates in the
// background: a failure is logged with the CA's reason and retried with
// backoff, and never stops the listeners. Without ACME it does nothing.
func (e *Edge) Start(ctx context.Context) error {
	if e.acme == nil {
		return nil
	}
	return e.acme.start(ctx)
}

// Stop ends ACME's background work.
func (e *Edge) Stop() {
	if e.acme != nil {
		e.acme.stop()
	}
}

// TLSConfig is the HTTPS listener's configuration, nil without proxy.tls.
func (e *Edge) TLSConfig() *tls.Config {
	if e.cfg.TLS == nil {
		return nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: e.getCertificate, NextProtos: []string{"h2", "http/1.1"}}
	if e.acme != nil {
		c.NextProtos = append(c.NextProtos, acmeALPN)
	}
	return c
}

const acmeALPN = "acme-tls/1"

// getCertificate picks the certificate for a handshake: ACME's answer to
// a TLS-ALPN-01 challenge, else the host's file certificate, else ACME's
// for the names it manages, else the default certificate.
func (e *Edge) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if e.acme != nil && slices.Contains(hello.SupportedProtos, acmeALPN) {
		return e.acme.magic.GetCertificate(hello)
	}
	fs := e.files.Load()
	if f := fs.byServerName(name); f != nil {
		return f.get(e.now(), e.reloadFailed(f)), nil
	}
	if e.acme != nil && e.acme.manages(name) {
		c, err := e.acme.magic.GetCertificate(hello)
		if err == nil || fs.def == nil {
			return c, err
		}
	}
	if fs.def != nil {
		return fs.def.get(e.now(), e.reloadFailed(fs.def)), nil
	}
	return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
}

func (e *Edge) reloadFailed(f *fileCert) func(error) {
	return func(err error) {
		e.log.Warn("certificate files changed but do not load; serving the previous certificate", "cert", f.certFile, "err", err)
	}
}

func (e *Edge) now() time.Time {
	if e.opts.Now != nil {
		return e.opts.Now()
	}
	return time.Now()
}

// HTTPHandler is the plain HTTP listener's handler: ACME's HTTP-01
// challenges, then a 308 redirect to HTTPS at httpsAddr's port (or next,
// when proxy.redirectHTTP is false).
func (e *Edge) HTTPHandler(next http.Handler, httpsAddr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.acme != nil && e.acme.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		if !e.cfg.RedirectsHTTP() {
			next.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, httpsURL(r, httpsAddr), http.StatusPermanentRedirect)
	})
}

// httpsURL is r's URL on the HTTPS listener at httpsAddr; port 443 is
// left out.
func httpsURL(r *http.Request, httpsAddr string) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(httpsAddr); err == nil && port != "443" {
		host += ":" + port
	}
	return "https://" + host + r.URL.RequestURI()
}

// HSTS adds the services' Strict-Transport-Security to answers over
// HTTPS, by request host.
func (e *Edge) HSTS(next http.Handler) http.Handler {
	if len(e.cfg.HSTS) == 0 {
		return next
	}
	byHost, anyHost := map[string]string{}, ""
	for _, h := range e.cfg.HSTS {
		if h.Host == "" {
			anyHost = h.Header
		} else {
			byHost[h.Host] = h.Header
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			v, ok := byHost[strings.ToLower(host)]
			if !ok {
				v = anyHost
			}
			if v != "" {
				w.Header().Set("Strict-Transport-Security", v)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// caRoots reads a PEM file of roots into a pool.
func caRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("caRoots %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// problem is the CA's reason in an ACME error, or err's text.
func problem(err error) string {
	var p acme.Problem
	if errors.As(err, &p) {
		return strings.TrimSpace(p.Type + ": " + p.Detail)
	}
	return err.Error()
}

// portOf is the port of a host:port, 0 if none.
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// LoadFiles reads the static certificates of t: the default one and the
// per-host ones. It fails on a file that does not load.
func LoadFiles(t *spec.ProxyTLS) (*Files, error) {
	fs := &Files{byName: map[string]*fileCert{}}
	if t.Cert != "" {
		f, err := loadFileCert(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("proxy.tls: %w", err)
		}
		fs.def = f
	}
	for i, hc := range t.Certificates {
		f, err := loadFileCert(hc.Cert, hc.Key)
		if err != nil {
			return nil, fmt.Errorf("proxy.tls.certificates[%d]: %w", i, err)
		}
		for _, h := range hc.Hosts {
			fs.byName[strings.ToLower(h)] = f
		}
	}
	return fs, nil
}

// SetFiles puts certificates read by LoadFiles in place of the static
// ones (a config reload): new handshakes get them. ACME is not touched.
// It reports whether any certificate served changed.
func (e *Edge) SetFiles(fs *Files) (changed bool) {
	return !e.files.Swap(fs).same(fs)
}

// Differ reports whether fs would serve other certificates than the
// edge serves now.
func (e *Edge) Differ(fs *Files) bool { return !e.files.Load().same(fs) }
