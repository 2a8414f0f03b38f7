package loadgen

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		name             string
		rate             float64
		n                int64
		elapsed          time.Duration
		wantFrom, wantTo int64
	}{
		{"the first at once", 100, 0, 0, 0, 1},
		{"nothing due yet", 100, 1, 9 * time.Millisecond, 1, 1},
		{"one due", 100, 1, 10 * time.Millisecond, 1, 2},
		{"half a second's worth", 100, 1, 500 * time.Millisecond, 1, 51},
		{"a second's worth: skips to the lag", 100, 1, time.Second, 51, 101},
		{"behind by less than the lag", 100, 100, 1400 * time.Millisecond, 100, 141},
		{"behind by more: skips to the lag", 100, 1, 10 * time.Second, 951, 1001},
		{"slow rate", 0.5, 1, 1999 * time.Millisecond, 1, 1},
		{"slow rate, due", 0.5, 1, 2 * time.Second, 1, 2},
		{"slow rate lags one send at least", 0.5, 1, time.Minute, 30, 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := newSchedule(tt.rate).next(tt.n, tt.elapsed)
			if from != tt.wantFrom || to != tt.wantTo {
				t.Errorf("next(%d, %v) = [%d, %d), want [%d, %d)", tt.n, tt.elapsed, from, to, tt.wantFrom, tt.wantTo)
			}
		})
	}
}

func TestScheduleInterval(t *testing.T) {
	for rate, want := range map[float64]time.Duration{
		50: 20 * time.Millisecond, 100: 10 * time.Millisecond, 1000: tickMin, 0.5: 2 * time.Second,
	} {
		if got := newSchedule(rate).interval; got != want {
			t.Errorf("interval at %v rps = %v, want %v", rate, got, want)
		}
	}
}
