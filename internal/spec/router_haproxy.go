package spec

import (
	"strings"
	"time"
)

// Defaults of the HAProxy router's settings.
const (
	defaultHAProxyBinary   = "haproxy"
	defaultHAProxySlots    = 10
	defaultHAProxyVersions = 3
)

// HAProxyRouter configures the HAProxy router (internal/router/haproxy):
// bluejay renders a frontend and one backend per version slot into
// Config, which HAProxy loads after its main configuration (haproxy -f
// haproxy.cfg -f Config), and changes weights and instance addresses
// through the runtime API on Socket without a reload. Only a new
// service, or a change of a service's match, sticky key or header
// routes, reloads HAProxy (checked with haproxy -c first). bluejay's own
// proxy then serves no users.
type HAProxyRouter struct {
	// Socket is HAProxy's admin socket: the path of `stats socket PATH
	// level admin` in the main configuration. Relative to the config
	// file. Required.
	Socket string `yaml:"socket"`
	// Config is the file bluejay renders and owns (a defaults section,
	// the frontend `bluejay` and the version backends). Relative to the
	// config file. Required. bluejay also writes Config.map (the
	// versions' shares) and Config.json (which version holds which
	// backend, for its next start) beside it.
	Config string `yaml:"config"`
	// StateFile is the server-state file the rendered backends load on a
	// reload (load-server-state-from-file local); bluejay writes `show
	// servers state` into it after every change, so that a reload keeps
	// the servers' states and weights. Relative to the config file.
	// Default: Config with ".state" appended.
	StateFile string `yaml:"stateFile"`
	// MasterSocket is HAProxy's master CLI socket (haproxy -W -S PATH),
	// to which bluejay sends `reload`. Relative to the config file. Set
	// exactly one of MasterSocket and ReloadCommand. Default "".
	MasterSocket string `yaml:"masterSocket"`
	// ReloadCommand reloads HAProxy when MasterSocket is unset, such as
	// [systemctl, reload, haproxy]; run in the config file's directory.
	// Default none.
	ReloadCommand []string `yaml:"reloadCommand"`
	// Binary is the haproxy program that checks a rendered file (haproxy
	// -c) before it replaces the old one. Default haproxy, found in PATH.
	Binary string `yaml:"binary"`
	// Listen is the address the rendered frontend binds for users.
	// Default: proxy.listen (itself 127.0.0.1:8080), which bluejay's own
	// proxy leaves to HAProxy.
	Listen string `yaml:"listen"`
	// Slots is how many servers each version backend has: the most
	// instances one version may run. Default 10; 1 to 1000.
	Slots int `yaml:"slots"`
	// Versions is how many version backends each service has: the most
	// versions taking or finishing requests at once (stable, canary and
	// a dedicated baseline). Default 3; 2 to 16, and 3 or more for a
	// canary with a dedicated baseline.
	Versions int `yaml:"versions"`
	// Timeout bounds how long HAProxy waits for an instance's response
	// (timeout server). Default: proxy.timeout (itself 30s).
	Timeout Duration `yaml:"timeout"`
	// ReloadTimeout bounds how long a reload has to become live before
	// the change fails. Default 10s; must be more than 0.
	ReloadTimeout Duration `yaml:"reloadTimeout"`
	// VersionHeader, when set, names a response header carrying the
	// version that served the request. Default: proxy.versionHeader.
	VersionHeader string `yaml:"versionHeader"`
}

// applyDefaults fills the HAProxy router's unset fields from proxy,
// already defaulted.
func (h *HAProxyRouter) applyDefaults(d defaulter, proxy ProxyConfig) {
	const p = "router.haproxy"
	defaultString(&h.Binary, defaultHAProxyBinary)
	defaultString(&h.Listen, proxy.Listen)
	defaultString(&h.VersionHeader, proxy.VersionHeader)
	if h.StateFile == "" && h.Config != "" {
		h.StateFile = h.Config + ".state"
	}
	d.int(&h.Slots, p+".slots", defaultHAProxySlots)
	d.int(&h.Versions, p+".versions", defaultHAProxyVersions)
	d.duration(&h.Timeout, p+".timeout", proxy.Timeout.D())
	d.duration(&h.ReloadTimeout, p+".reloadTimeout", 10*time.Second)
}

// resolvePaths makes the HAProxy router's file paths absolute. A binary
// without a slash is looked up in PATH, so it stays as written.
func (h *HAProxyRouter) resolvePaths(c *Config) {
	h.Socket = c.absSet(h.Socket)
	h.Config = c.absSet(h.Config)
	h.StateFile = c.absSet(h.StateFile)
	h.MasterSocket = c.absSet(h.MasterSocket)
	if strings.Contains(h.Binary, "/") {
		h.Binary = c.abs(h.Binary)
	}
}

