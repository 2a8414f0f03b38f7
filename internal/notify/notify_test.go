package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// receiver is a webhook that records the bodies it accepted.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	fail   int // answer 500 to this many requests first
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail > 0 {
			rc.fail--
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		rc.bodies = append(rc.bodies, string(body))
	}))
	t.Cleanup(rc.Close)
	return rc
}

// await polls until the receiver has n bodies, or fails the test.
func (rc *receiver) await(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]string(nil), rc.bodies...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d notifications, want %d: %q", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var rollout = engine.Rollout{ID: 7, Service: "web", Strategy: "canary",
	From: platform.Version{Label: "v1"}, To: platform.Version{Label: "v2"},
	Exposure: metrics.Counts{Requests: 1200, Errors: 30, Users: 80, FailedUsers: 12}}

func event(from, to engine.Phase) engine.Event {
	return engine.Event{RolloutID: 7, Service: "web", From: from, Phase: to, Reason: "analysis errors failed: 30/1200 <failed>",
		Weights: map[string]int{"v1": 100}, Numbers: map[string]float64{"canary.errorRate": 0.025, "exposedRequests": 1200}}
}

func start(t *testing.T, n *Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestFilters: each target gets the events its phases, events and
// services select, and only those.
func TestFilters(t *testing.T) {
	all, outcomes, other, every := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	n := New([]spec.Notification{
		{URL: all.URL, Format: spec.FormatJSON, Events: spec.EventsTransitions},
		{URL: outcomes.URL, Format: spec.FormatJSON, Events: spec.EventsTransitions, Phases: []string{"RolledBack", "Completed"}},
		{URL: other.URL, Format: spec.FormatJSON, Events: spec.EventsTransitions, Services: []string{"api"}},
		{URL: every.URL, Format: spec.FormatJSON, Events: spec.EventsAll},
	})
	start(t, n)
	n.Notify(rollout, event("", engine.PhaseDeploying))
	n.Notify(rollout, event(engine.PhaseDeploying, engine.PhaseProgressing))
	n.Notify(rollout, event(engine.PhaseProgressing, engine.PhaseProgressing)) // a step: not a transition
	hook := event(engine.PhaseCompleted, engine.PhaseCompleted)
	hook.Hook = engine.HookPostPromotion
	n.Notify(rollout, event(engine.PhaseProgressing, engine.PhaseRolledBack))
	n.Notify(rollout, hook)
	if got := all.await(t, 4); len(got) != 4 {
		t.Errorf("transitions target got %d, want 4 (start, two transitions, a hook)", len(got))
	}
	got := outcomes.await(t, 2)
	var m Message
	if err := json.Unmarshal([]byte(got[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.Phase != engine.PhaseRolledBack || m.ToVersion != "v2" || m.Exposure.FailedUsers != 12 || m.RolloutID != 7 {
		t.Errorf("first outcome %+v, want the RolledBack event with the rollout's fields", m)
	}
	every.await(t, 5)
	// Events are sent in order per target, so once every target has the
	// last event nothing more is coming: the counts are final.
	for name, rc := range map[string]*receiver{"outcomes": outcomes, "other service": other} {
		rc.mu.Lock()
		n := len(rc.bodies)
		rc.mu.Unlock()
		if want := map[string]int{"outcomes": 2}[name]; n != want {
			t.Errorf("%s target got %d, want %d", name, n, want)
		}
	}
}

func TestSlackFormat(t *testing.T) {
	rc := newReceiver(t)
	n := New([]spec.Notification{{URL: rc.URL, Format: spec.FormatSlack, Events: spec.EventsTransitions}})
	start(t, n)
	n.Notify(rollout, event(engine.PhaseProgressing, engine.PhaseRolledBack))
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string `json:"type"`
			Text   struct{ Text string }
			Fields []struct{ Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(rc.await(t, 1)[0]), &m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "web: rollout #7 v1 → v2 RolledBack") || len(m.Blocks) < 2 {
		t.Fatalf("slack message %+v", m)
	}
	if !strings.Contains(m.Blocks[0].Text.Text, "&lt;failed&gt;") {
		t.Errorf("reason not escaped for mrkdwn: %q", m.Blocks[0].Text.Text)
	}
	var fields []string
	for _, f := range m.Blocks[1].Fields {
		fields = append(fields, f.Text)
	}
	joined := strings.Join(fields, "|")
	for _, want := range []string{"Progressing → RolledBack", "v1 100%", "1200 requests (30 failed), 80 users (12 failed)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("fields %q lack %q", joined, want)
		}
	}
}

// TestRetriesThenDrops: a failing target is retried, then the event is
// dropped and counted; a full queue drops without blocking.
func TestRetriesThenDrops(t *testing.T) {
	flaky := newReceiver(t)
	flaky.fail = 2
	n := New([]spec.Notification{{URL: flaky.URL, Format: spec.FormatJSON, Events: spec.EventsAll, Retries: 2}})
	n.RetryDelay = time.Millisecond
	start(t, n)
	n.Notify(rollout, event("", engine.PhaseDeploying))
	flaky.await(t, 1)
	if n.Dropped() != 0 {
		t.Fatalf("dropped %d after a success on the third attempt", n.Dropped())
	}

	down := newReceiver(t)
	down.Close()
	n2 := New([]spec.Notification{{URL: down.URL, Format: spec.FormatJSON, Events: spec.EventsAll, Retries: 1}})
	n2.RetryDelay = time.Millisecond
	start(t, n2)
	n2.Notify(rollout, event("", engine.PhaseDeploying))
	deadline := time.Now().Add(5 * time.Second)
	for n2.Dropped() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d, want 1 after the retries", n2.Dropped())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Not running: the queue fills and the rest are dropped (a Notify
	// that blocked would hang here).
	n3 := New([]spec.Notification{{URL: down.URL, Format: spec.FormatJSON, Events: spec.EventsAll}})
	for range QueueSize + 10 {
		n3.Notify(rollout, event("", engine.PhaseDeploying))
	}
	if n3.Dropped() != 10 {
		t.Errorf("dropped %d, want 10", n3.Dropped())
	}
}
