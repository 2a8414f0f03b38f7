package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func newDemo() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Roll out six versions of the sample app under traffic (blue-green, canary, rolling), in a temp dir",
		Long: `demo runs bluejay on embedded defaults in a temporary directory: it starts the
sample app v1 behind the proxy and sends a steady trickle of requests, then
  v2: healthy — previewed on 10%, switched, watched, completed;
  v3: fails its health checks — traffic never moves to it;
  v4: healthy at first, errors once it takes real traffic — flipped back;
  v5: a canary (20% → analysis → 50% → analysis → 100%) judged against a
      dedicated baseline, healthy — promoted;
  v6: a canary failing 30% of its requests — caught by the sequential
      test after a handful of failures and rolled back;
  v7: a rolling update whose new instances crash soon after they start —
      the first batch halts the rollout and the old version is put back.
It prints a timeline and what each step proved, stops every process it started,
and exits 0 only if every step behaved as expected.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temp dir (config, store, logs) for a look afterwards")
	return cmd
}

const demoConfig = `# bluejay demo config, written by 'bluejay demo'
proxy:
  listen: {{.Proxy}}
  versionHeader: X-Bluejay-Version
admin:
  listen: {{.Admin}}
  token: demo-token
store:
  path: ./bluejay.db
services:
  - name: web
    version: v1
    platform:
      process:
        command: [{{.Exe}}, "app", "--port", "{{"{{.Port}}"}}", "--version", "{{"{{.Version}}"}}"]
        replicas: 2
        stopGrace: 2s
    health: {path: /healthz, interval: 100ms, healthyThreshold: 2, unhealthyThreshold: 2, readyTimeout: 3s}
    smoke:
      - {path: /, expectStatus: 200, expectBody: "version="}
    blueGreen: {previewWeight: 10, previewDuration: 2s, watch: 3s, scaleDownDelay: 1m, minRequests: 10}
    rolling: {maxSurge: 1, minHealthyTime: 2s}
    canary:
      analysis: demo
      baseline: dedicated      # fresh v-stable instances with the canary's share: like for like
      scaleDownDelay: 1m
      abortScaleDownDelay: 2s
      steps:
        - setWeight: 20
        - analysis: {template: demo, duration: 3s}
        - setWeight: 50
        - analysis: {template: demo, duration: 2s}
        - setWeight: 100
analysis:
  demo:
    interval: 1s
    minRequests: 20
    load: {rps: 20, path: /}   # synthetic requests to both sides: minRequests is reached at any traffic
    metrics:
      - name: error-rate
        judge: sequential
        condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.01"
      - name: latency
        judge: mann-whitney
        effectSize: 1.5
