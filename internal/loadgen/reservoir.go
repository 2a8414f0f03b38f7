package loadgen

import "math/rand/v2"

// offer adds v, the seen-th value of a stream, to sample, a uniform random
// sample of at most sampleCap of the stream's values (Vitter's algorithm
// R): once the sample is full, v replaces a random value with probability
// sampleCap/seen, so each value of the stream is held with probability
// min(1, sampleCap/seen) whatever the order they came in.
func offer(sample []float64, seen int64, v float64, rng *rand.Rand) []float64 {
	if len(sample) < sampleCap {
		return append(sample, v)
	}
	if j := rng.Int64N(seen); j < int64(len(sample)) {
		sample[j] = v
	}
	return sample
}

// draw appends to dst a uniform random sample of min(limit, Σseen) values
// of the union of several streams, without replacement: stream i had
// seen[i] values, of which pools[i] is a uniform random sample of
// min(limit, seen[i]) or more (a reservoir at least limit in size).
//
// How many values each stream gives is drawn as from an urn holding
// seen[i] balls of colour i (a multivariate hypergeometric draw, one ball
// at a time), and those values are picked at random from its pool. A
// stream never gives more than min(limit, seen[i]), which its pool
// holds, so the draw is exact, unlike a proportional split of pools that
// can hold less (see Merge). It shuffles the pools in place, which
// leaves each an equally uniform sample.
func draw(dst []float64, pools [][]float64, seen []int64, limit int, rng *rand.Rand) []float64 {
	var left int64
	for _, n := range seen {
		left += n
	}
	k := min(int64(limit), left)
	if k <= 0 {
		return dst
	}
	rest := append([]int64(nil), seen...)
	take := make([]int, len(pools))
	for range k {
		r := rng.Int64N(left)
		for i, n := range rest {
			if r < n {
				take[i]++
				rest[i]--
				break
			}
			r -= n
		}
		left--
	}
	for i, n := range take {
		dst = appendRandom(dst, pools[i], min(n, len(pools[i])), rng)
	}
	return dst
}

// appendRandom appends n values of vals picked uniformly at random without
// replacement: a partial Fisher-Yates shuffle of vals, in place.
func appendRandom(dst, vals []float64, n int, rng *rand.Rand) []float64 {
	for i := range n {
		j := i + rng.IntN(len(vals)-i)
		vals[i], vals[j] = vals[j], vals[i]
		dst = append(dst, vals[i])
	}
	return dst
}
