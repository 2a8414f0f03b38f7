package spec

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// Pull policies of the docker platform.
const (
	PullAlways  = "always"
	PullMissing = "missing"
	PullNever   = "never"
)

// DockerPlatform runs each version of a service as containers of an image
// on the Docker Engine of this host (DOCKER_HOST, else its default
// socket), through the Engine API. The containers carry bluejay's labels
// (bluejay.store, bluejay.service, bluejay.version, bluejay.instance), by
// which a restarted bluejay adopts them; a bluejay on another store never
// touches them.
type DockerPlatform struct {
	// Image is the container image, a Go template with {{.Version}} (the
	// version's build) and {{.Service}}, such as
	// registry.example.com/web:{{.Version}}. Required.
	Image string `yaml:"image"`
	// Port is the port the service listens on in the container. Default
	// 8080. With network "host" it is ignored: the container listens on
	// {{.Port}}, a free port bluejay picks, as on the process platform.
	Port int `yaml:"port"`
	// Replicas is how many containers of each version run. Default 1; 0
	// also means 1.
	Replicas int `yaml:"replicas"`
	// Args are appended to the image's entrypoint, templated like Image
	// (and with {{.Port}} and {{.Instance}}). Default none: the image's
	// own command.
	Args []string `yaml:"args"`
	// Env adds environment variables to the containers, templated like
	// Args. Default none.
	Env map[string]string `yaml:"env"`
	// Network is where the containers run: "" (default) the Engine's
	// bridge, with Port published on 127.0.0.1 at a free host port;
	// "host" the host's network, the container listening on {{.Port}};
	// any other name, that user-defined network, reached at the
	// container's address there (bluejay must be on it too).
	Network string `yaml:"network"`
	// Pull says when the image is pulled before a container is created:
	// always, missing (default: only when the Engine lacks it) or never
	// (the image must be there: built or loaded on the host).
	Pull string `yaml:"pull"`
	// PullTimeout bounds one pull; a pull that takes longer fails the
	// deploy with that reason. Default 5m; 0 also means 5m.
	PullTimeout Duration `yaml:"pullTimeout"`
	// Labels are added to the containers' own (bluejay.* are bluejay's).
	// Default none.
	Labels map[string]string `yaml:"labels"`
	// Volumes are mounts in docker's -v form, SOURCE:TARGET[:OPTIONS],
	// with SOURCE a volume name or an absolute host path. Default none.
	Volumes []string `yaml:"volumes"`
	// Resources limit each container. Default none: no limit.
	Resources DockerResources `yaml:"resources"`
	// StopGrace is how long a container has to exit after SIGTERM before
	// the Engine kills it. Default 10s; 0 kills it right away.
	StopGrace Duration `yaml:"stopGrace"`
}

// DockerResources limit a container.
type DockerResources struct {
	// Memory is its memory limit, such as 256m or 1g. Default "": none.
	Memory string `yaml:"memory"`
	// CPUs is how many CPUs it may use, such as "0.5". Default "": no
	// limit.
	CPUs string `yaml:"cpus"`
}

// MemoryBytes is Memory in bytes, 0 for none (validated at load).
func (r DockerResources) MemoryBytes() int64 {
	if r.Memory == "" {
		return 0
	}
	n, _ := units.RAMInBytes(r.Memory)
	return n
}

// NanoCPUs is CPUs in billionths of a CPU, 0 for no limit (validated at
// load).
func (r DockerResources) NanoCPUs() int64 {
	f, _ := strconv.ParseFloat(r.CPUs, 64)
	return int64(f * 1e9)
}

// applyDefaults fills the platform's unset fields.
func (p *DockerPlatform) applyDefaults(d defaulter, path string) {
	if p.Replicas == 0 { // 0 means the default even when written
		p.Replicas = 1
	}
	d.int(&p.Port, path+".port", 8080)
	defaultString(&p.Pull, PullMissing)
	if p.PullTimeout == 0 {
		p.PullTimeout = Duration(5 * time.Minute)
	}
	d.duration(&p.StopGrace, path+".stopGrace", 10*time.Second)
}

// dockerTemplateFields are the fields the image may use; args and env may
// also use Port and Instance.
var dockerTemplateFields = []string{"Version", "Service"}

// dockerName is what the Engine accepts as a network name.
var dockerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// dockerPlatform checks a service's docker platform.
func (c *checker) dockerPlatform(p *DockerPlatform, path string) {
	if strings.TrimSpace(p.Image) == "" {
		c.add(path+".image", "an image is required, such as registry.example.com/web:{{.Version}}")
	}
	c.fieldsTemplate(p.Image, path+".image", dockerTemplateFields)
	for i, a := range p.Args {
		c.fieldsTemplate(a, indexPath(path+".args", i), templateFields)
	}
	for _, k := range sortedKeys(p.Env) {
		at := joinPath(path+".env", k)
		if !envName.MatchString(k) {
			c.add(at, "invalid environment variable name %q: want letters, digits and '_', not starting with a digit", k)
		}
		c.fieldsTemplate(p.Env[k], at, templateFields)
	}
	if p.Port < 1 || p.Port > 65535 {
		c.add(path+".port", "port must be 1-65535, got %d", p.Port)
	}
	c.atLeast(p.Replicas, 1, path+".replicas")
	if p.Network != "" && !dockerName.MatchString(p.Network) {
		c.add(path+".network", `invalid network %q: want "" (publish the port on 127.0.0.1), "host", or a network's name`, p.Network)
	}
	switch p.Pull {
	case PullAlways, PullMissing, PullNever:
	default:
		c.add(path+".pull", "unknown pull policy %q (valid: %s, %s, %s)", p.Pull, PullAlways, PullMissing, PullNever)
	}
	if p.PullTimeout < 0 {
		c.add(path+".pullTimeout", "must be 0 or more, such as 5m")
	}
	for _, k := range sortedKeys(p.Labels) {
		if strings.HasPrefix(k, "bluejay.") {
			c.add(joinPath(path+".labels", k), "labels starting with bluejay. are bluejay's own")
		}
	}
	for i, v := range p.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
			c.add(indexPath(path+".volumes", i), "invalid volume %q: want SOURCE:TARGET[:OPTIONS] with an absolute TARGET, such as data:/var/lib/app or /srv/conf:/etc/app:ro", v)
		}
	}
	if m := p.Resources.Memory; m != "" {
		if n, err := units.RAMInBytes(m); err != nil || n <= 0 {
			c.add(path+".resources.memory", "invalid memory %q: want a size such as 256m or 1g", m)
		}
	}
	if s := p.Resources.CPUs; s != "" {
		if f, err := strconv.ParseFloat(s, 64); err != nil || f <= 0 {
			c.add(path+".resources.cpus", `invalid cpus %q: want a positive number such as "0.5"`, s)
		}
	}
	if p.StopGrace < 0 {
		c.add(path+".stopGrace", "must be 0 or more, such as 10s")
	}
}
