package e2e

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/bluejay-deploy/bluejay/internal/dockertest"
)

var dockerImages sync.Once

// dockerPlatform is the platform block of the docker tests: the sample
// app's image (built FROM scratch here; no registry), two replicas, the
// port published on 127.0.0.1.
const dockerPlatform = `docker:
  image: "bjtest/app:{{.Version}}"
  port: 8080
  replicas: 2
  pull: never
  stopGrace: 2s
  args: ["--host", "0.0.0.0", "--port", "{{.Port}}", "--version", "{{.Version}}"]`

// onDocker returns o with the service on the binary's dockerd, whose
// address serve reads from DOCKER_HOST, and the Engine's client. Every
// container is removed at the test's end (serve leaves them running).
func onDocker(t *testing.T, o options) (options, *client.Client) {
	t.Helper()
	e := dockertest.New(t)
	dockerImages.Do(func() {
		e.AppImage(t, "bjtest/app:v1", "bjtest/app:v2", "bjtest/app:v3", "bjtest/app:v4")
	})
	t.Setenv("DOCKER_HOST", e.Host())
	cli := e.Client(t)
	t.Cleanup(func() { // after serve's own cleanup (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range containers(t, cli, "") {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	})
	o.platform = dockerPlatform
	return o, cli
}

// containers lists bluejay's containers of web, of the version if not "".
func containers(t *testing.T, cli *client.Client, version string) []container.Summary {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", "bluejay.service=web"))
	if version != "" {
		f.Add("label", "bluejay.version="+version)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	return cs
}

// ids returns the containers' ids, sorted.
func ids(cs []container.Summary) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// TestDockerBlueGreenUnderLoad switches web from v1 to v2, each two
// containers, under continuous load: no user request fails, and v1's
// containers stay warm for a rollback (scaleDownDelay, 30s).
func TestDockerBlueGreenUnderLoad(t *testing.T) {
	o := defaultOptions()
	// Containers take seconds to start on a busy machine (4 s seen):
	// this test is about the switch, not the readiness deadline.
	o.readyTimeout = "30s"
	o, cli := onDocker(t, o)
	s := startServer(t, o)
	if n := len(containers(t, cli, "v1")); n != 2 {
		t.Fatalf("v1 runs %d containers, want 2", n)
	}
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.mustCLI(0, "deploy", "web", "v2", "--wait")
	if !strings.Contains(r.stdout, "Completed") {
		t.Errorf("deploy v2 --wait exited 0 without printing Completed:\n%s", r)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)
	l.stop()
	l.assertNoFailures(t)
	counts := l.byVersion()
	if counts["v1"] == 0 || counts["v2"] == 0 {
		t.Errorf("want requests served by v1 then v2: %s", l.summary())
	}
	t.Logf("switch on docker: %s; by version %v", l.summary(), counts)
	for _, v := range []string{"v1", "v2"} {
		if n := len(containers(t, cli, v)); n != 2 {
			t.Errorf("%s runs %d containers after the switch, want 2", v, n)
		}
	}
}

// TestDockerNeverHealthyImage: a version whose containers never pass
// their health check fails before the switch, serves no user request,
// and its containers are removed.
func TestDockerNeverHealthyImage(t *testing.T) {
	o, cli := onDocker(t, defaultOptions())
	s := startServer(t, o)
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	r := s.cli("deploy", "web", "v2", "--wait", "--arg=--fail-health")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "Failed") {
		t.Errorf("deploy of a never-healthy v2: want exit 1 and Failed, got:\n%s", r)
	}
	waitFor(t, "v2's containers removed", func() bool { return len(containers(t, cli, "v2")) == 0 })
	l.stop()
	l.assertNoFailures(t)
	if counts := l.byVersion(); len(counts) != 1 || counts["v1"] == 0 {
		t.Errorf("every user response should come from v1: %v", counts)
	}
}

// TestDockerUnknownImage: an image the Engine cannot find fails the
// rollout with the Engine's reason, within the ready timeout (5s).
func TestDockerUnknownImage(t *testing.T) {
	o, _ := onDocker(t, defaultOptions())
	s := startServer(t, o)
	start := time.Now()
	r := s.cli("deploy", "web", "v9", "--wait")
	took := time.Since(start)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "Failed") {
		t.Errorf("deploy of a missing image: want exit 1 and Failed, got:\n%s", r)
	}
	ro := s.rolloutTo("v9")
	if !strings.Contains(ro.Reason, "No such image: bjtest/app:v9") {
		t.Errorf("the reason does not carry the Engine's: %q", ro.Reason)
	}
	if took > 15*time.Second {
		t.Errorf("the rollout of a missing image took %s to fail, want within the ready timeout (5s) and a little", took)
	}
	t.Logf("failed after %s: %s", took.Round(100*time.Millisecond), ro.Reason)
}

// TestDockerCanaryRollback: a canary container failing half its
// requests is rolled back at its first step; the stable version serves.
func TestDockerCanaryRollback(t *testing.T) {
	o, cli := onDocker(t, canaryOptions(`
analysis: t
abortScaleDownDelay: 1s
steps:
  - setWeight: 10
  - analysis: {template: t, duration: 5s}
  - setWeight: 100`, errorRateTemplate(20)))
	s := startServer(t, o)
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	start := time.Now()
	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	took := time.Since(start)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Errorf("deploy of a canary failing 50%% of requests: want exit 1 and RolledBack, got:\n%s", r)
	}
	l.waitServed(t, "v1", 50, 10*time.Second)
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Stable != "v1" || !onlyStable(st.Weights, "v1") {
		t.Errorf("after the rollback: want stable v1 with all traffic, got %q %v", st.Stable, st.Weights)
	}
	waitFor(t, "the canary's containers removed", func() bool { return len(containers(t, cli, "v2")) == 0 })
	l.stop()
	for _, f := range l.failures() {
		if f.version != "v2" {
			t.Errorf("a failed request not from the canary: %v", f)
		}
	}
	ro := s.rolloutTo("v2")
	t.Logf("canary rolled back after %s (deploy to exit); load %s; reason: %s", took.Round(100*time.Millisecond), l.summary(), ro.Reason)
	if n := len(l.failures()); n > 30 {
		t.Errorf("%d user requests failed before the rollback, want at most 30", n)
	}
}

