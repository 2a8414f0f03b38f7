package proxy_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// BenchmarkProxy sends parallel requests through a proxy server to two
// versions of a backend, all over real loopback connections. Allocations
// include the client's and both servers', since they share the process.
func BenchmarkProxy(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	p := &proxy.Proxy{VersionHeader: "X-Version", Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(route("web", be("v1", 90, serve(b, hello)), be("v2", 10, serve(b, hello))))
	srv := httptest.NewServer(p)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}
