package etcd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

func TestRolloutRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r := rollout("web", engine.PhaseDeploying)
	r.Ended = t0.Add(time.Hour)
	r = create(t, s, r)
	if r.ID == 0 {
		t.Fatal("CreateRollout did not set the ID")
	}
	got, err := s.Rollout(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := utcRollout(r)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rollout(%d) =\n%+v\nwant\n%+v", r.ID, got, want)
	}
	if !got.Started.Equal(t0) || got.Started.Nanosecond() != t0.Nanosecond() {
		t.Errorf("Started = %v, want %v", got.Started, t0)
	}
	evs, err := s.ListEvents(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantEv := event(engine.PhaseDeploying, t0.UTC())
	wantEv.ID, wantEv.RolloutID, wantEv.Service = evs[0].ID, r.ID, "web"
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], wantEv) {
		t.Errorf("events = %+v, want [%+v]", evs, wantEv)
	}
}

func TestListRolloutsOrderAndLimit(t *testing.T) {
	s := openTemp(t)
	var web, api []int64
	for range 3 {
		web = append([]int64{end(t, s, create(t, s, rollout("web", engine.PhaseDeploying))).ID}, web...)
		api = append([]int64{end(t, s, create(t, s, rollout("api", engine.PhaseDeploying))).ID}, api...)
	}
	all := []int64{api[0], web[0], api[1], web[1], api[2], web[2]}
	tests := []struct {
		name    string
		service string
		limit   int
		want    []int64
	}{
		{"one service", "web", 0, web},
		{"negative limit is none", "api", -1, api},
		{"newest two", "web", 2, web[:2]},
		{"limit above count", "web", 10, web},
		{"every service", "", 0, all},
		{"every service limited", "", 3, all[:3]},
		{"unknown service", "nope", 0, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListRollouts(context.Background(), tt.service, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got, rolloutID); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("ids = %v, want %v", g, tt.want)
			}
		})
	}
}

func TestCreateConflict(t *testing.T) {
	tests := []struct {
		phase    engine.Phase
		conflict bool
	}{
		{engine.PhaseDeploying, true},
		{engine.PhaseSmoke, true},
		{engine.PhasePreview, true},
		{engine.PhasePaused, true},
		{engine.PhaseWatching, true},
		{engine.PhaseCompleted, false},
		{engine.PhaseRolledBack, false},
		{engine.PhaseFailed, false},
		{engine.PhaseAborted, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			s := openTemp(t)
			ctx := context.Background()
			create(t, s, rollout("web", tt.phase))
			create(t, s, rollout("api", engine.PhaseDeploying)) // another service's
			r := rollout("web", engine.PhaseDeploying)
			err := s.CreateRollout(ctx, &r, event(engine.PhaseDeploying, t0))
			if !tt.conflict {
				if err != nil {
					t.Fatalf("second rollout after a %s one: %v", tt.phase, err)
				}
				return
			}
			if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "web") {
				t.Fatalf("second rollout during a %s one: err = %v, want ErrConflict naming web", tt.phase, err)
			}
			if r.ID != 0 {
				t.Errorf("failed create set ID %d", r.ID)
			}
			if evs, _ := s.ListEvents(ctx, "web", 0); len(evs) != 1 {
				t.Errorf("failed create left %d events, want 1", len(evs))
			}
		})
	}
}

func TestCreateAllowedAfterEnd(t *testing.T) {
	s := openTemp(t)
	first := create(t, s, rollout("web", engine.PhaseDeploying))
	r := rollout("web", engine.PhaseDeploying)
	if err := s.CreateRollout(context.Background(), &r, event(r.Phase, t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	end(t, s, first)
	if second := create(t, s, r); second.ID <= first.ID {
		t.Errorf("second ID %d not after first %d", second.ID, first.ID)
	}
}

// TestConcurrentCreateOneWins shows that the check for an active
// rollout and the insert are one transaction: of racing creates, one
// wins. Half go through a second handle with its own client, which
// stands for another process: only etcd's compare-and-swap orders them.
func TestConcurrentCreateOneWins(t *testing.T) {
	s := openTemp(t)
	other := another(t, s)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = other
			}
			r := rollout("web", engine.PhaseDeploying)
			errs[i] = st.CreateRollout(context.Background(), &r, event(r.Phase, t0))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates succeeded, want 1", won)
	}
}

