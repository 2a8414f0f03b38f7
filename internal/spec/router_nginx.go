package spec

import (
	"net"
	"strings"
	"time"
)

// Defaults of the NGINX router's settings.
const (
	defaultNginxBinary  = "nginx"
	defaultNginxPIDFile = "/run/nginx.pid"
	defaultNginxStatus  = "127.0.0.1:7079"
)

// NginxRouter configures the NGINX router (internal/router/nginx): bluejay
// renders every service's split into Config, which the user's main
// configuration includes inside its http block, checks it with `nginx -t`
// and reloads NGINX gracefully (SIGHUP to the master). bluejay's own proxy
// then serves no users.
type NginxRouter struct {
	// Config is the file bluejay renders and owns (upstreams, maps,
	// split_clients and server blocks), included by the main
	// configuration inside `http { }`. Relative to the config file.
	// Required.
	Config string `yaml:"config"`
	// MainConfig is NGINX's main configuration file, which includes
	// Config; `nginx -t -c MainConfig` checks every change. Relative to
	// the config file. Default "": NGINX's compiled-in default (often
	// /etc/nginx/nginx.conf).
	MainConfig string `yaml:"mainConfig"`
	// Prefix is NGINX's prefix path (nginx -p), against which NGINX
	// resolves the relative paths of its own configuration. Relative to
	// the config file. Default "": NGINX's compiled-in prefix.
	Prefix string `yaml:"prefix"`
	// Binary is the nginx program that checks configurations. Default
	// nginx, found in PATH.
	Binary string `yaml:"binary"`
	// PIDFile is the running master's pid file, which the reload signals.
	// It must be the pid file of the NGINX that reads MainConfig.
	// Relative to the config file. Default /run/nginx.pid.
	PIDFile string `yaml:"pidFile"`
	// Listen is the address the rendered server blocks serve users on.
	// Default: proxy.listen (itself 127.0.0.1:8080), which bluejay's own
	// proxy leaves to NGINX.
	Listen string `yaml:"listen"`
	// VersionHeader, when set, names a response header carrying the
	// version that served the request. Default: proxy.versionHeader.
	VersionHeader string `yaml:"versionHeader"`
	// Status is the loopback address of a server in the rendered file
	// that answers the configuration's generation: after a reload,
	// bluejay polls it (and waits for the old workers to stop accepting)
	// before a change counts as live. Default 127.0.0.1:7079.
	Status string `yaml:"status"`
	// ReloadTimeout bounds how long a reload has to become live before
	// the change fails. Default 10s; must be more than 0.
	ReloadTimeout Duration `yaml:"reloadTimeout"`
}

// applyDefaults fills the NGINX router's unset fields; proxyListen is
// proxy.listen, already defaulted.
func (n *NginxRouter) applyDefaults(d defaulter, proxyListen, versionHeader string) {
	defaultString(&n.VersionHeader, versionHeader)
	defaultString(&n.Binary, defaultNginxBinary)
	defaultString(&n.PIDFile, defaultNginxPIDFile)
	defaultString(&n.Listen, proxyListen)
	defaultString(&n.Status, defaultNginxStatus)
	d.duration(&n.ReloadTimeout, "router.nginx.reloadTimeout", 10*time.Second)
}

// resolvePaths makes the NGINX router's file paths absolute.
func (n *NginxRouter) resolvePaths(c *Config) {
	n.Config = c.absSet(n.Config)
	n.MainConfig = c.absSet(n.MainConfig)
	n.Prefix = c.absSet(n.Prefix)
	n.PIDFile = c.absSet(n.PIDFile)
}

// nginxRouter checks the NGINX router's settings and refuses service
// features NGINX cannot do.
func (c *checker) nginxRouter(n *NginxRouter, services []Service) {
	const p = "router.nginx"
	if n.Config == "" {
		c.add(p, "config is required: the file bluejay renders, included by nginx.conf's http block, such as /etc/nginx/conf.d/bluejay.conf")
	}
	c.listen(p+".listen", n.Listen)
	if err := checkHostPort(n.Status, true); err != nil {
		c.add(p+".status", "%v", err)
	} else if !isLoopback(n.Status) {
		c.add(p+".status", "status %s must be on loopback, such as 127.0.0.1:7079: it reveals the configuration's generation", n.Status)
	} else if checkHostPort(n.Listen, false) == nil && sameListener(n.Status, n.Listen) {
		c.add(p+".status", "status %s must differ from listen %s", n.Status, n.Listen)
	}
	if n.ReloadTimeout <= 0 {
		c.add(p+".reloadTimeout", "reloadTimeout must be more than 0, such as 10s")
	}
	for i := range services {
		c.nginxService(&services[i], indexPath("services", i))
	}
}

// nginxService refuses what NGINX open source cannot do for a service,
// at the field that asks for it.
func (c *checker) nginxService(s *Service, path string) {
	const builtin = "; remove it or use the builtin router"
	if s.Shield != nil {
		c.add(path+".shield", "router.nginx cannot retry a failed request on the stable version while counting the failure against the new one"+builtin)
	}
	if s.Outlier != nil {
		c.add(path+".outlier", "router.nginx has no ejection that lasts until an active probe passes (NGINX open source has no active health checks)"+builtin)
	}
	if h := s.Match.Host; h != "" && !isServerName(h) {
		c.add(path+".match.host", "router.nginx needs a host of letters, digits, '-' and '.' for server_name, got %q", h)
	}
	if st := s.Sticky; st != nil && strings.Contains(st.Header, "_") {
		c.add(path+".sticky.header", "NGINX ignores request headers with '_' in their name (underscores_in_headers off), got %q", st.Header)
	}
	for j := range s.Canary.Steps {
		st := &s.Canary.Steps[j]
		sp := indexPath(path+".canary.steps", j)
		if st.SetMirrorRoute != nil {
			c.add(sp+".setMirrorRoute", "router.nginx cannot mirror a share of requests without holding the client's next request until the copy is answered"+builtin)
		}
		if h := st.SetHeaderRoute; h != nil && strings.Contains(h.Header, "_") {
			c.add(sp+".setHeaderRoute.header", "NGINX ignores request headers with '_' in their name (underscores_in_headers off), got %q", h.Header)
		}
	}
}

// isLoopback reports whether a valid host:port is on loopback.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isServerName reports whether host can be written as an NGINX
// server_name as it is.
func isServerName(host string) bool {
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
