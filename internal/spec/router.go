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
	// GatewayAPI writes HTTPRoutes for a Kubernetes Gateway the user
	// runs. Default none.
	GatewayAPI *GatewayAPIRouter `yaml:"gatewayAPI"`
}

// Name is the configured router's name: builtin, nginx, haproxy or
// gatewayAPI.
func (r RouterConfig) Name() string {
	switch {
	case r.Nginx != nil:
		return "nginx"
	case r.HAProxy != nil:
		return "haproxy"
	case r.GatewayAPI != nil:
		return "gatewayAPI"
	}
	return "builtin"
}

func (c *checker) router(cfg *Config) {
	n := 0
	for _, set := range []bool{cfg.Router.Nginx != nil, cfg.Router.HAProxy != nil, cfg.Router.GatewayAPI != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		c.add("router", "set only one of router.nginx, router.haproxy and router.gatewayAPI")
	}
	if n := cfg.Router.Nginx; n != nil {
		c.nginxRouter(n, cfg.Services)
	}
	if h := cfg.Router.HAProxy; h != nil {
		c.haproxyRouter(h, cfg.Services)
	}
	if g := cfg.Router.GatewayAPI; g != nil {
		c.gatewayAPIRouter(g, cfg)
	}
	if name := cfg.Router.Name(); name != "builtin" {
		for i, s := range cfg.Services {
			if s.Protocol == ProtocolH2C || s.Protocol == ProtocolGRPC {
				c.add(indexPath("services", i)+".protocol", "protocol %s needs bluejay's builtin proxy; router.%s speaks HTTP/1.1 to instances (remove router.%s or use protocol: http)",
					s.Protocol, name, name)
			}
		}
	}
	c.kubernetes(cfg)
}
