package proxy

import (
	"math/rand/v2"
)

// reservoir is a uniform random sample of at most size values of a
// stream: Vitter's algorithm R. After n values, each of them is in the
// sample with probability min(1, size/n), whatever the order they came
// in. Its memory grows with the values it holds.
type reservoir struct {
	seen int64     // values offered since the last reset
	vals []float64 // never longer than size
	size int
}

func newReservoir(size int) reservoir {
	return reservoir{size: size}
}

// full reports whether the next add has to draw a random number.
func (r *reservoir) full() bool { return len(r.vals) >= r.size }

// add offers v to the sample. Once the reservoir is full, the n-th value
// replaces a random one with probability size/n; rng may be nil until
// then.
func (r *reservoir) add(v float64, rng *rand.Rand) {
	r.seen++
	if len(r.vals) < r.size {
		r.vals = append(r.vals, v)
		return
	}
	if j := rng.Int64N(r.seen); j < int64(len(r.vals)) {
		r.vals[j] = v
	}
}

func (r *reservoir) reset() {
	r.seen = 0
	r.vals = r.vals[:0]
}

// appendRandom appends n values of vals picked uniformly at random without
// replacement: a partial Fisher-Yates shuffle of vals. Shuffling a
// reservoir in place leaves it an equally uniform sample.
func appendRandom(dst, vals []float64, n int, rng *rand.Rand) []float64 {
	for i := range n {
		j := i + rng.IntN(len(vals)-i)
		vals[i], vals[j] = vals[j], vals[i]
		dst = append(dst, vals[i])
	}
	return dst
}
