package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// ended stores r, a rollout that has ended, as one created active and
// ended by its last update, with events (at least 2) events in all, and
// returns its id.
func ended(t *testing.T, s *Store, r engine.Rollout, events int) int64 {
	t.Helper()
	ctx := context.Background()
	final := r
	r.Phase, r.Ended = engine.PhaseProgressing, time.Time{}
	if err := s.CreateRollout(ctx, &r, storetest.Event(engine.PhaseDeploying, storetest.T0)); err != nil {
		t.Fatal(err)
	}
	final.ID = r.ID
	for i := 1; i < events; i++ {
		if i == events-1 {
			r = final
		}
		ev := storetest.Event(r.Phase, storetest.T0)
		if err := s.UpdateRollout(ctx, r, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return r.ID
}

// completedAt is a completed rollout of web that ended at at.
func completedAt(at time.Time) engine.Rollout {
	r := storetest.Rollout("web", engine.PhaseCompleted)
	r.PhaseSince, r.Ended = at, at
	return r
}

func eventCount(t *testing.T, s *Store, service string) int {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestPruneAgeCountsFromEnded pins etcd's reading of a rollout's age:
// from its Ended time, else from when its last phase began (PhaseSince),
// whenever the rollout was written. (SQLite reads the last write
// instead; the conformance suite tests only where the two agree.) Every
// rollout here is written now, long after the times it carries.
func TestPruneAgeCountsFromEnded(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	t0 := storetest.T0
	// Its phase began long before it ended: only Ended says it is young.
	byEnded := completedAt(t0)
	byEnded.PhaseSince = t0.Add(-10 * time.Hour)
	// No Ended: its age counts from PhaseSince.
	bySince := storetest.Rollout("web", engine.PhaseFailed)
	bySince.PhaseSince = t0
	ids := []int64{ended(t, s, byEnded, 2), ended(t, s, bySince, 2), ended(t, s, completedAt(t0), 2)}
	active := storetest.Create(t, s, storetest.Rollout("api", engine.PhaseProgressing)).ID

	ret := store.Retention{MaxAge: time.Hour}
	if n, _, err := s.Prune(ctx, ret, t0.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("Prune 30 minutes after they ended = %d, %v; want 0, nil", n, err)
	}
	n, evs, err := s.Prune(ctx, ret, t0.Add(2*time.Hour))
	if err != nil || n != 2 || evs != 4 {
		t.Fatalf("Prune two hours after they ended = %d, %d, %v; want 2 rollouts and their 4 events", n, evs, err)
	}
	if got := storetest.RolloutIDs(t, s, ""); len(got) != 2 || got[0] != active || got[1] != ids[2] {
		t.Errorf("rollouts left = %v, want api's active %d and web's latest %d", got, active, ids[2])
	}
}

// TestPruneManyEventsAndOrphans: a rollout with more events than one
// etcd transaction may delete goes whole, and events a cut-short prune
// left without their rollout go at the next.
func TestPruneManyEventsAndOrphans(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	t0 := storetest.T0
	ids := []int64{ended(t, s, completedAt(t0), 150), ended(t, s, completedAt(t0), 150)}
	n, evs, err := s.Prune(ctx, store.Retention{MaxRollouts: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || evs != 150 {
		t.Errorf("Prune deleted %d rollouts and %d events, want 1 and 150", n, evs)
	}
	if got := eventCount(t, s, "web"); got != 150 {
		t.Errorf("web has %d events, want the kept rollout's 150", got)
	}
	if got := eventCount(t, s, ""); got != 150 {
		t.Errorf("%d events in all, want the kept rollout's 150 (both copies of each pruned one deleted)", got)
	}

	// A prune that died after deleting the rollout, before its events.
	gone := ended(t, s, completedAt(t0), 3)
	if _, err := s.cli.Delete(ctx, s.rolloutKey(gone)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Delete(ctx, s.rolloutsOf("web")+pad(gone)); err != nil {
		t.Fatal(err)
	}
	if _, evs, err := s.Prune(ctx, store.Retention{MaxRollouts: 100}, t0); err != nil || evs != 3 {
		t.Errorf("Prune of orphaned events = %d, %v; want 3", evs, err)
	}
	if got := eventCount(t, s, ""); got != 150 {
		t.Errorf("%d events in all after sweeping orphans, want 150", got)
	}
	if got := storetest.RolloutIDs(t, s, "web"); len(got) != 1 || got[0] != ids[1] {
		t.Errorf("web's rollouts = %v, want %d", got, ids[1])
	}
}