// haproxyRouter checks the HAProxy router's settings and refuses service
// features HAProxy cannot do.
func (c *checker) haproxyRouter(h *HAProxyRouter, services []Service) {
	const p = "router.haproxy"
	if h.Socket == "" {
		c.add(p, "socket is required: the admin socket of haproxy.cfg's `stats socket PATH level admin`, such as /run/haproxy/admin.sock")
	}
	if h.Config == "" {
		c.add(p, "config is required: the file bluejay renders, loaded after haproxy.cfg (haproxy -f haproxy.cfg -f FILE), such as /etc/haproxy/bluejay.cfg")
	}
	for _, f := range []struct{ name, path string }{{"config", h.Config}, {"stateFile", h.StateFile}, {"socket", h.Socket}, {"masterSocket", h.MasterSocket}} {
		if f.name == "stateFile" && f.path == h.Config+".state" {
			continue // the default: config's problem, reported there
		}
		if i := strings.IndexAny(f.path, " \t\n,;()#'\"\\$"); i >= 0 {
			c.add(p+"."+f.name, "HAProxy cannot take %q in a path here, got %q", f.path[i], f.path)
		}
	}
	switch {
	case h.MasterSocket == "" && len(h.ReloadCommand) == 0:
		c.add(p, "set masterSocket (haproxy -W -S PATH) or reloadCommand (such as [systemctl, reload, haproxy]): bluejay reloads HAProxy when a service is added or its match, sticky key or header routes change")
	case h.MasterSocket != "" && len(h.ReloadCommand) > 0:
		c.add(p+".reloadCommand", "set only one of masterSocket and reloadCommand")
	}
	c.listen(p+".listen", h.Listen)
	if h.Slots < 1 || h.Slots > 1000 {
		c.add(p+".slots", "slots must be from 1 to 1000, got %d", h.Slots)
	}
	if h.Versions < 2 || h.Versions > 16 {
		c.add(p+".versions", "versions must be from 2 to 16, got %d", h.Versions)
	}
	c.positive(h.Timeout, p+".timeout", "30s")
	c.positive(h.ReloadTimeout, p+".reloadTimeout", "10s")
	for i := range services {
		c.haproxyService(h, &services[i], indexPath("services", i))
	}
}

// haproxyService refuses what HAProxy cannot do for a service, at the
// field that asks for it.
func (c *checker) haproxyService(h *HAProxyRouter, s *Service, path string) {
	const builtin = "; remove it or use the builtin router"
	if s.Shield != nil {
		c.add(path+".shield", "router.haproxy cannot retry a failed request on the stable version (HAProxy retries within one backend, and would hide the failure from the new version's counts)"+builtin)
	}
	if s.Outlier != nil {
		c.add(path+".outlier", "router.haproxy has no ejection with a doubling back-off that spares a version's last instance (observe layer7 marks servers down for good)"+builtin)
	}
	if st := s.Sticky; st != nil {
		c.haproxyName(path+".sticky.header", st.Header)
		c.haproxyName(path+".sticky.cookie", st.Cookie)
	}
	if h.Slots >= 1 {
		if pr := s.Platform.Process; pr != nil && pr.Replicas > h.Slots {
			c.add(path+".platform.process.replicas", "%d replicas do not fit router.haproxy.slots %d (servers per version backend); raise slots", pr.Replicas, h.Slots)
		}
		if st := s.Platform.Static; st != nil {
			for v, addrs := range st.Targets {
				if len(addrs) > h.Slots {
					c.add(joinPath(path+".platform.static.targets", v), "%d targets do not fit router.haproxy.slots %d (servers per version backend); raise slots", len(addrs), h.Slots)
				}
			}
		}
	}
	if s.Canary.Baseline == BaselineDedicated && h.Versions >= 2 && h.Versions < 3 {
		c.add(path+".canary.baseline", "a dedicated baseline needs router.haproxy.versions 3 or more (canary, baseline and stable), got %d", h.Versions)
	}
	for j := range s.Canary.Steps {
		st := &s.Canary.Steps[j]
		sp := indexPath(path+".canary.steps", j)
		if st.SetMirrorRoute != nil {
			c.add(sp+".setMirrorRoute", "router.haproxy cannot mirror a share of requests (HAProxy 2.6 mirrors only through an external SPOE agent)"+builtin)
		}
		if hr := st.SetHeaderRoute; hr != nil {
			c.haproxyName(sp+".setHeaderRoute.header", hr.Header)
			c.haproxyName(sp+".setHeaderRoute.cookie", hr.Cookie)
			for _, v := range []struct{ name, val string }{{"exact", hr.Exact}, {"prefix", hr.Prefix}, {"regex", hr.Regex}} {
				if strings.ContainsFunc(v.val, func(r rune) bool { return r < ' ' || r == 0x7f }) {
					c.add(sp+".setHeaderRoute."+v.name, "router.haproxy cannot match a value with control characters, got %q", v.val)
				}
			}
		}
	}
}

// haproxyName refuses a header or cookie name that the rendered sample
// fetches (req.fhdr(NAME,1), req.cook(NAME)) cannot hold as written.
func (c *checker) haproxyName(path, name string) {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			c.add(path, "router.haproxy needs a name of letters, digits, '-', '_' and '.', got %q", name)
			return
		}
	}
}
