package haproxy_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy/haproxytest"
)

var quiet = slog.New(slog.DiscardHandler)

// backend starts a server answering name and returns its address.
func backend(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func split(w2 int, v2, v1 string) router.Route {
	return router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v2", Weight: w2, Addrs: []string{v2}}, {Version: "v1", Weight: 100 - w2, Addrs: []string{v1}}}}
}

func set(t *testing.T, rt router.Router, r router.Route) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rt.SetRoute(ctx, r); err != nil {
		t.Fatalf("SetRoute: %v", err)
	}
}

// get returns the body of a 200 answer from the daemon, "" otherwise.
func get(t *testing.T, d *haproxytest.Daemon) string {
	t.Helper()
	res, err := http.Get(d.URL() + "/")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d %q", res.StatusCode, body)
	}
	return string(body)
}

// cli sends one command to a socket and returns the answer.
func cli(t *testing.T, socket, cmd string) string {
	t.Helper()
	// While the master re-executes for a reload its sockets refuse
	// connections for a moment: retry until a deadline.
	deadline := time.Now().Add(5 * time.Second)
	c, err := net.Dial("unix", socket)
	for err != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the socket
		c, err = net.Dial("unix", socket)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, cmd+"\n")
	c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// workerPID is the pid of the worker answering the admin socket.
