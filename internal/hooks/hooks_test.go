package hooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var payload = Payload{Hook: "prePromotion", Service: "web", RolloutID: 7, Strategy: "canary", From: "v1", To: "v2",
	Phase: "Progressing", Reason: "step 6/6"}

func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		command  []string
		timeout  time.Duration
		retries  int
		passed   bool
		attempts int
		reason   string
	}{
		{name: "exit 0 passes, env and stdin carry the rollout",
			command: []string{"sh", "-c", `read -r body; case "$body" in *'"to":"v2"'*) ;; *) exit 3;; esac; echo "$BLUEJAY_HOOK $BLUEJAY_SERVICE $BLUEJAY_ROLLOUT_ID $BLUEJAY_FROM>$BLUEJAY_TO"`},
			passed:  true, attempts: 1, reason: "exited 0: prePromotion web 7 v1>v2"},
		{name: "exit 1 fails with the output's tail, after its retries",
			command: []string{"sh", "-c", "echo checking; echo no quorum >&2; exit 1"}, retries: 2,
			attempts: 3, reason: "exited 1: checking no quorum (attempt 3/3)"},
		{name: "a long output keeps its end",
			command:  []string{"sh", "-c", "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; exit 2"},
			attempts: 1, reason: "line 499"},
		{name: "a hanging command times out",
			command: []string{"sleep", "10"}, timeout: 200 * time.Millisecond, attempts: 1, reason: "timed out after 200ms"},
		{name: "a missing program fails",
			command: []string{"./no-such-hook"}, attempts: 1, reason: "no-such-hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := spec.Hook{Command: tt.command, Timeout: spec.Duration(cmpOr(tt.timeout, 5*time.Second)), Retries: tt.retries,
				RetryDelay: spec.Duration(10 * time.Millisecond)}
			res := (&Runner{Dir: t.TempDir()}).Run(context.Background(), h, payload)
			if res.Passed != tt.passed || res.Attempts != tt.attempts || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("got passed=%v attempts=%d %q, want passed=%v attempts=%d, reason with %q",
					res.Passed, res.Attempts, res.Reason, tt.passed, tt.attempts, tt.reason)
			}
		})
	}
}

func cmpOr(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

func TestWebhook(t *testing.T) {
	var calls atomic.Int32
	var got Payload
	release := make(chan struct{}) // ends the slow answers before the server closes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
		case r.Header.Get("Authorization") != "Bearer s3cret":
			http.Error(w, "who are you", http.StatusUnauthorized)
		case r.URL.Path == "/flaky" && n < 3:
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		case r.URL.Path == "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case r.URL.Path == "/deny":
			http.Error(w, "change freeze until Monday", http.StatusForbidden)
		default:
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &got); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	defer close(release)
	tests := []struct {
		name     string
		path     string
		auth     string
		timeout  time.Duration
		passed   bool
		attempts int
		reason   string
	}{
		{name: "2xx passes", path: "/ok", auth: "Bearer s3cret", passed: true, attempts: 1, reason: "answered 204"},
		{name: "a denial fails with its answer", path: "/deny", auth: "Bearer s3cret", attempts: 3,
			reason: "answered 403 Forbidden: change freeze until Monday (attempt 3/3)"},
		{name: "headers are sent", path: "/ok", auth: "Bearer wrong", attempts: 3, reason: "401"},
		{name: "retries until it passes", path: "/flaky", auth: "Bearer s3cret", passed: true, attempts: 3, reason: "204"},
		{name: "a slow answer times out", path: "/slow", auth: "Bearer s3cret", timeout: 100 * time.Millisecond, attempts: 3,
			reason: "timed out after 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			h := spec.Hook{Webhook: srv.URL + tt.path + "?token=secret", Headers: map[string]string{"Authorization": tt.auth},
				Timeout: spec.Duration(cmpOr(tt.timeout, 5*time.Second)), Retries: 2, RetryDelay: spec.Duration(10 * time.Millisecond)}
			res := (&Runner{Client: srv.Client()}).Run(context.Background(), h, payload)
			if res.Passed != tt.passed || res.Attempts != tt.attempts || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("got passed=%v attempts=%d %q, want passed=%v attempts=%d, reason with %q",
					res.Passed, res.Attempts, res.Reason, tt.passed, tt.attempts, tt.reason)
			}
			if strings.Contains(res.Reason, "secret") {
				t.Errorf("reason %q leaks the URL's query", res.Reason)
			}
		})
	}
	if got.To != "v2" || got.RolloutID != 7 || got.Hook != "prePromotion" {
		t.Errorf("payload received %+v", got)
	}
}

// TestRunStopsWithContext: a canceled context ends the retries at once.
func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := spec.Hook{Command: []string{"false"}, Timeout: spec.Duration(time.Second), Retries: 5, RetryDelay: spec.Duration(time.Hour)}
	if res := (&Runner{}).Run(ctx, h, payload); res.Passed || res.Attempts != 1 {
		t.Fatalf("got %+v, want one failed attempt", res)
	}
}
