package loadgen

import "time"

// schedule paces sends at rate per second: by elapsed time t since the
// start, floor(t·rate)+1 sends are due, the first at once.
type schedule struct {
	rate     float64
	interval time.Duration // of the ticker that wakes the loop
	lag      int64         // the most sends the loop catches up on
}

func newSchedule(rate float64) schedule {
	return schedule{
		rate:     rate,
		interval: max(time.Duration(float64(time.Second)/rate), tickMin),
		lag:      max(1, int64(rate*maxLag.Seconds())),
	}
}

// next returns the sends [from, to) to make at elapsed, n having been
// made: from is n, or later when the loop fell more than lag behind (the
// sends in between are skipped, not made in a burst).
func (s schedule) next(n int64, elapsed time.Duration) (from, to int64) {
	due := int64(elapsed.Seconds()*s.rate) + 1
	return max(n, due-s.lag), due
}
