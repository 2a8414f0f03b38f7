package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// Harness is what the suite needs of an adapter.
type Harness struct {
	// Open returns a new, empty store that t's cleanup closes. Required.
	Open func(t *testing.T) store.Store
	// Another returns a second handle on s's data, with a connection of
	// its own, standing for another process; t's cleanup closes it. Nil
	// skips the tests that need two handles.
	Another func(t *testing.T, s store.Store) store.Store
}

// Run runs the suite against h, each test as a subtest of t with stores
// of its own.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storetest.Run: Harness.Open is nil")
	}
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"RolloutRoundTrip", testRolloutRoundTrip},
		{"ListRolloutsOrderAndLimit", testListRolloutsOrderAndLimit},
		{"ServicesApart", testServicesApart},
		{"CreateConflict", testCreateConflict},
		{"CreateAllowedAfterEnd", testCreateAllowedAfterEnd},
		{"ConcurrentCreateOneWins", testConcurrentCreateOneWins},
		{"UpdateRollout", testUpdateRollout},
		{"NotFound", testNotFound},
		{"NoService", testNoService},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentDeploys", testConcurrentDeploys},
		{"ListEventsOldestFirstNewestN", testListEventsOldestFirstNewestN},
		{"Routes", testRoutes},
		{"WatchRoutes", testWatchRoutes},
		{"Prune", testPrune},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// T0 has nanoseconds and a zone other than UTC, to show that times
// round-trip to the nanosecond and come back in UTC.
var T0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// Rollout returns a blue-green rollout of service in phase, with every
// field set, started at T0.
func Rollout(service string, phase engine.Phase) engine.Rollout {
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
		Started:    T0,
		PhaseSince: T0.Add(time.Second),
	}
}

// Event returns an event entering phase at at, with weights and numbers;
// the store fills in its ids and service.
func Event(phase engine.Phase, at time.Time) engine.Event {
	return engine.Event{
		Time: at, Phase: phase, Reason: "reason " + string(phase),
		Weights: map[string]int{"v1": 100}, Numbers: map[string]float64{"errorRate": 0.25},
	}
}

// Route returns service's route with weight percent on v2.
func Route(service string, weight int) router.Route {
	return router.Route{
		Service: service, Host: service + ".example", PathPrefix: "/" + service,
		Backends: []router.Backend{
			{Version: "v1", Weight: 100 - weight, Addrs: []string{"127.0.0.1:9001", "127.0.0.1:9002"}},
			{Version: "v2", Weight: weight, Addrs: []string{"127.0.0.1:9003"}},
		},
	}
}

// Create creates r with an event of its phase at T0, fails the test on
// error, and returns r with its ID.
func Create(t *testing.T, s store.Rollouts, r engine.Rollout) engine.Rollout {
	t.Helper()
	if err := s.CreateRollout(context.Background(), &r, Event(r.Phase, T0)); err != nil {
		t.Fatal(err)
	}
	return r
}

// End moves r to Completed, ended an hour after T0, without an event.
func End(t *testing.T, s store.Rollouts, r engine.Rollout) engine.Rollout {
	t.Helper()
	r.Phase = engine.PhaseCompleted
	r.Ended = T0.Add(time.Hour)
	if err := s.UpdateRollout(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// RolloutIDs returns the ids of service's rollouts ("" for every
// service), newest first, as ListRollouts lists them.
func RolloutIDs(t *testing.T, s store.Rollouts, service string) []int64 {
	t.Helper()
	rs, err := s.ListRollouts(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ids(rs, rolloutID)
}

// utc returns r with its times in UTC: the form a store gives back.
func utc(r engine.Rollout) engine.Rollout {
	r.Started = r.Started.UTC()
	r.PhaseSince = r.PhaseSince.UTC()
	r.Ended = r.Ended.UTC()
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