func workerPID(t *testing.T, d *haproxytest.Daemon) string {
	for line := range strings.Lines(cli(t, d.Router.Socket, "show info")) {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("show info has no Pid")
	return ""
}

func all(t *testing.T, d *haproxytest.Daemon, n int, want string) {
	t.Helper()
	for i := range n {
		if got := get(t, d); got != want {
			t.Fatalf("request %d answered by %s, want %s", i, got, want)
		}
	}
}

// TestWeightChangesDoNotReload: after the first change (which loads the
// service's structure), weight and instance changes go through the
// runtime API: the same worker serves them all.
func TestWeightChangesDoNotReload(t *testing.T) {
	d := haproxytest.New(t)
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2, v2b := backend(t, "v1"), backend(t, "v2"), backend(t, "v2b")
	set(t, rt, split(0, v2, v1))
	pid := workerPID(t, d)
	for i, w := range []int{10, 50, 100, 0, 100} {
		set(t, rt, split(w, v2, v1))
		if i == 2 {
			all(t, d, 10, "v2")
		}
	}
	// A new instance replaces v2's: it takes a free server slot.
	set(t, rt, router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v2", Weight: 100, Addrs: []string{v2b}}, {Version: "v1", Weight: 0, Addrs: []string{v1}}}})
	all(t, d, 10, "v2b")
	if got := workerPID(t, d); got != pid {
		t.Errorf("worker %s after weight changes, want %s: HAProxy was reloaded", got, pid)
	}
}

// TestReloadKeepsSplit: a reload nobody asked bluejay about (the user's
// own, through the master socket) starts from the files bluejay keeps:
// the split, the instances' addresses and the drained servers.
func TestReloadKeepsSplit(t *testing.T) {
	d := haproxytest.New(t)
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2, v3 := backend(t, "v1"), backend(t, "v2"), backend(t, "v3")
	set(t, rt, split(0, v2, v1))
	set(t, rt, split(100, v2, v1)) // runtime API only
	set(t, rt, router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v3", Weight: 100, Addrs: []string{v3}}, {Version: "v2", Weight: 0, Addrs: []string{v2}}}}) // v1 leaves
	state, err := os.ReadFile(d.Router.StateFile)
	if err != nil || !strings.Contains(string(state), "bj_web_") {
		t.Fatalf("state file: %v %q, want bluejay's servers", err, state)
	}
	pid := workerPID(t, d)
	cli(t, d.Router.MasterSocket, "reload")
	deadline := time.Now().Add(10 * time.Second)
	for workerPID(t, d) == pid {
		if time.Now().After(deadline) {
			t.Fatalf("no new worker within 10s:\n%s", d.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	all(t, d, 20, "v3")
	// The next change goes through the runtime API of the new worker.
	pid = workerPID(t, d)
	set(t, rt, router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v3", Weight: 0, Addrs: []string{v3}}, {Version: "v2", Weight: 100, Addrs: []string{v2}}}})
	all(t, d, 20, "v2")
	if got := workerPID(t, d); got != pid {
		t.Errorf("worker %s after a weight change, want %s", got, pid)
	}
}

// TestRestartedBluejayDoesNotReload: a new Router on the same files
// (bluejay restarted) re-applies the stored route without a reload.
func TestRestartedBluejayDoesNotReload(t *testing.T) {
	d := haproxytest.New(t)
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	set(t, rt, split(100, v2, v1))
	pid := workerPID(t, d)
	again, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	set(t, again, split(100, v2, v1))
	set(t, again, split(0, v2, v1))
	all(t, d, 10, "v1")
	if got := workerPID(t, d); got != pid {
		t.Errorf("worker %s after a restart of bluejay, want %s: HAProxy was reloaded", got, pid)
	}
}

// TestRefusedConfigChangesNothing: a rule HAProxy refuses (a regex PCRE
// cannot compile) fails SetRoute with HAProxy's message, and the file
// and the split stay as they were.
func TestRefusedConfigChangesNothing(t *testing.T) {
	d := haproxytest.New(t)
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	set(t, rt, split(0, v2, v1))
	before, _ := os.ReadFile(d.Router.Config)
	bad := split(0, v2, v1)
	bad.Rules = []router.Rule{{Header: "X-Canary", Regex: "a(b", Version: "v2"}}
	err = rt.SetRoute(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "haproxy -c") {
		t.Fatalf("SetRoute with a bad regex: %v, want haproxy -c's refusal", err)
	}
	t.Logf("refused: %v", err)
	if after, _ := os.ReadFile(d.Router.Config); string(after) != string(before) {
		t.Errorf("the rendered file changed after a refused check")
	}
	all(t, d, 10, "v1")
	set(t, rt, split(100, v2, v1))
	all(t, d, 10, "v2")
}

// TestWaitDrained: a request in flight on an instance that left the
// split holds WaitDrained until it finishes.
func TestWaitDrained(t *testing.T) {
	d := haproxytest.New(t)
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "v1")
	}))
	t.Cleanup(slow.Close)
	v1, v2 := strings.TrimPrefix(slow.URL, "http://"), backend(t, "v2")
	set(t, rt, split(0, v2, v1))
	done := make(chan error, 1)
	go func() {
		res, err := http.Get(d.URL() + "/slow")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "v1" {
				err = io.ErrUnexpectedEOF
			}
		}
		done <- err
	}()
	<-started
	set(t, rt, router.Route{Service: "web", Backends: []router.Backend{{Version: "v2", Weight: 100, Addrs: []string{v2}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := rt.WaitDrained(ctx, []string{v1}); err == nil {
		t.Fatal("WaitDrained returned while a request was in flight")
	}
	close(release)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := rt.WaitDrained(ctx2, []string{v1}); err != nil {
		t.Fatalf("WaitDrained after the request finished: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the request in flight across the change: %v", err)
	}
	all(t, d, 5, "v2")
}

// TestVersionHeader: with a version header, every answer names the
// version that served it (the body says which backend did), through
// weight changes and a version taking a backend another held.
func TestVersionHeader(t *testing.T) {
	d := haproxytest.New(t)
	d.Router.VersionHeader = "X-Bluejay-Version"
	rt, err := haproxy.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2, v3 := backend(t, "v1"), backend(t, "v2"), backend(t, "v3")
	check := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			res, err := http.Get(d.URL() + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if h := res.Header.Get("X-Bluejay-Version"); h != string(body) {
				t.Fatalf("answered by %s with X-Bluejay-Version %q", body, h)
			}
			seen[string(body)]++
		}
		return seen
	}
	set(t, rt, split(50, v2, v1))
	if seen := check(60); seen["v1"] == 0 || seen["v2"] == 0 {
		t.Errorf("a 50/50 split answered %v", seen)
	}
	// v3 replaces v1: a version new to the service takes a free backend
	// through the runtime API, and the version map follows.
	set(t, rt, router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v3", Weight: 100, Addrs: []string{v3}}, {Version: "v2", Weight: 0, Addrs: []string{v2}}}})
	if seen := check(20); seen["v3"] != 20 {
		t.Errorf("after v3 took all traffic: %v", seen)
	}
}
