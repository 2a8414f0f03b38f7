package spec

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// checker runs the semantic checks on a decoded, defaulted Config and
// locates each problem through the index.
type checker struct {
	x         *index
	errs      Errors
	warns     Errors
	templates map[string]AnalysisTemplate
	// promConfigured: the top-level prometheus block is there, for
	// provider.prometheus metrics.
	promConfigured bool
	// noArgs is each template's metric problems when a step gives it no
	// args (metricsWithArgs).
	noArgs map[string]argsCheck
}

// validate returns every semantic problem in cfg.
func validate(x *index, cfg *Config) Errors {
	c := &checker{x: x, templates: cfg.Analysis, promConfigured: cfg.Prometheus != nil}
	c.analysisTemplates(cfg.Analysis)
	c.proxy(&cfg.Proxy)
	c.admin(&cfg.Admin)
	c.retention(cfg.Store.Retention)
	c.etcd(cfg.Store.Etcd)
	c.listeners(cfg)
	c.router(cfg)
	c.prometheus(cfg.Prometheus, cfg.Analysis)
	c.external(cfg)
	c.services(cfg.Services)
	c.notifications(cfg.Notifications, cfg.Services)
	cfg.warnings = c.warns
	return c.errs
}

// warn records something valid but probably not meant at path: `bluejay
// validate` prints it, and `validate --strict` refuses the config.
func (c *checker) warn(path, format string, args ...any) {
	c.warns = append(c.warns, c.x.errorf(path, format, args...))
}

// add records a problem at path, unless a malformed value was dropped
// there: the check would then judge a value the user never wrote.
func (c *checker) add(path, format string, args ...any) {
	if c.x.dropped(path) {
		return
	}
	c.errs = append(c.errs, c.x.errorf(path, format, args...))
}

func (c *checker) proxy(p *ProxyConfig) {
	c.listen("proxy.listen", p.Listen)
	if p.Control != "" {
		c.listen("proxy.control", p.Control)
	}
	if p.Timeout <= 0 {
		c.add("proxy.timeout", "timeout must be more than 0, such as 30s")
	}
	for i, cidr := range p.TrustedProxies {
		if _, err := ParseTrusted(cidr); err != nil {
			c.add(indexPath("proxy.trustedProxies", i), "%v", err)
		}
	}
	c.atLeast(p.MaxHeaderBytes, 1024, "proxy.maxHeaderBytes")
	c.positive(p.ReadHeaderTimeout, "proxy.readHeaderTimeout", "10s")
	c.edge(p)
	c.proxyLimits(p)
}

// proxyLimits checks what the proxy takes from its clients.
func (c *checker) proxyLimits(p *ProxyConfig) {
	if p.H2C && p.TLS != nil {
		c.add("proxy.h2c", "h2c cannot be set with tls: the TLS listener already serves HTTP/2, and h2c (HTTP/2 without TLS) needs a plain listener; set one of them")
	}
	c.positive(p.BodyTimeout, "proxy.bodyTimeout", "30s")
	c.atLeast(p.MaxBodyBuffer, 0, "proxy.maxBodyBuffer")
	c.atLeast(p.MaxBodyBytes, 0, "proxy.maxBodyBytes")
	for i, u := range p.Upgrades {
		path := indexPath("proxy.upgrades", i)
		switch {
		case strings.EqualFold(u, "h2c"):
			c.add(path, "h2c is never forwarded: its tunnel would bypass routing, header rewriting and counting; serve HTTP/2 with proxy.h2c or proxy.tls instead")
		case !httpguts.ValidHeaderFieldName(u):
			c.add(path, "invalid upgrade %q: want a protocol name such as websocket", u)
		}
	}
}

// ParseTrusted parses a trusted proxy: a CIDR, or an IP for a single host.
func ParseTrusted(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (c *checker) retention(r Retention) {
	if r.MaxAge < 0 {
		c.add("store.retention.maxAge", "maxAge must be 0 (keep all) or more, such as 2160h")
	}
	c.atLeast(r.MaxRollouts, 0, "store.retention.maxRollouts")
}

func (c *checker) etcd(e *EtcdStore) {
	if e == nil {
		return
	}
	if len(e.Endpoints) == 0 {
		c.add("store.etcd.endpoints", "endpoints needs at least one client URL, such as http://127.0.0.1:2379")
	}
	for i, ep := range e.Endpoints {
		hostPort := ep
		if u, err := url.Parse(ep); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			hostPort = u.Host
		} else if strings.Contains(ep, "://") {
			c.add(indexPath("store.etcd.endpoints", i), "invalid endpoint %q: want http://host:port, https://host:port or host:port", ep)
			continue
		}
		if err := checkHostPort(hostPort, true); err != nil {
			c.add(indexPath("store.etcd.endpoints", i), "%v", err)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") {
		c.add("store.etcd.prefix", "prefix must start with '/', such as /bluejay")
	}
	if e.LeaseTTL < Duration(time.Second) {
		c.add("store.etcd.leaseTTL", "leaseTTL must be at least 1s (etcd leases count whole seconds), such as 5s")
	}
}

func (c *checker) admin(a *AdminConfig) {
	c.listen("admin.listen", a.Listen)
	if a.Token != "" && a.TokenFile != "" {
		c.add("admin.tokenFile", "set only one of token and tokenFile (or neither: serve generates a token)")
	}
	if a.TLS != nil && (a.TLS.Cert == "" || a.TLS.Key == "") {
		c.add("admin.tls", "tls needs both cert and key (PEM files)")
	}
}

// listen checks a listen address; the host may be empty (all interfaces).
func (c *checker) listen(path, addr string) {
	if err := checkHostPort(addr, false); err != nil {
		c.add(path, "%v", err)
	}
}

// listeners refuses a proxy and admin API on the same port.
func (c *checker) listeners(cfg *Config) {
	p, a := cfg.Proxy.Listen, cfg.Admin.Listen
	if checkHostPort(p, false) != nil || checkHostPort(a, false) != nil {
		return
	}
	if sameListener(p, a) {
		c.add("admin.listen", "admin.listen %s must differ from proxy.listen %s", a, p)
	}
	if ctl := cfg.Proxy.Control; ctl != "" && checkHostPort(ctl, false) == nil {
		for _, o := range []struct{ path, addr string }{{"proxy.listen", p}, {"admin.listen", a}} {
			if sameListener(ctl, o.addr) {
				c.add("proxy.control", "proxy.control %s must differ from %s %s", ctl, o.path, o.addr)
			}
		}
	}
}

// sameListener reports whether two valid listen addresses clash: the
// same port on the same host, or on a host that means every interface.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb {
		return false
	}
	return strings.EqualFold(ha, hb) || isWildcard(ha) || isWildcard(hb)
}

func isWildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// checkHostPort checks a host:port address with a port in 1-65535.
func checkHostPort(addr string, needHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port such as 127.0.0.1:8080", addr)
	}
	if needHost && host == "" {
		return fmt.Errorf("invalid address %q: want host:port with a host, such as 10.0.0.5:8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port in %q: want a number from 1 to 65535", addr)
	}
	return nil
}
