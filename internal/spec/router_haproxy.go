package spec

// HAProxyRouter configures the HAProxy router (internal/router/haproxy).
type HAProxyRouter struct{}

// haproxyRouter checks the HAProxy router's settings and refuses service
// features HAProxy cannot do.
func (c *checker) haproxyRouter(h *HAProxyRouter, services []Service) {}