`

// demo is one run of `bluejay demo`.
type demo struct {
	out    io.Writer
	client *api.Client
	proxy  string
	load   *trickle
	start  time.Time
	ok     bool
}

func runDemo(ctx context.Context, out io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "bluejay-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	cfg, err := writeDemoConfig(dir)
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "bluejay.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(logf, nil)))
	if err != nil {
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	d := &demo{out: out, client: &api.Client{Addr: srv.AdminAddr(), Token: cfg.Admin.Token},
		proxy: srv.ProxyAddr(), start: time.Now(), ok: true}
	fmt.Fprintf(out, "bluejay demo in %s\nproxy http://%s  admin http://%s  (logs: %s)\n\n", dir, d.proxy, srv.AdminAddr(), logf.Name())
	err = d.run(ctx)
	stopServer()
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	fmt.Fprintf(out, "\nstopped bluejay and every instance it started (%s in all)\n", time.Since(d.start).Round(100*time.Millisecond))
	if keep {
		fmt.Fprintf(out, "kept %s\n", dir)
	}
	if err == nil && !d.ok {
		err = failedError{msg: "the demo did not behave as expected (see above)"}
	}
	return err
}

func writeDemoConfig(dir string) (*spec.Config, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	t := template.Must(template.New("demo").Parse(demoConfig))
	if err := t.Execute(&b, map[string]string{"Proxy": ports[0], "Admin": ports[1], "Exe": fmt.Sprintf("%q", exe)}); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "bluejay.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return spec.Load(path)
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().String())
		defer ln.Close()
	}
	return out, nil
}

func (d *demo) run(ctx context.Context) error {
	d.say("starting v1, the first version, and a steady trickle of requests (about 50/s)")
	first, err := d.firstRollout(ctx)
	if err != nil {
		return err
	}
	if _, err := d.waitFor(ctx, first); err != nil {
		return err
	}
	d.load = startTrickle(ctx, "http://"+d.proxy+"/")
	defer d.load.stop()
	d.check(d.load.waitServed(ctx, "v1", 20), "v1 serves users through the proxy")

	steps := []struct {
		version, strategy, story string
		args                     []string
		want                     engine.Phase
	}{
		{"v2", "", "a healthy version: previewed on 10%, switched, watched", nil, engine.PhaseCompleted},
		{"v3", "", "a version that fails its health checks", []string{"--fail-health"}, engine.PhaseFailed},
		{"v4", "", "a version that passes its gates and fails under real traffic", []string{"--error-rate", "1", "--errors-after-requests", "20"}, engine.PhaseRolledBack},
		{"v5", "canary", "a healthy canary: 20%, analysis, 50%, analysis, 100%", nil, engine.PhaseCompleted},
		{"v6", "canary", "a canary that fails 30% of its requests (after passing its smoke test)", []string{"--error-rate", "0.3", "--errors-after-requests", "1"}, engine.PhaseRolledBack},
		{"v7", "rolling", "a rolling update whose instances crash 1.5s after they start", []string{"--crash-after", "1500ms"}, engine.PhaseRolledBack},
	}
	for _, s := range steps {
		if err := d.deploy(ctx, s.version, s.strategy, s.story, s.args, s.want); err != nil {
			return err
		}
	}
	d.summary(ctx)
	return nil
}

// deploy rolls out one version and checks how it ended and who it served.
func (d *demo) deploy(ctx context.Context, version, strategy, story string, args []string, want engine.Phase) error {
	fmt.Fprintf(d.out, "\n── deploy %s: %s\n", version, story)
	before := d.load.snapshot()
	r, err := d.client.Deploy(ctx, "web", api.DeployBody{Version: version, Strategy: strategy, Args: args})
	if err != nil {
		return err
	}
	if r, err = d.waitFor(ctx, r.ID); err != nil {
		return err
	}
	got := d.load.snapshot().sub(before)
	d.check(r.Phase == want, fmt.Sprintf("rollout #%d ended %s (want %s)", r.ID, r.Phase, want))
	switch want {
	case engine.PhaseCompleted:
		d.check(got.failed == 0, fmt.Sprintf("0 failed requests across the switch (%d sent, %d failed)", got.total(), got.failed))
		d.check(d.load.waitServed(ctx, version, 20), version+" now serves all users")
	case engine.PhaseFailed:
		d.check(got.byVersion[version] == 0, fmt.Sprintf("%s never received a user request (%d sent to others, %d failed)", version, got.total(), got.failed))
	case engine.PhaseRolledBack:
		d.check(got.byVersion[version] > 0, fmt.Sprintf("%s took user traffic (%d requests), failed %d before the flip-back; blast radius %d requests",
			version, got.byVersion[version], got.failed, r.Exposure.Requests))
		d.check(d.load.waitServed(ctx, r.From.Label, 20), fmt.Sprintf("traffic is back on %s", r.From.Label))
	}
	return nil
}

// firstRollout waits for the server to create the first deploy of v1.
func (d *demo) firstRollout(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		st, err := d.client.Service(ctx, "web")
		if err == nil && st.Rollout.ID != 0 {
			return st.Rollout.ID, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("bluejay did not start the first rollout: %v", errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitFor prints the rollout's phases until it ends.
func (d *demo) waitFor(ctx context.Context, id int64) (engine.Rollout, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var seen string
	for {
		r, err := d.client.Rollout(ctx, id)
		if err != nil {
			return r, err
		}
		if now := fmt.Sprintf("%s/%d", r.Phase, r.Step); now != seen {
			d.say(fmt.Sprintf("#%d %-11s %s", r.ID, phase(r), r.Reason))
			seen = now
		}
		if r.Phase.Terminal() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("rollout #%d stuck in %s: %w", id, r.Phase, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) summary(ctx context.Context) {
	fmt.Fprintln(d.out, "\n── history (bluejay history web)")
	if rs, err := d.client.Rollouts(ctx, "web", 0); err == nil {
		printHistory(d.out, rs)
	}
	t := d.load.snapshot()
	fmt.Fprintf(d.out, "\nrequests sent through the proxy: %d, failed: %d, by version: %v\n", t.total(), t.failed, t.byVersion)
}

func (d *demo) say(s string) {
	fmt.Fprintf(d.out, "%6.1fs  %s\n", time.Since(d.start).Seconds(), s)
}

func (d *demo) check(ok bool, what string) {
	mark := "✓"
	if !ok {
		mark, d.ok = "✗", false
	}
	fmt.Fprintf(d.out, "        %s %s\n", mark, what)
}

// trickle sends requests through the proxy at a steady rate and tallies
// which version answered.
type trickle struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	t      tally
}

// tally counts answers by the version that served them; failed counts
// 5xx answers and transport errors, which have no version.
type tally struct {
	byVersion map[string]int
	failed    int
	transport int
	last      string
}

func (t tally) total() int {
	n := t.transport
	for _, c := range t.byVersion {
		n += c
	}
	return n
}

func (t tally) sub(o tally) tally {
	out := tally{byVersion: map[string]int{}, failed: t.failed - o.failed, transport: t.transport - o.transport, last: t.last}
	for v, c := range t.byVersion {
		out.byVersion[v] = c - o.byVersion[v]
	}
	return out
}

func startTrickle(ctx context.Context, url string) *trickle {
	ctx, cancel := context.WithCancel(ctx)
	tr := &trickle{cancel: cancel, t: tally{byVersion: map[string]int{}}}
	client := &http.Client{Timeout: 5 * time.Second}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				tr.send(ctx, client, url)
			}
		}
	}()
	return tr
}

func (tr *trickle) send(ctx context.Context, client *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		tr.t.failed++
		tr.t.transport++
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v := resp.Header.Get("X-Bluejay-Version")
	tr.t.byVersion[v]++
	tr.t.last = v
	if resp.StatusCode >= 500 {
		tr.t.failed++
	}
}

func (tr *trickle) snapshot() tally {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.t
	out.byVersion = map[string]int{}
	for v, c := range tr.t.byVersion {
		out.byVersion[v] = c
	}
	return out
}

// waitServed reports whether n requests in a row were answered by version.
func (tr *trickle) waitServed(ctx context.Context, version string, n int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		start := tr.snapshot()
		time.Sleep(time.Duration(n) * 25 * time.Millisecond)
		now := tr.snapshot().sub(start)
		if now.byVersion[version] >= n/2 && now.byVersion[version] == now.total() {
			return true
		}
	}
	return false
}

func (tr *trickle) stop() {
	tr.cancel()
	tr.wg.Wait()
}
