package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/bluejay-deploy/bluejay/internal/sampleapp"
)

// startGRPCExample starts `bluejay serve` on examples/grpc.yaml, the
// README's gRPC example, as written but for its addresses and store file,
// in a copy of the repo's layout (examples/, bin/bluejay), and waits for
// v1.
func startGRPCExample(t *testing.T) *server {
	t.Helper()
	raw, err := os.ReadFile("../../examples/grpc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "examples")
	for _, d := range []string{dir, filepath.Join(root, "bin")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bin, filepath.Join(root, "bin", "bluejay")); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, proxy: freeAddr(t), admin: freeAddr(t), token: "example-token",
		logPath: filepath.Join(t.TempDir(), "serve.log"), service: "rpc"}
	cfg := string(raw)
	for _, r := range [][2]string{
		{"127.0.0.1:8080", s.proxy}, {"127.0.0.1:7070", s.admin},
		{"./grpc.db", "./bluejay.db"},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("examples/grpc.yaml no longer has %q", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	s.config = filepath.Join(dir, "grpc.yaml")
	for name, data := range map[string]string{s.config: cfg, filepath.Join(dir, "token.txt"): s.token + "\n"} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.stopAtCleanup()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.start()
	s.waitStatus("the first rollout (v1) Completed", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed" && st.Stable == "v1"
	})
	return s
}

// call is one gRPC call's outcome through the proxy.
type call struct {
	version string // who answered, or whose injected error it was
	code    string // "" for OK
}

// grpcLoad calls Echo/Say through the proxy's h2c listener with a grpc-go
// client every interval until stopped.
type grpcLoad struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	calls  []call
}

func startGRPCLoad(t *testing.T, addr string, every time.Duration) *grpcLoad {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &grpcLoad{conn: conn, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for ctx.Err() == nil {
			l.once(ctx)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *grpcLoad) once(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	answer, err := sampleapp.Say(cctx, l.conn, "hello")
	if ctx.Err() != nil {
		return // stopped mid-call
	}
	c := call{}
	if err != nil {
		st := grpcstatus.Convert(err)
		c.code = st.Code().String()
		// "injected error (v4)" names the version that failed.
		if _, v, ok := strings.Cut(st.Message(), "injected error ("); ok {
			c.version = strings.TrimSuffix(v, ")")
		}
	} else {
		c.version, _, _ = strings.Cut(strings.TrimPrefix(answer, "version="), " ")
	}
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

func (l *grpcLoad) stop() {
	l.cancel()
	<-l.done
	l.conn.Close()
}

func (l *grpcLoad) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

func (l *grpcLoad) since(mark int) []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]call(nil), l.calls[mark:]...)
}

