package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// TestPruneAgeCountsFromLastWrite pins SQLite's reading of a rollout's
// age: from when its row was last written, whatever its own times say.
// (etcd reads Ended instead; the conformance suite tests only where the
// two agree.)
func TestPruneAgeCountsFromLastWrite(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	longAgo := time.Now().Add(-1000 * time.Hour)
	var web []int64
	for range 3 {
		r := storetest.Rollout("web", engine.PhaseCompleted)
		r.PhaseSince, r.Ended = longAgo, longAgo
		web = append(web, storetest.Create(t, s, r).ID)
	}
	ret := store.Retention{MaxAge: time.Hour}
	if n, evs, err := s.Prune(ctx, ret, time.Now()); err != nil || n != 0 || evs != 0 {
		t.Fatalf("Prune of rollouts that ended long ago but were written just now = %d, %d, %v; want nothing deleted", n, evs, err)
	}
	if n, evs, err := s.Prune(ctx, ret, time.Now().Add(2*time.Hour)); err != nil || n != 2 || evs != 2 {
		t.Fatalf("Prune two hours after the writes = %d, %d, %v; want 2 rollouts and their 2 events", n, evs, err)
	}
	if got := storetest.RolloutIDs(t, s, "web"); len(got) != 1 || got[0] != web[2] {
		t.Errorf("web's rollouts = %v, want the latest %d", got, web[2])
	}
}
