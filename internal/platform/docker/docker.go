package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Labels bluejay puts on its containers. A restarted bluejay finds its
// containers by them; LabelStore keeps apart those of another store.
const (
	LabelStore    = "bluejay.store"
	LabelService  = "bluejay.service"
	LabelVersion  = "bluejay.version"
	LabelBuild    = "bluejay.build"
	LabelInstance = "bluejay.instance"
	LabelImage    = "bluejay.image"
	LabelPort     = "bluejay.port"
	LabelRestarts = "bluejay.restarts"
)

// CallTimeout bounds every Engine call but a pull and a stop, which have
// their own (Config.PullTimeout, Config.StopGrace plus CallTimeout).
const CallTimeout = 30 * time.Second

// listTimeout bounds the list behind Instances, which the controller
// calls every tick: past it, the last list answers.
const listTimeout = 5 * time.Second

// logLines is how many of an exited container's last log lines its
// reason quotes.
const logLines = 5

// ErrUnknownService is returned by Deploy for a service that was never
// configured.
var ErrUnknownService = errors.New("service not configured for the docker platform")

// Config says how to run one service's versions.
type Config struct {
	// Image is the image, a Go template with {{.Version}} (the version's
	// build) and {{.Service}}. Required.
	Image string
	// Port is the port the service listens on in the container; with
	// Network "host", the instance listens on a free port ({{.Port}})
	// instead. Required unless Network is "host".
	Port int
	// Replicas is how many containers each version runs. 0 means 1.
	Replicas int
	// Args are appended to the image's entrypoint, and Env added to the
	// container's environment, templated with {{.Version}},
	// {{.Service}}, {{.Port}} and {{.Instance}}. A version's own Args
	// follow. Default none.
	Args []string
	Env  map[string]string
	// Network is "" (the default bridge, Port published on 127.0.0.1 at
	// a port the Engine picks), "host", or a user network's name (the
	// container reached at its address there).
	Network string
	// Pull is spec.PullAlways, PullMissing or PullNever. "" means
	// PullMissing.
	Pull string
	// PullTimeout bounds a pull. 0 means 5 minutes.
	PullTimeout time.Duration
	// Labels are added to the containers' own. Default none.
	Labels map[string]string
	// Volumes are docker's -v mounts (SOURCE:TARGET[:OPTIONS]).
	Volumes []string
	// Memory (bytes) and NanoCPUs limit each container. 0 means none.
	Memory, NanoCPUs int64
	// StopGrace is how long a container has after SIGTERM before it is
	// killed. 0 kills it at once.
	StopGrace time.Duration
	// Logger receives what Instances cannot report (a failed list).
	// nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) replicas() int { return max(c.Replicas, 1) }

func (c Config) pullTimeout() time.Duration {
	if c.PullTimeout <= 0 {
		return 5 * time.Minute
	}
	return c.PullTimeout
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Platform runs versions as containers through the Docker Engine API.
// The Engine holds the state: a container's labels say whose instance
// it is, so a restarted bluejay lists its containers again (the same
// ones: adoption never restarts them). The zero value is not usable;
// call New and Configure each service. It is safe for concurrent use.
type Platform struct {
	cli   *client.Client
	store string // LabelStore's value: a hash of the store's name

	mu       sync.Mutex
	services map[string]Config
	// last is each version's last listed instances: what Instances
	// answers while the Engine does not.
	last map[key][]platform.Instance
	// exits caches the reason of each exited container (it never
	// changes), by container id.
	exits map[string]string
	// streams are the running containers' stats streams, by id, each
	// ended by the container's stop or by Close (ctx).
	streams map[string]*statsStream
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type key struct{ service, version string }

var (
	_ platform.Platform  = (*Platform)(nil)
	_ platform.Owner     = (*Platform)(nil)
	_ platform.Resources = (*Platform)(nil)
)

// New returns a Platform on the Engine cli talks to, for the store named
// store (its file, or etcd's endpoints and prefix): only that store's
// containers are its own. Close ends its stats streams.
func New(cli *client.Client, store string) *Platform {
	sum := sha256.Sum256([]byte(store))
	ctx, cancel := context.WithCancel(context.Background())
	return &Platform{cli: cli, store: hex.EncodeToString(sum[:])[:16], services: map[string]Config{},
		last: map[key][]platform.Instance{}, exits: map[string]string{}, streams: map[string]*statsStream{},
		ctx: ctx, cancel: cancel}
}

// NewClient returns a client of the Engine named by the environment
// (DOCKER_HOST, else the default socket) that negotiates the API version,
// so that Engine 20.10 (API 1.41) and current ones both answer.
func NewClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// OwnsInstances marks the platform as running its instances itself.
func (*Platform) OwnsInstances() {}

// Store is the value of LabelStore on this platform's containers.
func (p *Platform) Store() string { return p.store }

// Configure sets how the service's versions run. Running containers keep
// what they were started with.
func (p *Platform) Configure(service string, c Config) {
	c.Args, c.Env, c.Labels, c.Volumes = slices.Clone(c.Args), maps.Clone(c.Env), maps.Clone(c.Labels), slices.Clone(c.Volumes)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.services[service] = c
}

func (p *Platform) config(service string) (Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.services[service]
	if !ok {
		return c, fmt.Errorf("%w: %s", ErrUnknownService, service)
	}
	return c, nil
}

// call bounds one Engine call by CallTimeout.
func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, CallTimeout)
}

// list returns the containers of this store matching the labels, running
// or not.
func (p *Platform) list(ctx context.Context, labels ...string) ([]container.Summary, error) {
	f := filters.NewArgs(filters.Arg("label", LabelStore+"="+p.store))
	for _, l := range labels {
		f.Add("label", l)
	}
	return p.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
}

func (p *Platform) listVersion(ctx context.Context, service, version string) ([]container.Summary, error) {
	cs, err := p.list(ctx, LabelService+"="+service, LabelVersion+"="+version)
	if err != nil {
		return nil, fmt.Errorf("listing containers of %s %s: %w", service, version, err)
	}
	return cs, nil
}

// Deploy makes replicas containers of the version run (v.Replicas, else
// the configured count): it starts missing ones, replaces exited ones
// (counting the restart) and removes those numbered above. A running
// container is kept as it is. The image is pulled first as Pull says. It
// returns once the containers are started, not ready.
func (p *Platform) Deploy(ctx context.Context, v platform.Version) error {
	c, err := p.config(v.Service)
	if err != nil {
		return fmt.Errorf("deploying %s %s: %w", v.Service, v.Label, err)
	}
	n := c.replicas()
	if v.Replicas > 0 {
		n = v.Replicas
	}
	lctx, cancel := call(ctx)
	cs, err := p.listVersion(lctx, v.Service, v.Label)
	cancel()
	if err != nil {
		return err
	}
	byIndex := map[int]container.Summary{}
	var extra []container.Summary
	for _, ct := range cs {
		i, _ := strconv.Atoi(ct.Labels[LabelInstance])
		if i >= n {
			extra = append(extra, ct)
			continue
		}
		byIndex[i] = ct
	}
	for _, ct := range extra {
		if err := p.remove(ctx, c, ct.ID); err != nil {
			return fmt.Errorf("scaling %s %s down: %w", v.Service, v.Label, err)
		}
	}
	pulled := false
	for i := range n {
		ct, ok := byIndex[i]
		if ok && ct.State == container.StateRunning {
			continue
		}
		restarts := 0
		if ok { // exited, or created and never started
			restarts, _ = strconv.Atoi(ct.Labels[LabelRestarts])
			restarts++
			if err := p.remove(ctx, c, ct.ID); err != nil {
				return err
			}
		}
		if !pulled {
			if err := p.ensureImage(ctx, c, v); err != nil {
				return err
			}
			pulled = true
		}
		if err := p.start(ctx, c, v, i, restarts); err != nil {
			return fmt.Errorf("deploying %s: %w", instanceID(v.Service, v.Label, i), err)
		}
	}
	return nil
}

// templateData is what the image, args and env may use.
type templateData struct {
	Version, Service string
	Port, Instance   int
}

func (p *Platform) image(c Config, v platform.Version) (string, error) {
	img, err := spec.Render(c.Image, templateData{Version: v.BuildOf(), Service: v.Service})
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// ensureImage pulls the version's image as c.Pull says, within
// c.PullTimeout. The Engine's reason is the error.
func (p *Platform) ensureImage(ctx context.Context, c Config, v platform.Version) error {
	img, err := p.image(c, v)
	if err != nil {
		return err
	}
	switch c.Pull {
	case spec.PullNever:
		return nil // the create says so if it is missing
	case spec.PullAlways:
	default:
		ictx, cancel := call(ctx)
		_, err := p.cli.ImageInspect(ictx, img)
		cancel()
		if err == nil {
			return nil
		}
		if !client.IsErrNotFound(err) {
			return fmt.Errorf("inspecting image %s: %w", img, err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, c.pullTimeout())
	defer cancel()
	rc, err := p.cli.ImagePull(pctx, img, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pulling image %s: %w", img, err)
	}
	defer rc.Close()
	if err := pullError(rc); err != nil {
		if pctx.Err() != nil {
			return fmt.Errorf("pulling image %s: not done within %s: %w", img, c.pullTimeout(), err)
		}
		return fmt.Errorf("pulling image %s: %w", img, err)
	}
	return nil
}

// start creates and starts instance i of the version.
func (p *Platform) start(ctx context.Context, c Config, v platform.Version, i, restarts int) error {
	img, err := p.image(c, v)
	if err != nil {
		return err
	}
	port := c.Port
	if c.Network == "host" {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	data := templateData{Version: v.BuildOf(), Service: v.Service, Port: port, Instance: i}
	var args []string
	for _, a := range c.Args {
		s, err := spec.Render(a, data)
		if err != nil {
			return fmt.Errorf("args: %w", err)
		}
		args = append(args, s)
	}
	args = append(args, v.Args...)
	var env []string
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		s, err := spec.Render(c.Env[k], data)
		if err != nil {
			return fmt.Errorf("env %s: %w", k, err)
		}
		env = append(env, k+"="+s)
	}
	labels := maps.Clone(c.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, map[string]string{
		LabelStore: p.store, LabelService: v.Service, LabelVersion: v.Label, LabelBuild: v.BuildOf(),
		LabelInstance: strconv.Itoa(i), LabelImage: img, LabelPort: strconv.Itoa(port), LabelRestarts: strconv.Itoa(restarts),
	})
	grace := int(c.StopGrace.Round(time.Second) / time.Second)
	cfg := &container.Config{Image: img, Cmd: args, Env: env, Labels: labels, StopTimeout: &grace}
	hc := &container.HostConfig{Binds: c.Volumes,
		Resources: container.Resources{Memory: c.Memory, NanoCPUs: c.NanoCPUs}}
	switch c.Network {
	case "":
		tcp := nat.Port(strconv.Itoa(port) + "/tcp")
		cfg.ExposedPorts = nat.PortSet{tcp: {}}
		hc.PortBindings = nat.PortMap{tcp: {{HostIP: "127.0.0.1"}}} // a free port, picked by the Engine
	default:
		hc.NetworkMode = container.NetworkMode(c.Network)
	}
	cctx, cancel := call(ctx)
	defer cancel()
	created, err := p.cli.ContainerCreate(cctx, cfg, hc, nil, nil, containerName(v.Service, v.Label, i, p.store))
	if err != nil {
		return fmt.Errorf("creating container of %s: %w", img, err)
	}
	if err := p.cli.ContainerStart(cctx, created.ID, container.StartOptions{}); err != nil {
		// Not left behind as an exited instance: the error says why.
		p.cli.ContainerRemove(context.WithoutCancel(cctx), created.ID, container.RemoveOptions{Force: true})
		return fmt.Errorf("starting container of %s: %w", img, err)
	}
	return nil
}

// remove stops a container (SIGTERM, then SIGKILL after StopGrace) and
// removes it.
func (p *Platform) remove(ctx context.Context, c Config, id string) error {
	grace := int(c.StopGrace.Round(time.Second) / time.Second)
	sctx, cancel := context.WithTimeout(ctx, c.StopGrace+CallTimeout)
	defer cancel()
	if err := p.cli.ContainerStop(sctx, id, container.StopOptions{Timeout: &grace}); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("stopping container %.12s: %w", id, err)
	}
	if err := p.cli.ContainerRemove(sctx, id, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("removing container %.12s: %w", id, err)
	}
	p.mu.Lock()
	delete(p.exits, id)
	p.mu.Unlock()
	return nil
}

// Stop stops and removes every container of the version, each with its
// grace period. Stopping a version that does not run is not an error.
func (p *Platform) Stop(ctx context.Context, service, version string) error {
	c, err := p.config(service)
	if err != nil {
		c = Config{StopGrace: 10 * time.Second}
	}
	lctx, cancel := call(ctx)
	cs, err := p.listVersion(lctx, service, version)
	cancel()
	if err != nil {
		return err
	}
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, ct := range cs {
		wg.Go(func() { errs[i] = p.remove(ctx, c, ct.ID) })
	}
	wg.Wait()
	p.mu.Lock()
	delete(p.last, key{service, version})
	p.mu.Unlock()
	return errors.Join(errs...)
}

// Instances lists the version's containers in instance order, running
// and exited; an exited one's LastExit has its exit code and last log
// lines. When the Engine does not answer, the last list is returned (an
// unknown is never read as "no instances").
func (p *Platform) Instances(service, version string) ([]platform.Instance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	k := key{service, version}
	defer slow(p, service, "instances", time.Now())
	cs, err := p.listVersion(ctx, service, version)
	c, _ := p.config(service)
	if err != nil {
		// Unknown, never "none": the controller holds rather than take a
		// failed list for lost instances.
		return nil, fmt.Errorf("docker: listing instances of %s %s: %w", service, version, err)
	}
	out := make([]platform.Instance, 0, len(cs))
	for _, ct := range cs {
		out = append(out, p.instance(ctx, ct, c.Network))
		if ct.State == container.StateRunning {
			p.watchStats(ct.ID) // so that Usage has a sample at once
		}
	}
	slices.SortFunc(out, func(a, b platform.Instance) int { return strings.Compare(a.ID, b.ID) })
	p.mu.Lock()
	p.last[k] = out
	p.mu.Unlock()
	return slices.Clone(out), nil
}

// instance reads a listed container as an instance.
func (p *Platform) instance(ctx context.Context, ct container.Summary, network string) platform.Instance {
	l := ct.Labels
	i, _ := strconv.Atoi(l[LabelInstance])
	restarts, _ := strconv.Atoi(l[LabelRestarts])
	in := platform.Instance{
		ID:       instanceID(l[LabelService], l[LabelVersion], i),
		Version:  l[LabelVersion],
		Addr:     address(ct, network),
		State:    platform.StateRunning,
		Restarts: restarts,
		Started:  time.Unix(ct.Created, 0),
		LogPath:  "docker:" + ct.ID,
	}
	if ct.State != container.StateRunning {
		in.State, in.LastExit = platform.StateExited, p.exitReason(ctx, ct)
	}
	return in
}

// address is where a container serves: its published port on 127.0.0.1,
// the host's port, or its address on the user network.
func address(ct container.Summary, network string) string {
	port := ct.Labels[LabelPort]
	switch network {
	case "host":
		return net.JoinHostPort("127.0.0.1", port)
	case "":
		for _, pt := range ct.Ports {
			if strconv.Itoa(int(pt.PrivatePort)) == port && pt.PublicPort != 0 && pt.IP == "127.0.0.1" {
				return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(pt.PublicPort)))
			}
		}
		return "" // not running: nothing is published
	}
	if ns := ct.NetworkSettings; ns != nil {
		if ep := ns.Networks[network]; ep != nil && ep.IPAddress != "" {
			return net.JoinHostPort(ep.IPAddress, port)
		}
	}
	return ""
}

// exitReason says why a container is not running: its exit code (or
// the Engine's error, or the OOM killer) and its last log lines. Read
// once per container.
func (p *Platform) exitReason(ctx context.Context, ct container.Summary) string {
	p.mu.Lock()
	r, ok := p.exits[ct.ID]
	p.mu.Unlock()
	if ok {
		return r
	}
	r = "container " + ct.State
	insp, err := p.cli.ContainerInspect(ctx, ct.ID)
	if err != nil {
		return r + " (" + err.Error() + ")"
	}
	if st := insp.State; st != nil {
		switch {
		case st.OOMKilled:
			r = fmt.Sprintf("killed for lack of memory (exit code %d)", st.ExitCode)
		case st.Error != "":
			r = st.Error
		case ct.State == container.StateCreated:
			r = "container created but never started"
		default:
			r = fmt.Sprintf("exit code %d", st.ExitCode)
		}
	}
	if lines := p.lastLines(ctx, ct.ID); lines != "" {
		r += "; last output: " + lines
	}
	p.mu.Lock()
	p.exits[ct.ID] = r
	p.mu.Unlock()
	return r
}

// lastLines returns a container's last log lines, joined by " | ".
func (p *Platform) lastLines(ctx context.Context, id string) string {
	var b strings.Builder
	if err := p.Logs(ctx, id, logLines, &b); err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(slices.DeleteFunc(lines, func(s string) bool { return s == "" }), " | ")
}

// Usage sums the running containers' CPU time and memory in use (less
// the page cache), from the Engine's stats: the latest sample of a stream
// per container (the Engine samples each second, and a one-shot read
// waits for the next sample), started by Instances, or here for at most
// statsWait.
func (p *Platform) Usage(service, version string) (platform.Usage, error) {
	ctx, cancel := call(context.Background())
	defer cancel()
	defer slow(p, service, "usage", time.Now())
	cs, err := p.listVersion(ctx, service, version)
	if err != nil {
		return platform.Usage{}, err
	}
	u := platform.Usage{At: time.Now()}
	for _, ct := range cs {
		if ct.State != container.StateRunning {
			continue
		}
		s, err := p.watchStats(ct.ID).sample(ctx)
		if err != nil {
			return platform.Usage{}, fmt.Errorf("stats of container %.12s: %w", ct.ID, err)
		}
		u.CPUSeconds += float64(s.CPUStats.CPUUsage.TotalUsage) / 1e9
		mem := s.MemoryStats.Usage
		if cache := s.MemoryStats.Stats["cache"]; cache > 0 && cache < mem { // cgroup v1
			mem -= cache
		} else if inactive := s.MemoryStats.Stats["inactive_file"]; inactive > 0 && inactive < mem { // cgroup v2
			mem -= inactive
		}
		u.RSSBytes += int64(mem)
		u.Instances++
	}
	return u, nil
}

// Prune removes this store's containers of services not in keep (no
// longer configured), and returns how many of the rest it found: the
// instances a previous run left, which it adopts as they are.
func (p *Platform) Prune(ctx context.Context, keep []string) (adopted int, err error) {
	lctx, cancel := call(ctx)
	cs, err := p.list(lctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("listing containers: %w", err)
	}
	var errs []error
	for _, ct := range cs {
		if slices.Contains(keep, ct.Labels[LabelService]) {
			adopted++
			continue
		}
		errs = append(errs, p.remove(ctx, Config{StopGrace: 10 * time.Second}, ct.ID))
	}
	return adopted, errors.Join(errs...)
}

// Logs copies the last tail lines (0: all) of a container's output,
// stdout and stderr interleaved, to w.
func (p *Platform) Logs(ctx context.Context, containerID string, tail int, w io.Writer) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true}
	if tail > 0 {
		opts.Tail = strconv.Itoa(tail)
	}
	rc, err := p.cli.ContainerLogs(ctx, containerID, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return demux(w, rc)
}

