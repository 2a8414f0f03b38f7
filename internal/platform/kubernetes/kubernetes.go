package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bluejay-deploy/bluejay/internal/kube"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// ErrUnknownService is returned by Deploy for a service that was never
// configured.
var ErrUnknownService = errors.New("service not configured for the kubernetes platform")

// Config says how to run one service's versions.
type Config struct {
	// Namespace holds the service's Deployments and Services. Required.
	Namespace string
	// Image is the container image, a Go template with {{.Version}}
	// (the version's build) and {{.Service}}. Required.
	Image string
	// Port is the container's port and its Service's. Required.
	Port int
	// Replicas is how many pods each version runs. 0 means 1.
	Replicas int
	// Args and Env are the container's arguments and extra environment,
	// templated like Image. A version's own Args are appended.
	Args []string
	Env  map[string]string
	// Requests and Limits are the container's resources ({cpu: 100m}).
	Requests, Limits map[string]string
	// StopGrace is the pods' termination grace period. 0 means
	// Kubernetes' default (30s).
	StopGrace time.Duration
	// Probe is the pods' readiness probe: an HTTP GET of Path on the
	// container's port.
	Probe Probe
	// ProgressDeadline is the Deployment's progressDeadlineSeconds: how
	// long its rollout may make no progress before Kubernetes reports it
	// failed (then its unready instances are exited). 0 means
	// Kubernetes' default (600s); set it to the service's ready timeout
	// so that the reason is Kubernetes' own.
	ProgressDeadline time.Duration
}

// Probe is an HTTP readiness probe.
type Probe struct {
	// Path is requested with GET; any 2xx or 3xx passes. "" means no
	// probe: a pod is ready once it runs.
	Path string
	// Period and Timeout are rounded up to whole seconds (at least 1).
	Period, Timeout time.Duration
	// Success and Failure are the thresholds (at least 1).
	Success, Failure int
}

// Platform runs versions as Deployments. The zero value is not usable;
// call New, Configure each service, then Start. It is safe for
// concurrent use.
type Platform struct {
	client k8s.Interface
	watch  k8s.Interface // the informers' client (SetWatchClient); nil: client

	mu       sync.Mutex
	services map[string]Config
	listers  map[string]appslisters.DeploymentLister // by namespace
	synced   map[string]cache.InformerSynced
	watches  []informers.SharedInformerFactory
	stop     chan struct{}
	started  bool
}

var (
	_ platform.Platform  = (*Platform)(nil)
	_ platform.Readiness = (*Platform)(nil)
)

// New returns a Platform that talks to the cluster through client.
func New(client k8s.Interface) *Platform {
	return &Platform{client: client, services: map[string]Config{}, listers: map[string]appslisters.DeploymentLister{},
		synced: map[string]cache.InformerSynced{}, stop: make(chan struct{})}
}

// SetWatchClient makes the informers watch through w rather than the
// platform's client: one without a request timeout (kube.WatchConfig).
// Call it before Configure.
func (p *Platform) SetWatchClient(w k8s.Interface) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watch = w
}

// ReportsReadiness marks the platform.Readiness capability.
func (*Platform) ReportsReadiness() {}

// Configure sets how a service's versions run, and watches its namespace
// (from Start on).
func (p *Platform) Configure(service string, c Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.services[service] = c
	if _, ok := p.listers[c.Namespace]; ok {
		return
	}
	watch := p.watch
	if watch == nil {
		watch = p.client
	}
	f := informers.NewSharedInformerFactoryWithOptions(watch, 0, informers.WithNamespace(c.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{kube.LabelManagedBy: kube.FieldManager}.String()
		}))
	inf := f.Apps().V1().Deployments()
	p.listers[c.Namespace] = inf.Lister()
	p.synced[c.Namespace] = inf.Informer().HasSynced
	p.watches = append(p.watches, f)
	if p.started {
		f.Start(p.stop)
	}
}

