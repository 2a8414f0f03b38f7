package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestFollowerLogReadsSlog: the lines the follower writes (slog's text
// handler, as `bluejay proxy` logs) are the lines followerLog reads,
// weights quoted or not.
func TestFollowerLogReadsSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	one := router.Route{Service: "s00001", Backends: []router.Backend{{Version: "v2", Weight: 100}}}
	two := router.Route{Service: "s00002", Backends: []router.Backend{{Version: "v1", Weight: 0}, {Version: "v2", Weight: 100}}}
	for _, r := range []router.Route{one, two} {
		log.Info("route applied from the store", "service", r.Service, "weights", r.Weights())
	}
	path := filepath.Join(t.TempDir(), "follower0.log")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := followerLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got["s00001"]) != 1 || got["s00001"][0].weights != weightsText(one) ||
		len(got["s00002"]) != 1 || got["s00002"][0].weights != weightsText(two) {
		t.Fatalf("read %+v from:\n%s", got, buf.String())
	}
}

// TestPropagation: a change's delay is until the last follower applied
// it or a later change of its service; one a follower never applied is
// missing; one applied before the bench saw it counts 0.
func TestPropagation(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	changes := []change{
		{"a", "map[v1:0 v2:100]", ms(0)},
		{"b", "map[v2:100]", ms(0)},
		{"b", "map[v1:100 v2:0]", ms(100)},
		{"c", "map[v2:100]", ms(0)},
		{"d", "map[v2:100]", ms(0)},
	}
	logs := []map[string][]applied{
		{"a": {{"map[v1:0 v2:100]", ms(10)}}, "b": {{"map[v1:100 v2:0]", ms(130)}}, "c": {{"map[v2:100]", ms(-5)}},
			"d": {{"map[v2:100]", ms(1)}}},
		{"a": {{"map[v1:0 v2:100]", ms(40)}}, "b": {{"map[v2:100]", ms(20)}, {"map[v1:100 v2:0]", ms(105)}},
			"c": {{"map[v2:100]", ms(-2)}}},
	}
	delays, missing := propagation(changes, logs, ms(-100))
	// a: 40 (the later follower); b's first: 130 (one follower skipped
	// it for the second); b's second: 30; c: 0 (before the bench saw it);
	// d: missing on the second follower.
	want := []time.Duration{0, 30 * time.Millisecond, 40 * time.Millisecond, 130 * time.Millisecond}
	if missing != 1 || len(delays) != len(want) {
		t.Fatalf("delays %v, missing %d; want %v, 1 missing", delays, missing, want)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v", delays, want)
		}
	}
}

// TestPropagationBenchLagging: a follower that applied a change long
// before the bench's own watch saw it (the bench lagging on a loaded
// machine) counts 0, and is not matched to a later line of the same
// weights (which counted the time until the weights came round again).
func TestPropagationBenchLagging(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	a, b := "map[v1:0 v2:100]", "map[v1:100 v2:0]"
	changes := []change{{"e", a, ms(500)}, {"e", b, ms(10_000)}, {"e", a, ms(20_000)}}
	logs := []map[string][]applied{{"e": {{b, ms(-1000)}, {a, ms(5)}, {b, ms(10_002)}, {a, ms(20_003)}}}}
	delays, missing := propagation(changes, logs, ms(-100))
	want := []time.Duration{0, 2 * time.Millisecond, 3 * time.Millisecond}
	if missing != 0 || !slices.Equal(delays, want) {
		t.Fatalf("delays %v, missing %d; want %v, none missing", delays, missing, want)
	}
}
