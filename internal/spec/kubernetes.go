package spec

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// KubernetesConfig is the cluster that the kubernetes platform and the
// gatewayAPI router talk to.
type KubernetesConfig struct {
	// Kubeconfig is the kubeconfig file, relative to the config file.
	// Default "": $KUBECONFIG if set, else the pod's service account
	// when bluejay runs in the cluster, else ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context to use. Default "": its current
	// context.
	Context string `yaml:"context"`
	// Namespace holds the Deployments, Services and HTTPRoutes bluejay
	// writes, unless a service's platform names its own. Default
	// "default".
	Namespace string `yaml:"namespace"`
}

// KubernetesPlatform runs each version of a service as a Deployment
// (SERVICE-VERSION, one per version, labelled with both) and a Service of
// the same name that selects its pods, which the gatewayAPI router sends
// the version's share of traffic to. Readiness is the Deployment's: the
// kubelet runs the service's health check as the pods' readiness probe,
// and the Deployment's status counts the ready ones.
type KubernetesPlatform struct {
	// Image is the container image, a Go template with {{.Version}} and
	// {{.Service}}, such as registry.example.com/web:{{.Version}}.
	// Required.
	Image string `yaml:"image"`
	// Port is the port the container listens on, and the port of the
	// version's Service. Default 8080.
	Port int `yaml:"port"`
	// Replicas is how many pods of each version run. Default 1; 0 also
	// means 1.
	Replicas int `yaml:"replicas"`
	// Args are the container's arguments (templated like Image). Default
	// none: the image's own.
	Args []string `yaml:"args"`
	// Env adds environment variables to the container (templated like
	// Image). Default none.
	Env map[string]string `yaml:"env"`
	// Namespace overrides kubernetes.namespace for this service.
	Namespace string `yaml:"namespace"`
	// Requests and Limits are the container's resources, such as
	// {cpu: 100m, memory: 128Mi}. Default none.
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
	// StopGrace is the pods' termination grace period: how long a pod
	// has to finish after SIGTERM. Default 30s.
	StopGrace Duration `yaml:"stopGrace"`
}

// GatewayAPIRouter writes each service's split as an HTTPRoute (named
// after the service, in its platform's namespace) whose weighted
// backendRefs are the versions' Services. The Gateway implementation the
// user runs (Envoy Gateway, Istio, Cilium, NGINX Gateway Fabric, ...)
// carries the traffic; bluejay's own proxy serves no users.
type GatewayAPIRouter struct {
	// ParentRefs are the Gateways (or listeners of one) the routes attach
	// to. Required: at least one.
	ParentRefs []GatewayParent `yaml:"parentRefs"`
	// AcceptTimeout bounds how long a change waits for every parent's
	// Gateway to report the route Accepted, with its references resolved,
	// at the new generation: a change counts as live only then, and a
	// parent that rejects it fails the change with the Gateway's reason.
	// Default 30s; 0 does not wait for the Gateway (the change counts as
	// live once the API server stored it).
	AcceptTimeout Duration `yaml:"acceptTimeout"`
}

// GatewayParent names a Gateway, and optionally one of its listeners.
type GatewayParent struct {
	// Name is the Gateway's name. Required.
	Name string `yaml:"name"`
	// Namespace is the Gateway's namespace. Default: the route's.
	Namespace string `yaml:"namespace"`
	// SectionName names one listener of the Gateway. Default: all.
	SectionName string `yaml:"sectionName"`
	// Port selects the Gateway's listeners on this port. Default: all.
	Port int `yaml:"port"`
}

// Namespace is where a service's objects live.
func (k KubernetesConfig) NamespaceOf(s *Service) string {
	if p := s.Platform.Kubernetes; p != nil && p.Namespace != "" {
		return p.Namespace
	}
	return k.Namespace
}

// applyDefaults fills the platform's unset fields.
func (p *KubernetesPlatform) applyDefaults(d defaulter, path string) {
	if p.Replicas == 0 { // 0 means the default even when written
		p.Replicas = 1
	}
	d.int(&p.Port, path+".port", 8080)
	d.duration(&p.StopGrace, path+".stopGrace", 30*time.Second)
}

func (g *GatewayAPIRouter) applyDefaults(d defaulter) {
	d.duration(&g.AcceptTimeout, "router.gatewayAPI.acceptTimeout", 30*time.Second)
}

// kubeTemplateFields are the fields an image, arg or env template may use.
var kubeTemplateFields = []string{"Version", "Service"}