// Start starts watching every configured namespace and waits until the
// caches hold what the cluster has, so that Instances is true from the
// first call (the controller restores routes from it).
func (p *Platform) Start(ctx context.Context) error {
	p.mu.Lock()
	p.started = true
	for _, f := range p.watches {
		f.Start(p.stop) // starts only what is not started yet
	}
	synced := slices.Collect(maps.Values(p.synced))
	p.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("kubernetes: listing Deployments: %w", context.Cause(ctx))
	}
	return nil
}

// Close stops the watches and waits for them to end.
func (p *Platform) Close() {
	p.mu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	watches := p.watches
	p.mu.Unlock()
	for _, f := range watches {
		f.Shutdown()
	}
}

func (p *Platform) config(service string) (Config, appslisters.DeploymentLister, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.services[service]
	if !ok {
		return Config{}, nil, fmt.Errorf("%w: %s", ErrUnknownService, service)
	}
	return c, p.listers[c.Namespace], nil
}

// Deploy applies the version's Service and Deployment with its replicas
// (v.Replicas, else the configured count), and returns once the cache
// sees the change: a new Deployment starts with no ready pods. A version
// whose Deployment exists is only scaled: its pods keep the spec they
// were deployed with.
func (p *Platform) Deploy(ctx context.Context, v platform.Version) error {
	c, lister, err := p.config(v.Service)
	if err != nil {
		return err
	}
	name := kube.Name(v.Service, v.Label)
	replicas := v.Replicas
	if replicas <= 0 {
		replicas = max(c.Replicas, 1)
	}
	dep, err := deployment(c, v, name, int32(replicas))
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", c.Namespace, name, err)
	}
	if err := p.owned(ctx, c.Namespace, name, v); err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true}
	if _, err := p.client.CoreV1().Services(c.Namespace).Apply(ctx, service(c, v, name), opts); err != nil {
		return fmt.Errorf("service %s/%s: %w", c.Namespace, name, err)
	}
	deps := p.client.AppsV1().Deployments(c.Namespace)
	var applied *appsv1.Deployment
	if cur, err := lister.Deployments(c.Namespace).Get(name); err == nil && cur.DeletionTimestamp == nil {
		// A version is one build: once it runs, only its replicas change.
		// Re-applying the whole spec would roll its pods to whatever the
		// config says now (another image template, say), ungated.
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
		applied, err = deps.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: kube.FieldManager})
		if err != nil {
			return fmt.Errorf("scaling deployment %s/%s: %w", c.Namespace, name, err)
		}
	} else if applied, err = deps.Apply(ctx, dep, opts); err != nil {
		return fmt.Errorf("deployment %s/%s: %w", c.Namespace, name, err)
	}
	return waitCache(ctx, func() bool {
		d, err := lister.Deployments(c.Namespace).Get(name)
		return err == nil && d.Generation >= applied.Generation
	})
}

// owned refuses to write over a Deployment or Service of that name that
// is not this version's: another service's version can have the same
// name (web + api-v1 and web-api + v1 are both web-api-v1), or something
// else made it. A forced apply would take it over.
func (p *Platform) owned(ctx context.Context, ns, name string, v platform.Version) error {
	want := kube.Labels(v.Service, v.Label)
	check := func(kind string, labels map[string]string) error {
		if labels[kube.LabelService] == want[kube.LabelService] && labels[kube.LabelVersion] == want[kube.LabelVersion] {
			return nil
		}
		if svc := labels[kube.LabelService]; svc != "" {
			return fmt.Errorf("%s %s/%s belongs to version %s of service %s, not %s of %s: rename a service so that their names differ",
				kind, ns, name, labels[kube.LabelVersion], svc, v.Label, v.Service)
		}
		return fmt.Errorf("%s %s/%s exists and is not bluejay's (no %s label): remove or rename it", kind, ns, name, kube.LabelService)
	}
	if d, err := p.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		if err := check("deployment", d.Labels); err != nil {
			return err
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading deployment %s/%s: %w", ns, name, err)
	}
	if svc, err := p.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return check("service", svc.Labels)
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading service %s/%s: %w", ns, name, err)
	}
	return nil
}