// waitVersion waits until n calls from mark on were answered by v.
func (l *grpcLoad) waitVersion(t *testing.T, v string, mark, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := 0
		for _, c := range l.since(mark) {
			if c.version == v && c.code == "" {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls answered by %s after %s", got, v, timeout)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func failedCalls(calls []call) []call {
	var out []call
	for _, c := range calls {
		if c.code != "" {
			out = append(out, c)
		}
	}
	return out
}

// TestGRPCRollouts drives the README's gRPC example with grpc-go clients
// through the proxy's h2c listener: a blue-green rollout; a healthy
// canary, with a server-streaming call opened before it that keeps
// streaming across its weight changes; and a canary failing half its
// calls with UNAVAILABLE, rolled back by the sequential judge with a
// reason that names the gRPC errors.
func TestGRPCRollouts(t *testing.T) {
	s := startGRPCExample(t)
	load := startGRPCLoad(t, s.proxy, 10*time.Millisecond)
	load.waitVersion(t, "v1", 0, 20, 20*time.Second)

	// Blue-green: every call answered, v2 serves after the switch.
	mark := load.mark()
	s.mustCLI(0, "deploy", "rpc", "v2", "--wait")
	after := load.mark()
	load.waitVersion(t, "v2", after, 20, 20*time.Second)
	if failed := failedCalls(load.since(mark)); len(failed) > 0 {
		t.Errorf("blue-green v2: %d calls failed: %v", len(failed), failed[:min(len(failed), 5)])
	}
	t.Logf("blue-green v2: %d calls, 0 failed", len(load.since(mark)))

	// The README's client: `bluejay app --call` through the proxy.
	r := runCLI(t, s.dir, nil, "app", "--call", s.proxy, "--rps", "20", "--duration", "1s")
	if r.code != 0 || !strings.Contains(r.stdout, " failed=0 v2=") {
		t.Errorf("bluejay app --call: want calls answered by v2, none failed:\n%s", r)
	}

	// A healthy canary, with a stream on v2 open across its weight changes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next, err := sampleapp.Tick(ctx, load.conn, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	type tick struct {
		msg string
		err error
	}
	ticks := make(chan tick, 1000)
	go func() {
		for {
			msg, err := next()
			ticks <- tick{msg, err}
			if err != nil {
				return
			}
		}
	}()
	first := <-ticks
	if first.err != nil || !strings.HasPrefix(first.msg, "version=v2 ") {
		t.Fatalf("stream's first message = %q, %v; want one from v2", first.msg, first.err)
	}
	mark = load.mark()
	s.mustCLI(0, "deploy", "rpc", "v3", "--strategy", "canary", "--wait")
	load.waitVersion(t, "v3", load.mark(), 20, 20*time.Second)
	if failed := failedCalls(load.since(mark)); len(failed) > 0 {
		t.Errorf("healthy canary v3: %d calls failed: %v", len(failed), failed[:min(len(failed), 5)])
	}
	t.Logf("healthy canary v3: %d calls, 0 failed", len(load.since(mark)))
	got := 1
	for drained := false; !drained; {
		select {
		case tk := <-ticks:
			if tk.err != nil || !strings.HasPrefix(tk.msg, "version=v2 ") {
				t.Fatalf("stream broke after %d messages: %q, %v", got, tk.msg, tk.err)
			}
			got++
		default:
			drained = true
		}
	}
	// The canary's steps took seconds at 100ms a message: the stream
	// delivered throughout, and still does after v3 took all traffic.
	if tk := <-ticks; tk.err != nil || !strings.HasPrefix(tk.msg, "version=v2 ") {
		t.Fatalf("stream after the canary completed: %q, %v", tk.msg, tk.err)
	}
	if got < 20 {
		t.Errorf("the stream delivered %d messages across the canary, want one every 100ms throughout", got)
	}
	t.Logf("stream on v2 across the canary's weight changes: %d messages, no error", got+1)
	cancel()

	// A canary failing half its calls with UNAVAILABLE.
	mark = load.mark()
	r = s.cli("deploy", "rpc", "v4", "--strategy", "canary", "--arg=--error-rate", "--arg=0.5", "--wait")
	if r.code != 1 {
		t.Fatalf("deploy v4: want exit 1 (rolled back), got:\n%s", r)
	}
	ro := s.rolloutTo("v4")
	if ro.Phase != "RolledBack" {
		t.Fatalf("v4 rollout %s, want RolledBack: %s", ro.Phase, ro.Reason)
	}
	if want := "failed gRPC calls (grpc-status UNAVAILABLE"; !strings.Contains(ro.Reason, want) {
		t.Errorf("rollback reason %q does not name the gRPC errors (%q)", ro.Reason, want)
	}
	st := s.waitStatus("stable v3 at 100%", 10*time.Second, func(st status) bool { return st.Weights["v3"] == 100 })
	var toV4, failedV4, failedOther int
	for _, c := range load.since(mark) {
		switch {
		case c.version == "v4":
			toV4++
			if c.code != "" {
				failedV4++
			}
		case c.code != "":
			failedOther++
		}
	}
	if failedOther > 0 {
		t.Errorf("%d calls failed on other versions than v4", failedOther)
	}
	t.Logf("failing canary v4: %d calls through the proxy during the rollout, %d to v4, %d of them failed (UNAVAILABLE) "+
		"before the rollback; bluejay's exposure: %d requests, %d errors; weights after: %v; reason: %s",
		len(load.since(mark)), toV4, failedV4, ro.Exposure.Requests, ro.Exposure.Errors, st.Weights, ro.Reason)
	if failedV4 == 0 || ro.Exposure.Errors == 0 {
		t.Errorf("v4 was rolled back without failed calls seen (%d) or counted (%d)", failedV4, ro.Exposure.Errors)
	}
}
