package controller_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// TestStaleWriteRereadsTheStore: on the etcd store, when another
// controller wrote the rollout (this one lost its lease unknowingly), the
// next decision this one makes is refused as stale and never acted on;
// it then carries on from the stored rollout instead of failing on every
// tick.
func TestStaleWriteRereadsTheStore(t *testing.T) {
	e := etcdtest.New(t)
	prefix := e.Prefix(t)
	open := func() *etcd.Store {
		st, err := etcd.Open(context.Background(), e.Endpoints(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	off := false
	r := newRigOn(t, open(), service(v1, func(s *spec.Service) { s.BlueGreen.AutoPromote = &off }))
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhasePaused)

	// The other controller aborts the rollout.
	other := open()
	defer other.Close()
	stored, err := other.Rollout(context.Background(), ro.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Phase, stored.Reason, stored.Weights = engine.PhaseAborted, "aborted by the other controller", map[string]int{"v1": 100, "v2": 0}
	ev := engine.Event{Time: time.Now(), From: engine.PhasePaused, Phase: engine.PhaseAborted, Reason: stored.Reason}
	if err := other.UpdateRollout(context.Background(), stored, &ev); err != nil {
		t.Fatal(err)
	}

	// This one, unaware, is asked to promote: its write is refused.
	if _, err := r.ctrl.Command(context.Background(), "web", engine.CmdPromote); !errors.Is(err, store.ErrStale) {
		t.Fatalf("promote after another controller wrote: %v, want a stale write", err)
	}
	got := r.waitPhase(ro.ID, engine.PhaseAborted)
	if got.Reason != "aborted by the other controller" {
		t.Errorf("carried on from %s (%q), want the stored abort", got.Phase, got.Reason)
	}
	deadline := time.Now().Add(10 * time.Second)
	for v, _ := r.get(); v != "v1"; v, _ = r.get() {
		if time.Now().After(deadline) {
			t.Fatalf("after the stored abort, users get %q, want v1", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs, err := other.ListEvents(context.Background(), "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.RolloutID == ro.ID && ev.Phase == engine.PhaseWatching {
			t.Errorf("the refused promote was recorded: %+v", ev)
		}
	}
}
