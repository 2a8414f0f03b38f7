package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// seen is what the echo backend received.
type seen struct {
	Host   string
	Header http.Header
}

// echo starts a backend that answers with the request it saw as JSON and
// claims a version of its own in the response's X-Version header.
func echo(t *testing.T) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", "upstream-claims-this")
		json.NewEncoder(w).Encode(seen{Host: r.Host, Header: r.Header})
	}))
}

func sendThrough(t *testing.T, c *http.Client, url string, header http.Header) (*http.Response, seen) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.example.com"
	req.Header = header
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s seen
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatalf("status %d: decoding echo: %v", res.StatusCode, err)
	}
	return res, s
}

// TestForwardedHeaders pins what the upstream sees of forwarding headers.
// ReverseProxy with a Rewrite hook deletes the inbound Forwarded and
// X-Forwarded-For/-Host/-Proto before Rewrite runs, and SetXForwarded only
// appends to an X-Forwarded-For already on the outbound request; so a
// client's spoofed X-Forwarded-For is replaced, not appended to.
func TestForwardedHeaders(t *testing.T) {
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, echo(t))))
	url, client := newServer(t, p)

	_, s := sendThrough(t, client, url, http.Header{
		"X-Forwarded-For":   {"6.6.6.6"},
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Proto": {"https"},
		"Forwarded":         {"for=6.6.6.6;proto=https"},
	})
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Host":  "app.example.com",
		"X-Forwarded-Proto": "http",
		"Forwarded":         "",
	}
	for name, v := range want {
		if got := s.Header.Values(name); (v == "" && len(got) != 0) || (v != "" && (len(got) != 1 || got[0] != v)) {
			t.Errorf("upstream saw %s %q, want %q", name, got, v)
		}
	}
	if s.Host != "app.example.com" {
		t.Errorf("upstream saw Host %q, want the client's app.example.com", s.Host)
	}
}

// TestForwardedHeadersFromATrustedProxy: from a trusted peer (a load
// balancer in front), the inbound X-Forwarded-* are kept and the peer
// appended; the users of the blast radius are the forwarded clients.
func TestForwardedHeadersFromATrustedProxy(t *testing.T) {
	p := &proxy.Proxy{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	p.SetRoute(route("web", be("v1", 100, echo(t))))
	url, client := newServer(t, p)
	_, s := sendThrough(t, client, url, http.Header{
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Forwarded-Host":  {"shop.example"},
		"X-Forwarded-Proto": {"https"},
	})
	want := map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Host": "shop.example", "X-Forwarded-Proto": "https"}
	for name, v := range want {
		if got := strings.Join(s.Header.Values(name), ", "); got != v {
			t.Errorf("upstream saw %s %q, want %q", name, got, v)
		}
	}
	if c := p.Counts("web", "v1"); c.Users != 1 {
		t.Errorf("users = %d, want the one forwarded client", c.Users)
	}
}

func TestVersionHeader(t *testing.T) {
	addr := echo(t)
	spoof := http.Header{"X-Version": {"v2"}}

	t.Run("on", func(t *testing.T) {
		p := &proxy.Proxy{VersionHeader: "X-Version"}
		p.SetRoute(route("web", be("v1", 100, addr)))
		url, client := newServer(t, p)
		res, s := sendThrough(t, client, url, spoof.Clone())
		if got := res.Header.Values("X-Version"); len(got) != 1 || got[0] != "v1" {
			t.Errorf("response X-Version = %q, want [v1] (set by the proxy, over the upstream's)", got)
		}
		if got := s.Header.Values("X-Version"); len(got) != 0 {
			t.Errorf("upstream saw the client's X-Version %q, want it stripped", got)
		}
	})
	t.Run("off", func(t *testing.T) {
		p := &proxy.Proxy{}
		p.SetRoute(route("web", be("v1", 100, addr)))
		url, client := newServer(t, p)
		res, s := sendThrough(t, client, url, spoof.Clone())
		if got := res.Header.Get("X-Version"); got != "upstream-claims-this" {
			t.Errorf("response X-Version = %q, want the upstream's own, untouched", got)
		}
		if got := s.Header.Get("X-Version"); got != "v2" {
			t.Errorf("upstream saw X-Version %q, want the client's v2 passed through", got)
		}
	})
}
