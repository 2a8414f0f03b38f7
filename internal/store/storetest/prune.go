package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// pruneHistory is how many ended rollouts of web the prune tests start
// from, each with two events.
const pruneHistory = 4

// testPrune: a Pruner deletes the ended rollouts beyond a service's
// newest MaxRollouts or older than MaxAge, with their events, and never a
// service's latest nor an active one.
func testPrune(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		ret   store.Retention
		after time.Duration // now is the wall clock after the writes, plus after
		kept  []int         // web's rollouts that stay, by place, newest first
	}{
		{"no limits", store.Retention{}, 1000 * time.Hour, []int{3, 2, 1, 0}},
		{"newest two", store.Retention{MaxRollouts: 2}, 0, []int{3, 2}},
		{"newest one", store.Retention{MaxRollouts: 1}, 0, []int{3}},
		{"count above history", store.Retention{MaxRollouts: 10}, 0, []int{3, 2, 1, 0}},
		{"young", store.Retention{MaxAge: time.Hour}, 0, []int{3, 2, 1, 0}},
		{"old, the latest stays", store.Retention{MaxAge: time.Hour}, 2 * time.Hour, []int{3}},
		{"count or age: count", store.Retention{MaxAge: time.Hour, MaxRollouts: 3}, 0, []int{3, 2, 1}},
		{"count or age: age", store.Retention{MaxAge: time.Hour, MaxRollouts: 3}, 2 * time.Hour, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.Open(t)
			p, ok := s.(store.Pruner)
			if !ok {
				t.Skipf("%T is not a store.Pruner", s)
			}
			ctx := context.Background()
			web, api := pruneFixture(t, s)
			now := time.Now().Add(tt.after)
			var kept []int64
			for _, i := range tt.kept {
				kept = append(kept, web[i])
			}
			gone := pruneHistory - len(kept)

			n, evs, err := p.Prune(ctx, tt.ret, now)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(gone) || evs != int64(2*gone) {
				t.Errorf("Prune deleted %d rollouts and %d events, want %d and %d", n, evs, gone, 2*gone)
			}
			if got := RolloutIDs(t, s, "web"); !reflect.DeepEqual(got, kept) {
				t.Errorf("web's rollouts after pruning = %v, want %v", got, kept)
			}
			if got := RolloutIDs(t, s, "api"); len(got) != 1 || got[0] != api {
				t.Errorf("api's rollouts after pruning = %v, want its active one %d", got, api)
			}
			for _, id := range web {
				_, err := s.Rollout(ctx, id)
				switch {
				case slices.Contains(kept, id) && err != nil:
					t.Errorf("kept rollout %d: %v", id, err)
				case !slices.Contains(kept, id) && !errors.Is(err, store.ErrNotFound):
					t.Errorf("pruned rollout %d: err = %v, want ErrNotFound", id, err)
				}
			}
			checkEventsOf(t, s, "web", kept, 2)
			checkEventsOf(t, s, "api", []int64{api}, 1)

			if n, evs, err := p.Prune(ctx, tt.ret, now); err != nil || n != 0 || evs != 0 {
				t.Errorf("a second Prune = %d, %d, %v; want nothing more deleted", n, evs, err)
			}
		})
	}
}

// pruneFixture writes pruneHistory rollouts of web, each created and
// then completed, with an event each time, then an active rollout of
// api; it returns web's ids, oldest first, and api's.
//
// Each rollout ends at the wall-clock time of its last write: SQLite
// counts a rollout's age from its last write and etcd from Ended, and
// here the two agree.
func pruneFixture(t *testing.T, s store.Store) (web []int64, api int64) {
	t.Helper()
	ctx := context.Background()
	for range pruneHistory {
		r := Rollout("web", engine.PhaseProgressing)
		if err := s.CreateRollout(ctx, &r, Event(engine.PhaseDeploying, T0)); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		r.Phase, r.PhaseSince, r.Ended = engine.PhaseCompleted, now, now
		ev := Event(engine.PhaseCompleted, now)
		if err := s.UpdateRollout(ctx, r, &ev); err != nil {
			t.Fatal(err)
		}
		web = append(web, r.ID)
	}
	return web, Create(t, s, Rollout("api", engine.PhaseProgressing)).ID
}

// checkEventsOf checks that service's events are perRollout for each of
// rollouts, and none of another rollout.
func checkEventsOf(t *testing.T, s store.Events, service string, rollouts []int64, perRollout int) {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int64]int{}
	for _, ev := range evs {
		count[ev.RolloutID]++
	}
	want := map[int64]int{}
	for _, id := range rollouts {
		want[id] = perRollout
	}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("%s's events by rollout = %v, want %v", service, count, want)
	}
}
