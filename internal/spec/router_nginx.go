package spec

// NginxRouter configures the NGINX router (internal/router/nginx).
type NginxRouter struct{}

// nginxRouter checks the NGINX router's settings and refuses service
// features NGINX cannot do.
func (c *checker) nginxRouter(n *NginxRouter, services []Service) {}
