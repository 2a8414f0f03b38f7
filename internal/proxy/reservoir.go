package proxy

import (
	"math"
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

// shares says how many values to take from each of several reservoirs
// for a uniform random sample, of at most limit values, of the union of
// the streams they sampled: seen[i] is how many values reservoir i was
// offered and held[i] how many it holds. offset is a uniform random number
// in [0, 1).
//
// Every stream gives the same share k/N of its n values (N is the sum of
// the streams' lengths), taken at random from its reservoir, so every
// value of the union is picked with probability k/N. A full reservoir
// holds only cap/n of its stream, so k is capped at cap·N/n for each: a
// union dominated by one busy stream gets fewer than limit values rather
// than a sample biased towards the quiet ones. Shares are rounded
// systematically (one random offset for all), so each stream gives the
// floor or the ceiling of its share, the expected count exactly, and the
// total stays within limit.
func shares(seen []int64, held []int, limit int, offset float64) []int {
	var total int64
	for _, n := range seen {
		total += n
	}
	out := make([]int, len(seen))
	if total == 0 || limit <= 0 {
		return out
	}
	k := float64(min(int64(limit), total))
	for i, n := range seen {
		if n > int64(held[i]) {
			k = min(k, float64(held[i])*float64(total)/float64(n))
		}
	}
	cum, taken := 0.0, 0
	for i, n := range seen {
		before := math.Floor(cum + offset)
		cum += k * float64(n) / float64(total)
		out[i] = min(int(math.Floor(cum+offset)-before), held[i], limit-taken)
		taken += out[i]
	}
	return out
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