// TestDockerKilledServeAdoptsContainers kills serve (SIGKILL) while v2
// is being watched, starts it again: it adopts the containers it left
// (the same container ids, none restarted) and the rollout completes.
func TestDockerKilledServeAdoptsContainers(t *testing.T) {
	o, cli := onDocker(t, defaultOptions())
	o.watch = "4s"
	o.minRequests = 0 // no users here: the watch may pass on no requests
	s := startServer(t, o)
	s.cliBackground("deploy", "web", "v2")
	s.waitStatus("v2 Watching", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Watching"
	})
	before := map[string][]string{"v1": ids(containers(t, cli, "v1")), "v2": ids(containers(t, cli, "v2"))}
	s.kill()
	s.start()
	s.waitStatus("v2 Completed after the restart", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Completed" && st.Stable == "v2"
	})
	after := ids(containers(t, cli, "v2"))
	if len(before["v2"]) != 2 || !slices.Equal(after, before["v2"]) {
		t.Errorf("v2's containers: %v before kill -9, %v after the restart; want the same two", before["v2"], after)
	}
	for _, c := range containers(t, cli, "v2") {
		if c.State != container.StateRunning || c.Labels["bluejay.restarts"] != "0" {
			t.Errorf("container %.12s: state %s, restarts %s; want running, never restarted", c.ID, c.State, c.Labels["bluejay.restarts"])
		}
	}
	waitProxyServes(t, s.proxy, "v2", 10, 10*time.Second)
	lg := s.mustCLI(0, "logs", "web", "v2", "-n", "5")
	for _, want := range []string{"== web-v2-0 (container ", "== web-v2-1 (container ", "app listening"} {
		if !strings.Contains(lg.stdout, want) {
			t.Errorf("bluejay logs web v2: no %q in:\n%s", want, lg)
		}
	}
	t.Logf("adoption: v1 %d containers and v2 %v kept across kill -9 of serve", len(before["v1"]), shortIDs(after))
}

func shortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:12]
	}
	return out
}

// TestDockerRolling replaces v1's two containers by v2's one at a time
// under load: no request fails, and v1's containers are gone at the end.
func TestDockerRolling(t *testing.T) {
	o, cli := onDocker(t, rollingOptions())
	s := startServer(t, o)
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	r := s.cli("deploy", "web", "v2", "--strategy", "rolling", "--wait")
	if r.code != 0 {
		t.Fatalf("deploy --strategy rolling --wait: %s", r)
	}
	l.waitServed(t, "v2", 20, 10*time.Second)
	l.stop()
	l.assertNoFailures(t)
	waitFor(t, "v1's containers removed", func() bool { return len(containers(t, cli, "v1")) == 0 })
	if n := len(containers(t, cli, "v2")); n != 2 {
		t.Errorf("v2 runs %d containers, want 2", n)
	}
	t.Logf("rolling on docker: %s", l.summary())
}
