// Package edge is what the proxy needs to face the internet by itself:
// its certificates (files, per host and reloaded on change, and ACME
// through certmagic, answering HTTP-01 and TLS-ALPN-01), the plain HTTP
// listener's handler (ACME challenges, then a 308 redirect to HTTPS) and
// HSTS. The data plane (internal/server) owns the listeners; this package
// owns what goes on them.
package edge
