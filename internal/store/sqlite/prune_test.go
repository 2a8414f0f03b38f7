package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// history creates n ended rollouts of web, each with two events, then an
// active rollout of api, and returns web's ids oldest first.
func history(t *testing.T, s *Store, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for range n {
		r := rollout("web", engine.PhaseCompleted)
		if err := s.CreateRollout(ctx, &r, event(engine.PhaseDeploying, t0)); err != nil {
			t.Fatal(err)
		}
		ev := event(engine.PhaseCompleted, t0)
		if err := s.UpdateRollout(ctx, r, &ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	r := rollout("api", engine.PhaseProgressing)
	if err := s.CreateRollout(ctx, &r, event(engine.PhaseDeploying, t0)); err != nil {
		t.Fatal(err)
	}
	return ids
}

func rolloutIDs(t *testing.T, s *Store, service string) []int64 {
	t.Helper()
	rs, err := s.ListRollouts(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestPruneKeepsNewestRollouts(t *testing.T) {
	s := openTemp(t)
	ids := history(t, s, 5)
	n, evs, err := s.Prune(context.Background(), store.Retention{MaxRollouts: 2}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || evs != 6 {
		t.Errorf("Prune deleted %d rollouts and %d events, want 3 and 6", n, evs)
	}
	if got := rolloutIDs(t, s, "web"); len(got) != 2 || got[0] != ids[4] || got[1] != ids[3] {
		t.Errorf("web's rollouts after pruning = %v, want the newest two %v", got, ids[3:])
	}
	if got := rolloutIDs(t, s, "api"); len(got) != 1 {
		t.Errorf("api's active rollout was pruned: %v", got)
	}
	events, _ := s.ListEvents(context.Background(), "web", 0)
	if len(events) != 4 {
		t.Errorf("web has %d events after pruning, want the 4 of the two kept rollouts", len(events))
	}
}

func TestPruneByAgeKeepsLatestAndActive(t *testing.T) {
	s := openTemp(t)
	ids := history(t, s, 3)
	ret := store.Retention{MaxAge: time.Hour}
	if n, _, err := s.Prune(context.Background(), ret, time.Now()); err != nil || n != 0 {
		t.Fatalf("Prune of fresh history = %d, %v; want 0, nil", n, err)
	}
	n, _, err := s.Prune(context.Background(), ret, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Prune two hours on deleted %d rollouts, want 2", n)
	}
	if got := rolloutIDs(t, s, ""); len(got) != 2 || got[1] != ids[2] {
		t.Errorf("rollouts left = %v, want api's active one and web's latest %d", got, ids[2])
	}
}

func TestPruneWithoutLimitsDeletesNothing(t *testing.T) {
	s := openTemp(t)
	history(t, s, 3)
	if n, evs, err := s.Prune(context.Background(), store.Retention{}, time.Now().Add(1000*time.Hour)); err != nil || n != 0 || evs != 0 {
		t.Errorf("Prune with no limits = %d, %d, %v; want nothing deleted", n, evs, err)
	}
}
