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

// TestBatchedUpdatesFailAlone: in one batch, a stale update, one of a
// rollout that does not exist and one that would make a second rollout
// active fail with update's errors and write nothing; the others are
// written, their events numbered one after the other.
func TestBatchedUpdatesFailAlone(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	stale := storetest.Create(t, s, storetest.Rollout("stale", engine.PhaseDeploying))
	a := storetest.Create(t, s, storetest.Rollout("a", engine.PhaseDeploying))
	b := storetest.Create(t, s, storetest.Rollout("b", engine.PhaseDeploying))
	ended := storetest.Create(t, s, storetest.Rollout("c", engine.PhaseCompleted))
	storetest.Create(t, s, storetest.Rollout("c", engine.PhaseDeploying)) // c's active one
	o := another(t, s)
	fresh := stale
	fresh.Reason = "another writer"
	if err := o.UpdateRollout(ctx, fresh, nil); err != nil {
		t.Fatal(err)
	}
	missing := a
	missing.ID, missing.Service = 999, "missing"
	revived := ended
	revived.Phase = engine.PhaseProgressing
	ev := storetest.Event(engine.PhaseProgressing, storetest.T0)
	req := func(r engine.Rollout, reason string) *updateReq {
		r.Reason = reason
		return &updateReq{ctx: ctx, r: r, ev: &ev, done: make(chan struct{})}
	}
	reqs := []*updateReq{req(stale, "stale"), req(a, "a"), req(missing, "missing"), req(revived, "revived"), req(b, "b")}
	before, _ := s.ListEvents(ctx, "", 0)
	if err := s.updateTogether(ctx, reqs); err != nil {
		t.Fatalf("updateTogether: %v", err)
	}
	for i, want := range []error{store.ErrStale, nil, store.ErrNotFound, store.ErrConflict, nil} {
		<-reqs[i].done
		if err := reqs[i].err; !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("update %d: %v, want %v", i, err, want)
		}
	}
	for _, r := range []engine.Rollout{a, b} {
		if got, err := s.Rollout(ctx, r.ID); err != nil || got.Reason != r.Service {
			t.Errorf("rollout %d: reason %q (%v), want %q", r.ID, got.Reason, err, r.Service)
		}
	}
	if got, _ := s.Rollout(ctx, stale.ID); got.Reason != "another writer" {
		t.Errorf("stale rollout overwritten: %q", got.Reason)
	}
	after, _ := s.ListEvents(ctx, "", 0)
	added := after[len(before):]
	if len(added) != 2 || added[0].ID != before[len(before)-1].ID+1 || added[1].ID != added[0].ID+1 ||
		added[0].RolloutID != a.ID || added[1].RolloutID != b.ID {
		t.Fatalf("events added: %+v, want a's and b's, numbered on from %d", added, before[len(before)-1].ID)
	}
}

// TestConcurrentUpdatesAllLand: 50 writers updating their rollouts with
// events at once all succeed (they failed after maxAttempts before
// updates were batched), and every event has a number of its own.
func TestConcurrentUpdatesAllLand(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const writers, each = 50, 5
	var wg sync.WaitGroup
	for i := range writers {
		r := storetest.Create(t, s, storetest.Rollout(fmt.Sprintf("s%02d", i), engine.PhaseDeploying))
		wg.Go(func() {
			for j := range each {
				r.Reason = fmt.Sprintf("update %d", j)
				ev := storetest.Event(engine.PhaseDeploying, storetest.T0)
				if err := s.UpdateRollout(ctx, r, &ev); err != nil {
					t.Errorf("%s: %v", r.Service, err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs, err := s.ListEvents(ctx, "", 0)
	if err != nil || len(evs) != writers*(each+1) {
		t.Fatalf("%d events (%v), want %d", len(evs), err, writers*(each+1))
	}
	ids := map[int64]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Fatalf("event number %d twice", e.ID)
		}
		ids[e.ID] = true
	}
}

// TestBatchedCreates: creates share a batch with updates. A create of a
// service with an active rollout fails with create's error and takes no
// id; the others take the next rollout ids in queue order, and every
// event the next event ids.
func TestBatchedCreates(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	busy := storetest.Create(t, s, storetest.Rollout("busy", engine.PhaseDeploying))
	a := storetest.Create(t, s, storetest.Rollout("a", engine.PhaseDeploying))
	before, _ := s.ListEvents(ctx, "", 0)
	ev := storetest.Event(engine.PhaseDeploying, storetest.T0)
	create := func(service string) *updateReq {
		return &updateReq{ctx: ctx, create: true, r: storetest.Rollout(service, engine.PhaseDeploying), ev: &ev, done: make(chan struct{})}
	}
	up := &updateReq{ctx: ctx, r: a, ev: &ev, done: make(chan struct{})}
	reqs := []*updateReq{create("x"), create("busy"), up, create("y")}
	if err := s.updateTogether(ctx, reqs); err != nil {
		t.Fatalf("updateTogether: %v", err)
	}
	for i, want := range []error{nil, store.ErrConflict, nil, nil} {
		<-reqs[i].done
		if err := reqs[i].err; !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("write %d: %v, want %v", i, err, want)
		}
	}
	if x, y := reqs[0].id, reqs[3].id; x != a.ID+1 || y != a.ID+2 {
		t.Errorf("created ids %d, %d; want %d, %d", x, y, a.ID+1, a.ID+2)
	}
	for _, u := range []*updateReq{reqs[0], reqs[3]} {
		if got, err := s.Rollout(ctx, u.id); err != nil || got.Service != u.r.Service {
			t.Errorf("rollout %d: %q (%v), want %q", u.id, got.Service, err, u.r.Service)
		}
	}
	if ids := storetest.RolloutIDs(t, s, "busy"); len(ids) != 1 || ids[0] != busy.ID {
		t.Errorf("rollouts of busy: %v, want only %d", ids, busy.ID)
	}
	after, _ := s.ListEvents(ctx, "", 0)
	added := after[len(before):]
	want := []int64{reqs[0].id, a.ID, reqs[3].id}
	for i, e := range added {
		if i >= len(want) || e.ID != before[len(before)-1].ID+int64(i+1) || e.RolloutID != want[i] {
			t.Fatalf("events added: %+v, want of rollouts %v numbered on from %d", added, want, before[len(before)-1].ID)
		}
	}
	if len(added) != len(want) {
		t.Fatalf("%d events added, want %d", len(added), len(want))
	}
}
