package docker_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/dockertest"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/docker"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }

var images sync.Once

// engine returns the shared Engine with the sample app's images
// bjtest/app:v1 and :v2 built.
func engine(t *testing.T) *dockertest.Engine {
	t.Helper()
	e := dockertest.New(t)
	images.Do(func() { e.AppImage(t, "bjtest/app:v1", "bjtest/app:v2") })
	return e
}

// appConfig runs the sample app image of the version's build.
func appConfig() docker.Config {
	return docker.Config{Image: "bjtest/app:{{.Version}}", Port: 8080, Pull: spec.PullNever, StopGrace: time.Second,
		Args: []string{"--host", "0.0.0.0", "--port", "{{.Port}}", "--version", "{{.Version}}"}}
}

func newPlatform(t *testing.T, e *dockertest.Engine, store string) *docker.Platform {
	t.Helper()
	p := docker.New(e.Client(t), store+"/"+t.Name())
	t.Cleanup(p.Close)
	return p
}

// waitInstances polls until the version has n instances for which ok
// holds.
func waitInstances(t *testing.T, p *docker.Platform, service, version string, n int, ok func(platform.Instance) bool) []platform.Instance {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ins := instancesOf(t, p, service, version)
		good := 0
		for _, in := range ins {
			if ok(in) {
				good++
			}
		}
		if len(ins) == n && good == n {
			return ins
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: want %d instances, got %+v", service, version, n, ins)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(in platform.Instance) bool { return in.State == platform.StateRunning }

// get polls GET http://addr/ until it answers 200 and returns the body.
func get(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestDeployInstancesStop runs two containers of a version with the port
// published on 127.0.0.1, labelled, then stops and removes them.
func TestDeployInstancesStop(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "a")
	c := appConfig()
	c.Replicas = 2
	c.Labels = map[string]string{"team": "web"}
	p.Configure("web", c)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	ins := waitInstances(t, p, "web", "v1", 2, running)
	for i, in := range ins {
		if want := []string{"web-v1-0", "web-v1-1"}[i]; in.ID != want {
			t.Errorf("instance %d id = %s, want %s", i, in.ID, want)
		}
		if !strings.HasPrefix(in.Addr, "127.0.0.1:") || in.Addr == "127.0.0.1:8080" {
			t.Errorf("%s addr = %q, want 127.0.0.1 and a port the Engine picked", in.ID, in.Addr)
		}
		if body := get(t, in.Addr); !strings.Contains(body, "version=v1") {
			t.Errorf("%s answered %q, want version=v1", in.ID, body)
		}
	}
	cli := e.Client(t)
	insp, err := cli.ContainerInspect(ctx(t), strings.TrimPrefix(ins[0].LogPath, "docker:"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{docker.LabelService: "web", docker.LabelVersion: "v1", docker.LabelInstance: "0",
		docker.LabelImage: "bjtest/app:v1", docker.LabelStore: p.Store(), "team": "web"} {
		if got := insp.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if err := p.Stop(ctx(t), "web", "v1"); err != nil {
		t.Fatal(err)
	}
	if ins := instancesOf(t, p, "web", "v1"); len(ins) != 0 {
		t.Errorf("after Stop: %+v", ins)
	}
	if _, err := cli.ContainerInspect(ctx(t), insp.ID); err == nil {
		t.Errorf("container %s still exists after Stop", insp.ID)
	}
}

// TestAdoptsByLabels: a new Platform on the same store (bluejay after a
// restart) lists the same containers, and Deploy keeps them running as
// they are (same ids), while a Platform on another store sees none of
// them and its Stop leaves them running.
func TestAdoptsByLabels(t *testing.T) {
	e := engine(t)
	first := docker.New(e.Client(t), "store-"+t.Name())
	t.Cleanup(first.Close)
	first.Configure("web", appConfig())
	if err := first.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	before := waitInstances(t, first, "web", "v1", 1, running)
	t.Cleanup(func() { first.Stop(context.Background(), "web", "v1") })

	restarted := docker.New(e.Client(t), "store-"+t.Name())
	t.Cleanup(restarted.Close)
	restarted.Configure("web", appConfig())
	if n, err := restarted.Prune(ctx(t), []string{"web"}); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 adopted", n, err)
	}
	if err := restarted.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	after := waitInstances(t, restarted, "web", "v1", 1, running)
	if after[0].LogPath != before[0].LogPath || after[0].Addr != before[0].Addr || after[0].Restarts != 0 {
		t.Errorf("after a restart: %+v, want the same container %+v", after[0], before[0])
	}

	other := docker.New(e.Client(t), "another-store-"+t.Name())
	t.Cleanup(other.Close)
	other.Configure("web", appConfig())
	if ins := instancesOf(t, other, "web", "v1"); len(ins) != 0 {
		t.Errorf("another store sees %+v", ins)
	}
	if err := other.Stop(ctx(t), "web", "v1"); err != nil {
		t.Fatal(err)
	}
	if n, err := other.Prune(ctx(t), nil); err != nil || n != 0 {
		t.Errorf("another store's Prune = %d, %v", n, err)
	}
	still := waitInstances(t, first, "web", "v1", 1, running)
	if still[0].LogPath != before[0].LogPath {
		t.Errorf("another store's Stop replaced %s by %s", before[0].LogPath, still[0].LogPath)
	}
}

// TestPruneRemovesUnconfiguredServices: a service no longer in the config
// has its containers removed at start.
func TestPruneRemovesUnconfiguredServices(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "prune")
	p.Configure("gone", appConfig())
	if err := p.Deploy(ctx(t), platform.Version{Service: "gone", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, p, "gone", "v1", 1, running)
	if n, err := p.Prune(ctx(t), []string{"web"}); err != nil || n != 0 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if ins := instancesOf(t, p, "gone", "v1"); len(ins) != 0 {
		t.Errorf("after Prune: %+v", ins)
	}
}

// TestExitedInstance: a container that exits is an exited instance whose
// reason has the exit code and its last output; Deploy replaces it,
// counting the restart.
func TestExitedInstance(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "exit")
	p.Configure("web", appConfig())
	v := platform.Version{Service: "web", Label: "v1", Args: []string{"--exit-on-start"}}
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), "web", "v1") })
	ins := waitInstances(t, p, "web", "v1", 1, func(in platform.Instance) bool { return in.State == platform.StateExited })
	if r := ins[0].LastExit; !strings.Contains(r, "exit code 1") || !strings.Contains(r, "exiting on start") {
		t.Errorf("LastExit = %q, want the exit code and the last output", r)
	}
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	ins = waitInstances(t, p, "web", "v1", 1, func(in platform.Instance) bool {
		return in.Restarts == 1 && in.State == platform.StateExited
	})
	if !strings.Contains(ins[0].LastExit, "exit code 1") {
		t.Errorf("the restarted instance exited: want its reason, got %+v", ins[0])
	}
}