func TestUpdateRollout(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r := create(t, s, rollout("web", engine.PhaseDeploying))
	r.Phase, r.Reason, r.Weights = engine.PhasePreview, "ready", map[string]int{"v1": 90, "v2": 10}
	ev := event(engine.PhasePreview, t0.Add(time.Minute))
	ev.From = engine.PhaseDeploying
	before := ev
	if err := s.UpdateRollout(ctx, r, &ev); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev, before) {
		t.Errorf("UpdateRollout changed the caller's event: %+v", ev)
	}
	r.Reason = "no event"
	if err := s.UpdateRollout(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rollout(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, utcRollout(r)) {
		t.Errorf("Rollout = %+v, want %+v", got, r)
	}
	evs, err := s.ListEvents(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Phase != engine.PhasePreview || evs[1].From != engine.PhaseDeploying ||
		evs[1].RolloutID != r.ID || evs[1].Service != "web" {
		t.Errorf("events = %+v, want the create's and the preview's", evs)
	}
}

func TestNotFound(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if _, err := s.Rollout(ctx, 42); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rollout(42): err = %v, want ErrNotFound", err)
	}
	r := rollout("web", engine.PhaseDeploying)
	r.ID = 42
	ev := event(engine.PhaseFailed, t0)
	if err := s.UpdateRollout(ctx, r, &ev); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRollout(42): err = %v, want ErrNotFound", err)
	}
	if evs, _ := s.ListEvents(ctx, "", 0); len(evs) != 0 {
		t.Errorf("failed update left events %+v", evs)
	}
}

// TestConcurrentUpdates runs writers on several rollouts at once (under
// -race) and checks that no write was lost.
func TestConcurrentUpdates(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const writers, updates = 6, 20
	var wg sync.WaitGroup
	for w := range writers {
		r := create(t, s, rollout(string(rune('a'+w)), engine.PhaseDeploying))
		wg.Go(func() {
			for i := range updates {
				r.Exposure.Requests = int64(i + 1)
				ev := event(engine.PhasePreview, t0.Add(time.Duration(i)*time.Second))
				if err := s.UpdateRollout(ctx, r, &ev); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.ListEvents(ctx, r.Service, 3); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs, err := s.ListEvents(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * (updates + 1); len(evs) != want {
		t.Errorf("%d events, want %d", len(evs), want)
	}
	list, err := s.ListRollouts(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.Exposure.Requests != updates {
			t.Errorf("rollout %s: requests %d, want %d", r.Service, r.Exposure.Requests, updates)
		}
	}
}

// TestStaleUpdateLoses pins the compare-and-swap of UpdateRollout: two
// handles (two processes) read the same rollout and both write from that
// read; exactly one wins, the other gets ErrStale and writes nothing, not
// even its event. After reading again, the loser can write.
func TestStaleUpdateLoses(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a, b := another(t, s), another(t, s)
	id := create(t, s, rollout("web", engine.PhaseDeploying)).ID
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
			ev := event(engine.PhaseSmoke, t0)
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
	r := create(t, s, rollout("web", engine.PhaseDeploying))
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
// rollout cannot become active while another of its service is.
func TestUpdateKeepsActiveKey(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	first := create(t, s, rollout("web", engine.PhaseFailed))
	second := create(t, s, rollout("web", engine.PhaseDeploying))
	first.Phase = engine.PhaseDeploying
	if err := s.UpdateRollout(ctx, first, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("reactivating a rollout beside an active one: err = %v, want ErrConflict", err)
	}
	end(t, s, second)
	create(t, s, rollout("web", engine.PhaseDeploying))
}

// TestServicesApart: a service whose name is another's prefix, or holds
// a slash, has its own lists.
func TestServicesApart(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	create(t, s, rollout("web", engine.PhaseDeploying))
	create(t, s, rollout("web2", engine.PhaseDeploying))
	create(t, s, rollout("web/x", engine.PhaseDeploying))
	for _, svc := range []string{"web", "web2", "web/x"} {
		rs, err := s.ListRollouts(ctx, svc, 0)
		if err != nil || len(rs) != 1 || rs[0].Service != svc {
			t.Errorf("ListRollouts(%q) = %+v, %v; want its one rollout", svc, rs, err)
		}
		evs, err := s.ListEvents(ctx, svc, 0)
		if err != nil || len(evs) != 1 || evs[0].Service != svc {
			t.Errorf("ListEvents(%q) = %+v, %v; want its one event", svc, evs, err)
		}
	}
}
