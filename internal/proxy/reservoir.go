package proxy

import (
	"math/rand/v2"
)

// reservoir is a uniform random sample of at most cap(vals) values of a
// stream: Vitter's algorithm R. After n values, each of them is in the
// sample with probability min(1, cap/n), whatever the order they came in.
type reservoir struct {
	seen int64     // values offered since the last reset
	vals []float64 // never grows past its capacity
}

func newReservoir(size int) reservoir {
	return reservoir{vals: make([]float64, 0, size)}
}

// add offers v to the sample. Once the reservoir is full, the n-th value
// replaces a random one with probability cap/n.
func (r *reservoir) add(v float64, rng *rand.Rand) {
	r.seen++
	if len(r.vals) < cap(r.vals) {
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