// TestUnknownImage: an image the Engine lacks fails Deploy with the
// Engine's reason, at once with pull never, and after the pull fails
// with pull missing (no registry is reachable here), within its timeout.
func TestUnknownImage(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "unknown")
	c := appConfig()
	c.Image = "bjtest/nothing:{{.Version}}"
	p.Configure("web", c)
	err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v9"})
	if err == nil || !strings.Contains(err.Error(), "No such image: bjtest/nothing:v9") {
		t.Fatalf("pull never: Deploy = %v, want the Engine's No such image", err)
	}
	c.Pull, c.PullTimeout = spec.PullMissing, 20*time.Second
	p.Configure("web", c)
	start := time.Now()
	err = p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v9"})
	if err == nil || !strings.Contains(err.Error(), "pulling image bjtest/nothing:v9") {
		t.Fatalf("pull missing: Deploy = %v, want the pull's failure", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the failed pull took %s, past its 20s timeout", d)
	}
	t.Logf("pull missing: %v (%s)", err, time.Since(start).Round(time.Millisecond))
	if ins := instancesOf(t, p, "web", "v9"); len(ins) != 0 {
		t.Errorf("a failed deploy left %+v", ins)
	}
}

// TestPullMissingUsesLocalImage: pull missing does not pull an image the
// Engine has (no registry could answer here).
func TestPullMissingUsesLocalImage(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "local")
	c := appConfig()
	c.Pull = spec.PullMissing
	p.Configure("web", c)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v2"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), "web", "v2") })
	ins := waitInstances(t, p, "web", "v2", 1, running)
	if body := get(t, ins[0].Addr); !strings.Contains(body, "version=v2") {
		t.Errorf("answered %q", body)
	}
}

// TestScaleDownAndHostNetwork: Deploy with fewer replicas removes the
// highest-numbered containers; on the host's network an instance listens
// on the {{.Port}} bluejay picked.
func TestScaleDownAndHostNetwork(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "host")
	c := appConfig()
	c.Network, c.Replicas = "host", 3
	c.Args = []string{"--port", "{{.Port}}", "--version", "{{.Version}}"} // 127.0.0.1 is the host's
	p.Configure("web", c)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), "web", "v1") })
	ins := waitInstances(t, p, "web", "v1", 3, running)
	for _, in := range ins {
		if body := get(t, in.Addr); !strings.Contains(body, "version=v1") {
			t.Errorf("%s answered %q", in.ID, body)
		}
	}
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	left := waitInstances(t, p, "web", "v1", 1, running)
	if left[0].ID != "web-v1-0" || left[0].LogPath != ins[0].LogPath {
		t.Errorf("after scaling to 1: %+v, want %s kept", left, ins[0].ID)
	}
}

// TestUsage reads the containers' CPU and memory from the Engine's stats.
func TestUsage(t *testing.T) {
	e := engine(t)
	p := newPlatform(t, e, "usage")
	p.Configure("web", appConfig())
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), "web", "v1") })
	ins := waitInstances(t, p, "web", "v1", 1, running)
	get(t, ins[0].Addr)
	u, err := p.Usage("web", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if u.Instances != 1 || u.RSSBytes < 1<<20 || u.CPUSeconds <= 0 {
		t.Errorf("Usage = %+v, want one instance with over 1 MiB and some CPU time", u)
	}
}

// instancesOf is Platform.Instances, failing the test on an error.
func instancesOf(t testing.TB, p *docker.Platform, service, version string) []platform.Instance {
	t.Helper()
	ins, err := p.Instances(service, version)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}
