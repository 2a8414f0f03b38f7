package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// testListEventsOldestFirstNewestN: the log lists oldest first, in the
// order written, and a limit takes the newest. Ids are the store's to
// pick, so the cases name events by their place in the whole log.
func testListEventsOldestFirstNewestN(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := context.Background()
	web := Create(t, s, Rollout("web", engine.PhaseDeploying))
	api := Create(t, s, Rollout("api", engine.PhaseDeploying))
	written := []string{"web Deploying", "api Deploying"}
	for i, p := range []engine.Phase{engine.PhaseSmoke, engine.PhasePreview, engine.PhaseWatching} {
		at := T0.Add(time.Duration(i+1) * time.Minute)
		for _, r := range []engine.Rollout{web, api} {
			ev := Event(p, at)
			if err := s.UpdateRollout(ctx, r, &ev); err != nil {
				t.Fatal(err)
			}
			written = append(written, r.Service+" "+string(p))
		}
	}
	log, err := s.ListEvents(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, ev := range log {
		got = append(got, ev.Service+" "+string(ev.Phase))
		if i > 0 && ev.ID <= log[i-1].ID {
			t.Errorf("event %d's id %d is not after %d", i, ev.ID, log[i-1].ID)
		}
	}
	if !reflect.DeepEqual(got, written) {
		t.Fatalf("the whole log = %q, want it in the order written %q", got, written)
	}
	at := func(places ...int) []int64 {
		out := []int64{}
		for _, i := range places {
			out = append(out, log[i].ID)
		}
		return out
	}
	tests := []struct {
		name    string
		service string
		limit   int
		want    []int64
	}{
		{"all of one service", "web", 0, at(0, 2, 4, 6)},
		{"newest two, oldest first", "web", 2, at(4, 6)},
		{"negative limit is none", "web", -1, at(0, 2, 4, 6)},
		{"limit above count", "api", 9, at(1, 3, 5, 7)},
		{"every service, newest three", "", 3, at(5, 6, 7)},
		{"unknown service", "nope", 0, at()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tt.service, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got, eventID); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("ids = %v, want %v", g, tt.want)
			}
			for _, ev := range got {
				if tt.service != "" && ev.Service != tt.service {
					t.Errorf("event %d of service %q", ev.ID, ev.Service)
				}
			}
		})
	}
}
