package etcd

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

func TestListEventsOldestFirstNewestN(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	web := create(t, s, rollout("web", engine.PhaseDeploying))
	api := create(t, s, rollout("api", engine.PhaseDeploying))
	for i, p := range []engine.Phase{engine.PhaseSmoke, engine.PhasePreview, engine.PhaseWatching} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		for _, r := range []engine.Rollout{web, api} {
			ev := event(p, at)
			if err := s.UpdateRollout(ctx, r, &ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Events 1 and 2 are the creates; then web and api alternate.
	tests := []struct {
		name    string
		service string
		limit   int
		want    []int64
	}{
		{"all of one service", "web", 0, []int64{1, 3, 5, 7}},
		{"newest two, oldest first", "web", 2, []int64{5, 7}},
		{"limit above count", "api", 9, []int64{2, 4, 6, 8}},
		{"every service", "", 0, []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"every service, newest three", "", 3, []int64{6, 7, 8}},
		{"unknown service", "nope", 0, []int64{}},
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
