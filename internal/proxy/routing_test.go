package proxy_test

import (
	"net/http"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

func TestRouting(t *testing.T) {
	p := &proxy.Proxy{}
	for _, r := range []router.Route{
		{Service: "catchall", Backends: []router.Backend{be("v1", 100, backend(t, "catchall"))}},
		{Service: "static", PathPrefix: "/static", Backends: []router.Backend{be("v1", 100, backend(t, "static"))}},
		{Service: "api", Host: "API.example.com", Backends: []router.Backend{be("v1", 100, backend(t, "api"))}},
		{Service: "apiv2", Host: "api.example.com", PathPrefix: "/v2/", Backends: []router.Backend{be("v1", 100, backend(t, "apiv2"))}},
	} {
		p.SetRoute(r)
	}
	tests := []struct {
		name, host, path, want string
	}{
		{"any host, no prefix", "other.example", "/x", "catchall"},
		{"any host, prefix", "other.example", "/static/a.css", "static"},
		{"prefix is a plain prefix, not a segment", "other.example", "/staticky", "static"},
		{"host match ignores case", "Api.Example.COM", "/v1/users", "api"},
		{"host match ignores port", "api.example.com:8443", "/", "api"},
		{"host and longer prefix", "api.example.com", "/v2/users", "apiv2"},
		{"prefix with trailing slash needs it", "api.example.com", "/v2", "api"},
		{"host-specific beats a longer any-host prefix", "api.example.com", "/static/a.css", "api"},
		{"ipv6 host", "[::1]:80", "/", "catchall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := send(t, p, tt.host, tt.path)
			if code != http.StatusOK || body != tt.want {
				t.Errorf("%s%s: got %d %q, want 200 %q", tt.host, tt.path, code, body, tt.want)
			}
		})
	}
}

func TestNoRouteIs404(t *testing.T) {
	p := &proxy.Proxy{}
	if code, body := send(t, p, "example.com", "/"); code != http.StatusNotFound || body != "no route\n" {
		t.Errorf("empty proxy: got %d %q, want 404 %q", code, body, "no route\n")
	}
	p.SetRoute(router.Route{Service: "web", Host: "web.example", Backends: []router.Backend{be("v1", 100, backend(t, "web"))}})
	if code, _ := send(t, p, "other.example", "/"); code != http.StatusNotFound {
		t.Errorf("other host: got %d, want 404", code)
	}
}

func TestRemoveRoute(t *testing.T) {
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, backend(t, "web"))))
	p.RemoveRoute("web")
	p.RemoveRoute("never-set")
	if code, _ := send(t, p, "example.com", "/"); code != http.StatusNotFound {
		t.Errorf("after RemoveRoute: got %d, want 404", code)
	}
	if got := p.Routes(); len(got) != 0 {
		t.Errorf("Routes after RemoveRoute = %v, want none", got)
	}
}

func TestRoutesAreSortedCopies(t *testing.T) {
	p := &proxy.Proxy{}
	b := route("b", be("v1", 100, "127.0.0.1:1"))
	p.SetRoute(b)
	p.SetRoute(route("a", be("v1", 100, "127.0.0.1:2")))
	b.Backends[0].Addrs[0] = "mutated" // the proxy kept its own copy

	got := p.Routes()
	if len(got) != 2 || got[0].Service != "a" || got[1].Service != "b" {
		t.Fatalf("Routes = %v, want a then b", got)
	}
	if addr := got[1].Backends[0].Addrs[0]; addr != "127.0.0.1:1" {
		t.Errorf("route b addr = %q: SetRoute did not copy its argument", addr)
	}
	got[0].Backends[0].Addrs[0] = "mutated"
	if addr := p.Routes()[0].Backends[0].Addrs[0]; addr != "127.0.0.1:2" {
		t.Errorf("route a addr = %q: Routes did not return a copy", addr)
	}
}