// Stop deletes the version's Deployment (Kubernetes stops its pods, each
// with its grace period) and Service, and returns once the cache no
// longer has the Deployment. Objects of that name that are not the
// version's are left alone (an error says whose they are).
func (p *Platform) Stop(ctx context.Context, service, version string) error {
	c, lister, err := p.config(service)
	if err != nil {
		return err
	}
	name := kube.Name(service, version)
	if err := p.owned(ctx, c.Namespace, name, platform.Version{Service: service, Label: version}); err != nil {
		return fmt.Errorf("not stopping: %w", err)
	}
	bg := metav1.DeletePropagationBackground
	err = p.client.AppsV1().Deployments(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting deployment %s/%s: %w", c.Namespace, name, err)
	}
	err = p.client.CoreV1().Services(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting service %s/%s: %w", c.Namespace, name, err)
	}
	return waitCache(ctx, func() bool {
		_, err := lister.Deployments(c.Namespace).Get(name)
		return apierrors.IsNotFound(err)
	})
}

// cacheWait bounds how long Deploy and Stop wait for the watch to bring
// their own change back; the API server already accepted it.
const cacheWait = 30 * time.Second

// waitCache polls the informer's cache (memory, no API call) until done.
func waitCache(ctx context.Context, done func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, cacheWait)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) { return done(), nil })
	if err != nil {
		return fmt.Errorf("waiting for the watch to see the change: %w", err)
	}
	return nil
}

// Instances lists the version's desired replicas, read from the cache:
// the first readyReplicas are ready. A version without a Deployment has
// none; a cache that has not synced (or a service not configured) is an
// error, so that what could not be read is never taken for "none".
func (p *Platform) Instances(service, version string) ([]platform.Instance, error) {
	c, lister, err := p.config(service)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	synced := p.synced[c.Namespace]
	p.mu.Unlock()
	if synced == nil || !synced() {
		return nil, fmt.Errorf("listing %s %s: the watch of namespace %s has not synced with the API server", service, version, c.Namespace)
	}
	d, err := lister.Deployments(c.Namespace).Get(kube.Name(service, version))
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s %s: %w", service, version, err)
	}
	return instances(d, version, c.Port), nil
}

// instances reads a Deployment's status as platform instances.
func instances(d *appsv1.Deployment, version string, port int) []platform.Instance {
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	st := d.Status
	ready := min(st.ReadyReplicas, n)
	if st.ObservedGeneration >= d.Generation {
		// Pods of an older template (args changed) do not count.
		ready = min(ready, st.UpdatedReplicas)
	}
	failed := failure(d)
	addr := fmt.Sprintf("%s.%s.svc:%d", d.Name, d.Namespace, port)
	out := make([]platform.Instance, n)
	for i := range out {
		in := platform.Instance{
			ID:      fmt.Sprintf("%s-%d", d.Name, i),
			Version: version,
			Addr:    addr,
			State:   platform.StateRunning,
			Ready:   int32(i) < ready,
			Started: d.CreationTimestamp.Time,
		}
		if !in.Ready && failed != "" {
			in.State, in.LastExit = platform.StateExited, failed
		}
		out[i] = in
	}
	return out
}

// failure says why the Deployment will get no more pods ready by
// itself, "" when nothing says so: its Progressing condition False (the
// progress deadline passed), as of its current generation. A
// ReplicaFailure (a quota, a surge the namespace cannot fit) is often
// over in a moment, so it is not taken for one: the ready timeout, or the
// progress deadline, judges it.
func failure(d *appsv1.Deployment) string {
	if d.Status.ObservedGeneration < d.Generation {
		return "" // the conditions are about an older spec
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return strings.TrimSpace(fmt.Sprintf("%s: %s", c.Reason, c.Message))
		}
	}
	return ""
}

// templateData is what Image, Args and Env may use.
type templateData struct{ Version, Service string }

