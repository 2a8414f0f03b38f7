package proxy

import (
	"fmt"
	"testing"
)

// BenchmarkPick measures the request path's table work alone: match a host
// and path among 50 routes, then pick a version and an address.
func BenchmarkPick(b *testing.B) {
	p := &Proxy{}
	for i := range 50 {
		host := ""
		if i%2 == 0 {
			host = fmt.Sprintf("svc%d.example.com", i)
		}
		p.SetRoute(routeOf(fmt.Sprintf("svc%d", i), host, fmt.Sprintf("/svc%d/", i), 90, 10))
	}
	// One request per host-specific route and one per any-host route.
	type req struct{ host, path string }
	reqs := make([]req, 50)
	for i := range reqs {
		reqs[i] = req{fmt.Sprintf("Svc%d.example.com:443", i), fmt.Sprintf("/svc%d/items/42", i)}
		if i%2 == 1 {
			reqs[i].host = "other.example.com"
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := reqs[i%len(reqs)]
			i++
			t := p.acquire()
			u := t.match(r.host, r.path).pick(p.random())
			t.readers.Add(-1)
			if u == nil {
				b.Fatal("no upstream")
			}
		}
	})
}