func instanceID(service, version string, i int) string {
	return fmt.Sprintf("%s-%s-%d", service, version, i)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is SERVICE-VERSION-I-STORE (the first 8 hex digits of
// the store's label): two stores' containers never collide.
func containerName(service, version string, i int, store string) string {
	return unsafeName.ReplaceAllString(fmt.Sprintf("%s-%s-%d-%s", service, version, i, store[:8]), "_")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func slow(p *Platform, service, what string, start time.Time) {
	if d := time.Since(start); d > 300*time.Millisecond {
		c, _ := p.config(service)
		c.logger().Warn("docker: slow", "what", what, "took", d)
	}
}

// VersionLogs writes the last tail lines (0: all) of each of the
// version's containers, running or exited, to w, each under a header
// naming the instance, its container and its state.
func (p *Platform) VersionLogs(ctx context.Context, service, version string, tail int, w io.Writer) error {
	lctx, cancel := call(ctx)
	cs, err := p.listVersion(lctx, service, version)
	cancel()
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("no container of %s %s on this Engine (for this store)", service, version)
	}
	slices.SortFunc(cs, func(a, b container.Summary) int {
		return strings.Compare(a.Labels[LabelInstance], b.Labels[LabelInstance])
	})
	for _, ct := range cs {
		i, _ := strconv.Atoi(ct.Labels[LabelInstance])
		fmt.Fprintf(w, "== %s (container %.12s, %s)\n", instanceID(service, version, i), ct.ID, ct.Status)
		lctx, cancel := call(ctx)
		err := p.Logs(lctx, ct.ID, tail, w)
		cancel()
		if err != nil {
			return fmt.Errorf("logs of container %.12s: %w", ct.ID, err)
		}
	}
	return nil
}
