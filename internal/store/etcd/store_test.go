package etcd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

func TestMain(m *testing.M) { os.Exit(etcdtest.Main(m)) }

// openTemp opens a store under a prefix of its own on the shared etcd.
func openTemp(t *testing.T) *Store {
	t.Helper()
	e := etcdtest.New(t)
	s, err := Open(context.Background(), e.Endpoints(), e.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// another opens a second handle on s's keys: another process, as far as
// the store can tell.
func another(t *testing.T, s *Store) *Store {
	t.Helper()
	o, err := Open(context.Background(), s.cli.Endpoints(), s.prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// t0 has nanoseconds and a zone other than UTC, to show that times
// round-trip to the nanosecond.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func rollout(service string, phase engine.Phase) engine.Rollout {
	return engine.Rollout{
		Service:  service,
		Strategy: "blue-green",
		From:     platform.Version{Service: service, Label: "v1"},
		To:       platform.Version{Service: service, Label: "v2", Args: []string{"--fail"}},
		Params: engine.Params{
			Replicas: 2, ReadyTimeout: 2 * time.Minute, Watch: 30 * time.Second,
			MaxErrorRate: 0.05, MinRequests: 20, AutoPromote: true,
		},
		Phase:      phase,
		Reason:     "because",
		Weights:    map[string]int{"v1": 100, "v2": 0},
		Exposure:   metrics.Counts{Requests: 7, Errors: 1},
		Started:    t0,
		PhaseSince: t0.Add(time.Second),
	}
}

func event(phase engine.Phase, at time.Time) engine.Event {
	return engine.Event{
		Time: at, Phase: phase, Reason: "reason " + string(phase),
		Weights: map[string]int{"v1": 100}, Numbers: map[string]float64{"errorRate": 0.25},
	}
}

// create creates a rollout and fails the test on error.
func create(t *testing.T, s *Store, r engine.Rollout) engine.Rollout {
	t.Helper()
	if err := s.CreateRollout(context.Background(), &r, event(r.Phase, t0)); err != nil {
		t.Fatal(err)
	}
	return r
}

// end moves a rollout to a terminal phase.
func end(t *testing.T, s *Store, r engine.Rollout) engine.Rollout {
	t.Helper()
	r.Phase = engine.PhaseCompleted
	r.Ended = t0.Add(time.Hour)
	if err := s.UpdateRollout(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func ids[T any](list []T, id func(T) int64) []int64 {
	out := []int64{}
	for _, v := range list {
		out = append(out, id(v))
	}
	return out
}

func rolloutID(r engine.Rollout) int64 { return r.ID }
func eventID(e engine.Event) int64     { return e.ID }
