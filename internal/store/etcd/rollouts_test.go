package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// TestStaleUpdateLoses pins the compare-and-swap of UpdateRollout: two
// handles (two processes) read the same rollout and both write from that
// read; exactly one wins, the other gets ErrStale and writes nothing, not
// even its event. After reading again, the loser can write.
func TestStaleUpdateLoses(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a, b := another(t, s), another(t, s)
	id := storetest.Create(t, s, storetest.Rollout("web", engine.PhaseDeploying)).ID
	ra, err := a.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, w := range []struct {
		st *Store
		r  engine.Rollout
	}{{a, ra}, {b, rb}} {
		wg.Go(func() {
			w.r.Reason = fmt.Sprintf("writer %d", i)
			ev := storetest.Event(engine.PhaseSmoke, storetest.T0)
			errs[i] = w.st.UpdateRollout(ctx, w.r, &ev)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner == -1:
			winner = i
		case err == nil:
			t.Fatal("both stale updates succeeded")
		case !errors.Is(err, store.ErrStale):
			t.Errorf("writer %d: err = %v, want ErrStale", i, err)
		}
	}
	if winner == -1 {
		t.Fatalf("no update succeeded: %v", errs)
	}
	got, err := s.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("writer %d", winner); got.Reason != want {
		t.Errorf("stored reason %q, want the winner's %q", got.Reason, want)
	}
	if evs, _ := s.ListEvents(ctx, "web", 0); len(evs) != 2 {
		t.Errorf("%d events, want the create's and the winner's", len(evs))
	}
	loser := []*Store{a, b}[1-winner]
	r, err := loser.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r.Reason = "after a fresh read"
	if err := loser.UpdateRollout(ctx, r, nil); err != nil {
		t.Errorf("update after a fresh read: %v", err)
	}
}

// TestStaleUpdateWithoutRead: a handle that never read the rollout (a
// controller that just took over) writes from what it reads at the call;
// the handle that wrote before is stale from then on.
func TestStaleUpdateWithoutRead(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r := storetest.Create(t, s, storetest.Rollout("web", engine.PhaseDeploying))
	o := another(t, s)
	r.Reason = "new leader"
	if err := o.UpdateRollout(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	r.Reason = "old leader"
	if err := s.UpdateRollout(ctx, r, nil); !errors.Is(err, store.ErrStale) {
		t.Fatalf("old handle's update: err = %v, want ErrStale", err)
	}
	if got, _ := s.Rollout(ctx, r.ID); got.Reason != "new leader" {
		t.Errorf("stored reason %q, want the new leader's", got.Reason)
	}
}

// TestUpdateKeepsActiveKey: ending a rollout frees its service, and a
// rollout cannot become active again while another of its service is.
// The refusal is etcd's own (its active key); the port promises
// ErrConflict of CreateRollout only, and SQLite does not check updates.
func TestUpdateKeepsActiveKey(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	first := storetest.Create(t, s, storetest.Rollout("web", engine.PhaseFailed))
	second := storetest.Create(t, s, storetest.Rollout("web", engine.PhaseDeploying))
	first.Phase = engine.PhaseDeploying
	if err := s.UpdateRollout(ctx, first, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("reactivating a rollout beside an active one: err = %v, want ErrConflict", err)
	}
	if got, err := s.Rollout(ctx, first.ID); err != nil || got.Phase != engine.PhaseFailed {
		t.Errorf("refused rollout = %s, %v; want it still Failed", got.Phase, err)
	}
	storetest.End(t, s, second)
	storetest.Create(t, s, storetest.Rollout("web", engine.PhaseDeploying))
}
