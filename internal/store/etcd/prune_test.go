package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// history creates n ended rollouts of web (ended at t0), each with
// perRollout events, then an active rollout of api, and returns web's ids
// oldest first.
func history(t *testing.T, s *Store, n, perRollout int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		ids = append(ids, ended(t, s, perRollout))
	}
	r := rollout("api", engine.PhaseProgressing)
	if err := s.CreateRollout(context.Background(), &r, event(engine.PhaseDeploying, t0)); err != nil {
		t.Fatal(err)
	}
	return ids
}

// ended creates a rollout of web that completed at t0 with perRollout
// events, and returns its id.
func ended(t *testing.T, s *Store, perRollout int) int64 {
	t.Helper()
	ctx := context.Background()
	r := rollout("web", engine.PhaseProgressing)
	if err := s.CreateRollout(ctx, &r, event(engine.PhaseDeploying, t0)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < perRollout; i++ {
		if i == perRollout-1 {
			r.Phase, r.Ended = engine.PhaseCompleted, t0
		}
		ev := event(r.Phase, t0)
		if err := s.UpdateRollout(ctx, r, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return r.ID
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

func eventCount(t *testing.T, s *Store, service string) int {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestPruneKeepsNewestRollouts: beyond maxRollouts, ended rollouts go
// with their events (both copies of each key); the newest and the
// active stay.
func TestPruneKeepsNewestRollouts(t *testing.T) {
	s := openTemp(t)
	ids := history(t, s, 5, 2)
	n, evs, err := s.Prune(context.Background(), store.Retention{MaxRollouts: 2}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || evs != 6 {
		t.Errorf("Prune deleted %d rollouts and %d events, want 3 and 6", n, evs)
	}
	if got := rolloutIDs(t, s, "web"); len(got) != 2 || got[0] != ids[4] || got[1] != ids[3] {
		t.Errorf("web's rollouts after pruning = %v, want the newest two %v", got, ids[3:])
	}
	if got := rolloutIDs(t, s, ""); len(got) != 3 {
		t.Errorf("all rollouts after pruning = %v, want web's two and api's active one", got)
	}
	if got := eventCount(t, s, "web"); got != 4 {
		t.Errorf("web has %d events after pruning, want the 4 of the two kept rollouts", got)
	}
	if got := eventCount(t, s, ""); got != 5 {
		t.Errorf("%d events in all after pruning, want 5", got)
	}
	if _, err := s.Rollout(context.Background(), ids[0]); err == nil {
		t.Errorf("rollout %d still readable by id", ids[0])
	}
}

// TestPruneByAgeKeepsLatestAndActive: rollouts that ended longer than
// maxAge ago go, except a service's latest and the active ones.
func TestPruneByAgeKeepsLatestAndActive(t *testing.T) {
	s := openTemp(t)
	ids := history(t, s, 3, 2)
	ret := store.Retention{MaxAge: time.Hour}
	if n, _, err := s.Prune(context.Background(), ret, t0.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("Prune 30 minutes after they ended = %d, %v; want 0, nil", n, err)
	}
	n, _, err := s.Prune(context.Background(), ret, t0.Add(2*time.Hour))
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

// TestPruneWithoutLimitsDeletesNothing: no limits, no deletes.
func TestPruneWithoutLimitsDeletesNothing(t *testing.T) {
	s := openTemp(t)
	history(t, s, 3, 2)
	if n, evs, err := s.Prune(context.Background(), store.Retention{}, t0.Add(1000*time.Hour)); err != nil || n != 0 || evs != 0 {
		t.Errorf("Prune with no limits = %d, %d, %v; want nothing deleted", n, evs, err)
	}
}

// TestPruneManyEventsAndOrphans: a rollout with more events than one
// etcd transaction may delete goes whole, and events a cut-short prune
// left without their rollout go at the next.
func TestPruneManyEventsAndOrphans(t *testing.T) {
	s := openTemp(t)
	ids := history(t, s, 2, 150)
	n, evs, err := s.Prune(context.Background(), store.Retention{MaxRollouts: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || evs != 150 {
		t.Errorf("Prune deleted %d rollouts and %d events, want 1 and 150", n, evs)
	}
	if got := eventCount(t, s, "web"); got != 150 {
		t.Errorf("web has %d events, want the kept rollout's 150", got)
	}

	// A prune that died after deleting the rollout, before its events.
	gone := ended(t, s, 3)
	if _, err := s.cli.Delete(context.Background(), s.rolloutKey(gone)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Delete(context.Background(), s.rolloutsOf("web")+pad(gone)); err != nil {
		t.Fatal(err)
	}
	if _, evs, err := s.Prune(context.Background(), store.Retention{MaxRollouts: 100}, t0); err != nil || evs != 3 {
		t.Errorf("Prune of orphaned events = %d, %v; want 3", evs, err)
	}
	if got := rolloutIDs(t, s, "web"); len(got) != 1 || got[0] != ids[1] {
		t.Errorf("web's rollouts = %v, want %d", got, ids[1])
	}
}
