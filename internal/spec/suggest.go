package spec

import "strings"

// Suggest returns the known name closest to name, ignoring case, if it
// is within two edits and the edits do not make up the whole word; ""
// if none is that close. The CLI and the API use it for "did you mean".
func Suggest(name string, known []string) string { return suggest(name, known) }

// suggest is Suggest.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		d := editDistance(strings.ToLower(name), strings.ToLower(k))
		if d < bestDist && d < len(name) {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	// A known name with a word added or left off (healthcheck for health,
	// ready for readyTimeout): the longest known name that one starts with.
	for _, k := range known {
		lk, ln := strings.ToLower(k), strings.ToLower(name)
		if len(k) >= 4 && len(name) >= 4 && (strings.HasPrefix(ln, lk) || strings.HasPrefix(lk, ln)) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
