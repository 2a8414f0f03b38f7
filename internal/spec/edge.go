package spec

import (
	"fmt"
	"net/url"
	"strings"
)

// ProxyTLS is proxy.tls: the certificates the proxy serves HTTPS with. At
// least one of a default certificate (Cert and Key), Certificates or ACME
// is set.
type ProxyTLS struct {
	// Cert is the default certificate chain file (PEM), served to clients
	// whose server name no other certificate covers. Default "": none.
	Cert string `yaml:"cert"`
	// Key is Cert's private key file (PEM). Required with Cert.
	Key string `yaml:"key"`
	// Certificates are certificates for given hosts, picked by the
	// client's server name (SNI). Their files are read again when they
	// change (checked at most once a second, at a handshake), so a renewed
	// certificate is served without a restart. Default none.
	Certificates []HostCertificate `yaml:"certificates"`
	// ACME, when set, obtains and renews certificates from an ACME CA
	// (Let's Encrypt by default) for its hosts. Default nil: none.
	ACME *ACME `yaml:"acme"`
}

// HostCertificate is a certificate for the hosts it names.
type HostCertificate struct {
	// Hosts are the server names served this certificate ("*.example.com"
	// covers one label). Required.
	Hosts []string `yaml:"hosts"`
	// Cert is the certificate chain file (PEM). Required.
	Cert string `yaml:"cert"`
	// Key is the private key file (PEM). Required.
	Key string `yaml:"key"`
}

// DefaultACMECA is Let's Encrypt's production directory.
const DefaultACMECA = "https://acme-v02.api.letsencrypt.org/directory"

// ACME is proxy.tls.acme: automatic certificates, with the HTTP-01
// challenge answered on proxy.httpListen and TLS-ALPN-01 on proxy.listen.
type ACME struct {
	// Email is the ACME account's contact. Default "": none.
	Email string `yaml:"email"`
	// CA is the ACME directory URL. Default DefaultACMECA (Let's Encrypt).
	CA string `yaml:"ca"`
	// CARoots is a PEM file of roots to trust for the CA's own HTTPS
	// endpoint (a private CA). Default "": the system's roots.
	CARoots string `yaml:"caRoots"`
	// Hosts are the names to obtain certificates for. Default: every
	// service's match.host.
	Hosts []string `yaml:"hosts"`
	// Storage is the directory keeping the account and certificates, so
	// that they survive restarts. Default: STORE.acme beside the store
	// (store.path + ".acme").
	Storage string `yaml:"storage"`
	// OnDemand would obtain certificates at the first handshake for a new
	// name. Not supported yet: it must stay false (default).
	OnDemand bool `yaml:"onDemand"`
}

// HSTS is a service's Strict-Transport-Security header, sent on its
// answers over HTTPS.
type HSTS struct {
	// MaxAge is how long browsers keep to HTTPS. Required, more than 0
	// (a year is 8760h).
	MaxAge Duration `yaml:"maxAge"`
	// IncludeSubdomains extends it to the host's subdomains. Default false.
	IncludeSubdomains bool `yaml:"includeSubdomains"`
}

// Header is the HSTS header's value.
func (h *HSTS) Header() string {
	v := fmt.Sprintf("max-age=%d", int64(h.MaxAge.D().Seconds()))
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

// RedirectsHTTP reports whether the HTTP listener redirects to HTTPS
// (proxy.redirectHTTP, default true).
func (p *ProxyConfig) RedirectsHTTP() bool { return p.RedirectHTTP == nil || *p.RedirectHTTP }

// HostHSTS is the HSTS header for a host; Host "" is for hosts no other
// entry names.
type HostHSTS struct {
	Host   string
	Header string
}

// serviceHosts are the services' match.host, lower case, each once.
func (c *Config) serviceHosts() []string {
	var hosts []string
	for _, s := range c.Services {
		if h := strings.ToLower(s.Match.Host); h != "" && !contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// deriveHSTS fills proxy's HSTS from the services' hsts.
func (c *Config) deriveHSTS() {
	c.Proxy.HSTS = nil
	for _, s := range c.Services {
		if s.HSTS != nil && s.HSTS.MaxAge > 0 {
			c.Proxy.HSTS = append(c.Proxy.HSTS, HostHSTS{Host: strings.ToLower(s.Match.Host), Header: s.HSTS.Header()})
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// defaultEdge fills proxy.httpListen and the ACME defaults.
func (c *Config) defaultEdge() {
	c.deriveHSTS()
	t := c.Proxy.TLS
	if t == nil || t.ACME == nil {
		return
	}
	if len(t.ACME.Hosts) == 0 {
		t.ACME.Hosts = c.serviceHosts()
	}
	defaultString(&c.Proxy.HTTPListen, ":80")
	defaultString(&t.ACME.CA, DefaultACMECA)
	defaultString(&t.ACME.Storage, c.Store.Path+".acme")
}

// resolveEdgePaths makes proxy.tls's files absolute.
func (c *Config) resolveEdgePaths() {
	t := c.Proxy.TLS
	if t == nil {
		return
	}
	t.Cert, t.Key = c.absSet(t.Cert), c.absSet(t.Key)
	for i := range t.Certificates {
		hc := &t.Certificates[i]
		hc.Cert, hc.Key = c.absSet(hc.Cert), c.absSet(hc.Key)
	}
	if a := t.ACME; a != nil {
		a.CARoots, a.Storage = c.absSet(a.CARoots), c.absSet(a.Storage)
	}
}

// edge checks proxy.tls, proxy.httpListen and proxy.redirectHTTP.
func (c *checker) edge(p *ProxyConfig) {
	t := p.TLS
	if p.HTTPListen != "" {
		c.listen("proxy.httpListen", p.HTTPListen)
		if t == nil {
			c.add("proxy.httpListen", "httpListen redirects to HTTPS and answers ACME challenges: it needs proxy.tls")
		}
	}
	if t == nil {
		return
	}
	if (t.Cert == "") != (t.Key == "") {
		c.add("proxy.tls", "tls needs both cert and key (PEM files)")
	}
	if t.Cert == "" && t.Key == "" && len(t.Certificates) == 0 && t.ACME == nil {
		c.add("proxy.tls", "tls needs a certificate: cert and key, certificates, or acme")
	}
	for i, hc := range t.Certificates {
		path := indexPath("proxy.tls.certificates", i)
		if len(hc.Hosts) == 0 {
			c.add(path+".hosts", "hosts is required: the server names this certificate is for")
		}
		if hc.Cert == "" || hc.Key == "" {
			c.add(path, "a certificate needs both cert and key (PEM files)")
		}
	}
	if a := t.ACME; a != nil {
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			c.add("proxy.tls.acme.ca", "ca %q: want the https:// URL of an ACME directory", a.CA)
		}
		if len(a.Hosts) == 0 {
			c.add("proxy.tls.acme.hosts", "acme has no host to obtain a certificate for: list them in hosts, or give services a match.host")
		}
		if a.OnDemand {
			c.add("proxy.tls.acme.onDemand", "onDemand is not supported yet: list the names in acme.hosts or services' match.host")
		}
	}
}

// hsts checks a service's hsts.
func (c *checker) hsts(h *HSTS, path string) {
	if h != nil && h.MaxAge <= 0 {
		c.add(path+".maxAge", "maxAge must be more than 0, such as 8760h (a year)")
	}
}
