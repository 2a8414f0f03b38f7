package throttle_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/throttle"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestThrottleRefusesAfterTheBurstAndRefills(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	var log bytes.Buffer
	th := &throttle.Throttle{Burst: 3, Every: 2 * time.Second, Now: c.now, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	for i := range 3 {
		if _, ok := th.Check("10.0.0.1"); !ok {
			t.Fatalf("try %d refused within the burst", i+1)
		}
		th.Fail("10.0.0.1")
	}
	wait, ok := th.Check("10.0.0.1")
	if ok || wait != 2*time.Second {
		t.Fatalf("after the burst: ok %v wait %v, want refused for 2s", ok, wait)
	}
	if _, ok := th.Check("10.0.0.2"); !ok {
		t.Fatal("another client was refused")
	}
	if !strings.Contains(log.String(), "throttled") || !strings.Contains(log.String(), "client=10.0.0.1") {
		t.Fatalf("no log line naming the client: %q", log.String())
	}
	c.t = c.t.Add(time.Second)
	if wait, ok := th.Check("10.0.0.1"); ok || wait != time.Second {
		t.Fatalf("half-way: ok %v wait %v, want refused for 1s more", ok, wait)
	}
	c.t = c.t.Add(time.Second)
	if _, ok := th.Check("10.0.0.1"); !ok {
		t.Fatal("still refused after one interval")
	}
	th.Fail("10.0.0.1")
	if _, ok := th.Check("10.0.0.1"); ok {
		t.Fatal("a refilled failure was not spent")
	}
}

func TestGuardCountsTheHandlers401s(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	th := &throttle.Throttle{Burst: 2, Now: c.now, Logger: slog.New(slog.DiscardHandler)}
	h := th.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			http.Error(w, "no", http.StatusUnauthorized)
		}
	}))
	serve := func(auth string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", auth)
		h.ServeHTTP(rec, req)
		return rec
	}
	for range 2 {
		if got := serve("Bearer wrong").Code; got != 401 {
			t.Fatalf("wrong token within the burst: %d, want 401", got)
		}
	}
	rec := serve("Bearer right")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("right token after the burst: %d Retry-After %q, want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	c.t = c.t.Add(time.Second)
	if got := serve("Bearer right").Code; got != 200 {
		t.Fatalf("right token a second later: %d, want 200", got)
	}
}
