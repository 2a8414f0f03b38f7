package spec

// RouterConfig chooses what splits the traffic. Default: neither set, the
// builtin proxy (proxy:). At most one may be set; with one, bluejay's own
// proxy does not serve users, and the router's limits are checked at
// validate time (a feature it cannot do is an error on the service that
// asks for it).
type RouterConfig struct {
	// Nginx drives an NGINX the user runs, through a config file bluejay
	// renders and a graceful reload. Default none.
	Nginx *NginxRouter `yaml:"nginx"`
	// HAProxy drives an HAProxy the user runs, through its runtime API.
	// Default none.
	HAProxy *HAProxyRouter `yaml:"haproxy"`
}

// Name is the configured router's name: builtin,
// nginx or haproxy.
func (r RouterConfig) Name() string {
	switch {
	case r.Nginx != nil:
		return "nginx"
	case r.HAProxy != nil:
		return "haproxy"
	}
	return "builtin"
}

func (c *checker) router(cfg *Config) {
	if cfg.Router.Nginx != nil && cfg.Router.HAProxy != nil {
		c.add("router.haproxy", "set only one of router.nginx and router.haproxy")
	}
	if n := cfg.Router.Nginx; n != nil {
		c.nginxRouter(n, cfg.Services)
	}
	if h := cfg.Router.HAProxy; h != nil {
		c.haproxyRouter(h, cfg.Services)
	}
}
