package proxy

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestStickyIsMonotonic pins the seed's answer to schema mismatches: 10k
// users while the canary's weight climbs 1 → 100, one point at a time —
// no user ever goes back to stable, and the canary's share matches its
// weight within half a point.
func TestStickyIsMonotonic(t *testing.T) {
	p := &Proxy{}
	onCanary := make([]bool, 10000)
	for w := 1; w <= 100; w++ {
		r := router.Route{Service: "web", Sticky: &router.Sticky{Cookie: "u"}, Backends: []router.Backend{
			{Version: "v2", Weight: w, Addrs: []string{"127.0.0.1:1"}},
			{Version: "v1", Weight: 100 - w, Addrs: []string{"127.0.0.1:2"}},
		}}
		rt := p.compile(r)
		n := 0
		for k := range onCanary {
			v := rt.pickBucket(bucketOf("web", fmt.Sprintf("user-%d", k))).version
			if v == "v1" && onCanary[k] {
				t.Fatalf("weight %d: user-%d went back to stable", w, k)
			}
			onCanary[k] = v == "v2"
			if onCanary[k] {
				n++
			}
		}
		if share := float64(n) / 100; share < float64(w)-1.5 || share > float64(w)+1.5 {
			t.Errorf("weight %d: %.2f%% of users on the canary", w, share)
		}
	}
}

// TestStickyBucketIsStable pins the hash: a restarted proxy, or another
// proxy of a fleet, must put a user where this one does.
func TestStickyBucketIsStable(t *testing.T) {
	// FNV-1a of "web\x00user-1" mod 10000, computed once: a change of hash
	// would move every sticky user.
	if got := bucketOf("web", "user-1"); got != fnv1aMod("web\x00user-1") {
		t.Fatalf("bucketOf(web, user-1) = %d, want %d", got, fnv1aMod("web\x00user-1"))
	}
	if bucketOf("web", "u") == bucketOf("api", "u") && bucketOf("web", "v") == bucketOf("api", "v") {
		t.Error("the service does not enter the hash")
	}
}

func fnv1aMod(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h % buckets
}

// TestWeightAccuracy is issue 4's: over 100k requests the observed share
// of each version is within half a percentage point of its weight, for
// random picks and for sticky keys alike.
func TestWeightAccuracy(t *testing.T) {
	p := &Proxy{}
	for _, w := range []int{1, 5, 25, 50, 90} {
		r := router.Route{Service: "web", Backends: []router.Backend{
			{Version: "v2", Weight: w, Addrs: []string{"127.0.0.1:1"}},
			{Version: "v1", Weight: 100 - w, Addrs: []string{"127.0.0.1:2"}},
		}}
		rt := p.compile(r)
		rnd := rand.New(rand.NewPCG(uint64(w), 7))
		random, sticky := 0, 0
		const n = 100_000
		for i := range n {
			if rt.pick(rnd.Uint64()).version == "v2" {
				random++
			}
			if rt.pickBucket(bucketOf("web", fmt.Sprintf("k%d", i))).version == "v2" {
				sticky++
			}
		}
		for name, got := range map[string]int{"random": random, "sticky": sticky} {
			if share := 100 * float64(got) / n; share < float64(w)-0.5 || share > float64(w)+0.5 {
				t.Errorf("weight %d: %s share %.2f%%, want within 0.5 points", w, name, share)
			}
		}
	}
}