// kubernetesPlatform checks a service's kubernetes platform.
func (c *checker) kubernetesPlatform(p *KubernetesPlatform, path string) {
	if strings.TrimSpace(p.Image) == "" {
		c.add(path+".image", "an image is required, such as registry.example.com/web:{{.Version}}")
	}
	c.fieldsTemplate(p.Image, path+".image", kubeTemplateFields)
	for i, a := range p.Args {
		c.fieldsTemplate(a, indexPath(path+".args", i), kubeTemplateFields)
	}
	for _, k := range sortedKeys(p.Env) {
		at := joinPath(path+".env", k)
		if !envName.MatchString(k) {
			c.add(at, "invalid environment variable name %q: want letters, digits and '_', not starting with a digit", k)
		}
		c.fieldsTemplate(p.Env[k], at, kubeTemplateFields)
	}
	if p.Port < 1 || p.Port > 65535 {
		c.add(path+".port", "port must be 1-65535, got %d", p.Port)
	}
	c.atLeast(p.Replicas, 1, path+".replicas")
	if p.Namespace != "" && !dnsLabel.MatchString(p.Namespace) {
		c.add(path+".namespace", "invalid namespace %q: want lower-case letters, digits and '-', at most 63 characters", p.Namespace)
	}
	for _, res := range []struct {
		name string
		m    map[string]string
	}{{"requests", p.Requests}, {"limits", p.Limits}} {
		for _, k := range sortedKeys(res.m) {
			if _, err := resource.ParseQuantity(res.m[k]); err != nil {
				c.add(joinPath(path+"."+res.name, k), "invalid quantity %q for %s: %v (such as 100m or 128Mi)", res.m[k], k, err)
			}
		}
	}
	if p.StopGrace < 0 {
		c.add(path+".stopGrace", "must be 0 or more, such as 30s")
	}
}

// dnsLabel is a Kubernetes namespace or object name (RFC 1123 label).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// gatewayAPIRouter checks the router's settings and refuses service
// features an HTTPRoute cannot express.
func (c *checker) gatewayAPIRouter(g *GatewayAPIRouter, cfg *Config) {
	const p = "router.gatewayAPI"
	if len(g.ParentRefs) == 0 {
		c.add(p+".parentRefs", "at least one parentRef is required: the Gateway the routes attach to, such as {name: public, namespace: infra}")
	}
	for i, ref := range g.ParentRefs {
		at := indexPath(p+".parentRefs", i)
		if !dnsSubdomain(ref.Name) {
			c.add(at+".name", "a Gateway name is required (lower-case letters, digits, '-' and '.'), got %q", ref.Name)
		}
		if ref.Namespace != "" && !dnsLabel.MatchString(ref.Namespace) {
			c.add(at+".namespace", "invalid namespace %q", ref.Namespace)
		}
		if ref.Port < 0 || ref.Port > 65535 {
			c.add(at+".port", "port must be 1-65535, got %d", ref.Port)
		}
	}
	if g.AcceptTimeout < 0 {
		c.add(p+".acceptTimeout", "must be 0 or more, such as 30s")
	}
	for i := range cfg.Services {
		c.gatewayService(&cfg.Services[i], indexPath("services", i))
	}
}

// gatewayService refuses what an HTTPRoute cannot do for a service, at
// the field that asks for it.
func (c *checker) gatewayService(s *Service, path string) {
	const other = "; remove it or use the builtin, NGINX or HAProxy router"
	if s.Platform.Kubernetes == nil {
		c.add(path+".platform", "router.gatewayAPI routes to each version's Service, which platform.kubernetes creates: set platform.kubernetes")
	}
	if s.Sticky != nil {
		c.add(path+".sticky", "router.gatewayAPI cannot keep users on one version as the weights move (HTTPRoute session persistence is experimental and pins a user to a backend, not to a bucket)"+other)
	}
	if s.Shield != nil {
		c.add(path+".shield", "router.gatewayAPI cannot retry a failed request on the stable version while counting the failure against the new one"+other)
	}
	if s.Outlier != nil {
		c.add(path+".outlier", "router.gatewayAPI has no outlier ejection (readiness probes take failing pods out of their Service instead)"+other)
	}
	for j := range s.Canary.Steps {
		if h := s.Canary.Steps[j].SetHeaderRoute; h != nil && h.Cookie != "" && h.Regex != "" {
			c.add(indexPath(path+".canary.steps", j)+".setHeaderRoute.regex", "router.gatewayAPI matches cookies with a regular expression over the Cookie header, which cannot embed another one: use exact or prefix")
		}
	}
}

// kubernetes checks that the platform and the router fit together.
func (c *checker) kubernetes(cfg *Config) {
	if cfg.Kubernetes.Namespace != "" && !dnsLabel.MatchString(cfg.Kubernetes.Namespace) {
		c.add("kubernetes.namespace", "invalid namespace %q: want lower-case letters, digits and '-', at most 63 characters", cfg.Kubernetes.Namespace)
	}
	if name := cfg.Router.Name(); name == "nginx" || name == "haproxy" {
		for i, s := range cfg.Services {
			if s.Platform.Kubernetes != nil {
				c.add(indexPath("services", i)+".platform.kubernetes", "platform.kubernetes runs versions behind Services, which router.%s cannot route to by weight: use router.gatewayAPI (or the builtin proxy, run in the cluster)", name)
			}
		}
	}
}

func dnsSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(part) {
			return false
		}
	}
	return true
}

// fieldsTemplate checks one templated string against the fields allowed.
func (c *checker) fieldsTemplate(text, path string, fields []string) {
	fs, _ := c.templateFields(text, path)
	for _, f := range fs {
		if !slices.Contains(fields, f) {
			c.add(path, "unknown template field .%s (known: .%s)", f, strings.Join(fields, ", ."))
		}
	}
}
