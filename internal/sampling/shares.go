// Package sampling splits a uniform sample among streams: how many of
// each stream's held samples to take so that the merged sample stays
// uniform over everything the streams saw. The proxy's latency windows and
// the synthetic load generator both merge reservoirs with it.
package sampling

import "math"

// Shares says how many values to take from each of several samples for a
// uniform random sample, of at most limit values, of the union of the
// streams they sampled: seen[i] is the length of stream i and held[i] how
// many values its sample holds. offset is a uniform random number in
// [0, 1).
//
// Every stream gives the same share k/N of its n values (N is the sum of
// the streams' lengths), so every value of the union is picked with
// probability k/N. A sample holding fewer than its stream caps k at
// held·N/n: the result is smaller rather than biased towards the streams
// sampled more densely. Shares are rounded systematically (one random
// offset for all), so each stream gives the floor or the ceiling of its
// share, the expected count exactly, and the total stays within limit.
func Shares(seen []int64, held []int, limit int, offset float64) []int {
	var total int64
	for _, n := range seen {
		total += max(n, 0)
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
		cum += k * float64(max(n, 0)) / float64(total)
		out[i] = min(int(math.Floor(cum+offset)-before), held[i], limit-taken)
		taken += out[i]
	}
	return out
}