// service is the version's Service: its pods on Port.
func service(c Config, v platform.Version, name string) *coreac.ServiceApplyConfiguration {
	return coreac.Service(name, c.Namespace).
		WithLabels(kube.Labels(v.Service, v.Label)).
		WithAnnotations(map[string]string{kube.AnnotationVersion: v.Label}).
		WithSpec(coreac.ServiceSpec().
			WithSelector(kube.Selector(v.Service, v.Label)).
			WithPorts(coreac.ServicePort().WithName("http").WithPort(int32(c.Port)).
				WithTargetPort(intstr.FromString("http"))))
}

// deployment is the version's Deployment.
func deployment(c Config, v platform.Version, name string, replicas int32) (*appsac.DeploymentApplyConfiguration, error) {
	data := templateData{Version: v.BuildOf(), Service: v.Service}
	image, err := spec.Render(c.Image, data)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	var args []string
	for _, a := range c.Args {
		s, err := spec.Render(a, data)
		if err != nil {
			return nil, fmt.Errorf("args: %w", err)
		}
		args = append(args, s)
	}
	args = append(args, v.Args...)
	ctr := coreac.Container().WithName(v.Service).WithImage(image).
		WithPorts(coreac.ContainerPort().WithName("http").WithContainerPort(int32(c.Port)))
	if len(args) > 0 {
		ctr.WithArgs(args...)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		s, err := spec.Render(c.Env[k], data)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		ctr.WithEnv(coreac.EnvVar().WithName(k).WithValue(s))
	}
	if res, err := resources(c); err != nil {
		return nil, err
	} else if res != nil {
		ctr.WithResources(res)
	}
	if pr := c.Probe; pr.Path != "" {
		ctr.WithReadinessProbe(coreac.Probe().
			WithHTTPGet(coreac.HTTPGetAction().WithPath(pr.Path).WithPort(intstr.FromString("http"))).
			WithPeriodSeconds(seconds(pr.Period)).WithTimeoutSeconds(seconds(pr.Timeout)).
			WithSuccessThreshold(int32(max(pr.Success, 1))).WithFailureThreshold(int32(max(pr.Failure, 1))))
	}
	pod := coreac.PodSpec().WithContainers(ctr)
	if c.StopGrace > 0 {
		pod.WithTerminationGracePeriodSeconds(int64(seconds(c.StopGrace)))
	}
	l := kube.Labels(v.Service, v.Label)
	ann := map[string]string{kube.AnnotationVersion: v.Label}
	spec := appsac.DeploymentSpec()
	if c.ProgressDeadline > 0 {
		spec.WithProgressDeadlineSeconds(seconds(c.ProgressDeadline))
	}
	return appsac.Deployment(name, c.Namespace).WithLabels(l).WithAnnotations(ann).
		WithSpec(spec.WithReplicas(replicas).
			WithSelector(metaac.LabelSelector().WithMatchLabels(kube.Selector(v.Service, v.Label))).
			WithTemplate(coreac.PodTemplateSpec().WithLabels(l).WithAnnotations(ann).WithSpec(pod))), nil
}

// resources parses the configured quantities (validated at load).
func resources(c Config) (*coreac.ResourceRequirementsApplyConfiguration, error) {
	if len(c.Requests) == 0 && len(c.Limits) == 0 {
		return nil, nil
	}
	parse := func(m map[string]string) (corev1.ResourceList, error) {
		out := corev1.ResourceList{}
		for k, s := range m {
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return nil, fmt.Errorf("resource %s: %w", k, err)
			}
			out[corev1.ResourceName(k)] = q
		}
		return out, nil
	}
	req, err := parse(c.Requests)
	if err != nil {
		return nil, err
	}
	lim, err := parse(c.Limits)
	if err != nil {
		return nil, err
	}
	r := coreac.ResourceRequirements()
	if len(req) > 0 {
		r.WithRequests(req)
	}
	if len(lim) > 0 {
		r.WithLimits(lim)
	}
	return r, nil
}

// seconds rounds a duration up to whole seconds, at least 1.
func seconds(d time.Duration) int32 {
	return int32(max((d+time.Second-1)/time.Second, 1))
}
