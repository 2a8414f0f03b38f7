package proxy

import (
	"testing"
	"time"
)

// BenchmarkRecordOutcome measures what Stats adds to a finished request:
// its class and its latency (ns/op, 0 allocs/op).
func BenchmarkRecordOutcome(b *testing.B) {
	c := &counters{}
	in := c.instanceOf("127.0.0.1:8080", time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d = (d + 7*time.Millisecond) % (3 * time.Second)
			in.codes[responseClass(200)].Add(1)
			c.latency.observe(d)
		}
	})
}
