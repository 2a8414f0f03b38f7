// Package kube holds what the Kubernetes platform and the Gateway API
// router share: how bluejay connects to a cluster, and how a service's
// version is named and labelled there, so that the router's backendRefs
// name the Services the platform creates.
package kube

import (
	"time"

	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// FieldManager is the name bluejay's server-side applies own fields by.
const FieldManager = "bluejay"

// Labels and annotations on every object bluejay writes.
const (
	// LabelManagedBy is app.kubernetes.io/managed-by: bluejay.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelService names the bluejay service.
	LabelService = "bluejay.dev/service"
	// LabelVersion is the version label, made a valid label value.
	LabelVersion = "bluejay.dev/version"
	// AnnotationVersion is the version label as it is.
	AnnotationVersion = "bluejay.dev/version"
)

// Config returns the REST config of the cluster cfg names: its kubeconfig
// file (and context) if set; else $KUBECONFIG if set; else the pod's
// service account when bluejay runs in a cluster; else ~/.kube/config —
// kubectl's order.
func Config(cfg spec.KubernetesConfig) (*rest.Config, error) {
	if cfg.Kubeconfig == "" && cfg.Context == "" && os.Getenv("KUBECONFIG") == "" {
		if c, err := rest.InClusterConfig(); err == nil {
			return tune(c), nil
		} else if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	if err != nil {
		where := cfg.Kubeconfig
		if where == "" {
			where = "$KUBECONFIG or " + filepath.Join("~", ".kube", "config")
			if _, statErr := os.Stat(filepath.Join(homeDir(), ".kube", "config")); statErr != nil && os.Getenv("KUBECONFIG") == "" {
				return nil, fmt.Errorf("no cluster: bluejay is not in a pod, and neither kubernetes.kubeconfig, $KUBECONFIG nor ~/.kube/config is there")
			}
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	return tune(c), nil
}

// RequestTimeout bounds every request bluejay makes to the API server
// (rest.Config.Timeout), so that a cluster that stops answering fails a
// call instead of hanging the rollout loop. Watches, long by design, use
// WatchConfig.
const RequestTimeout = 30 * time.Second

// tune names bluejay to the API server, bounds each request by
// RequestTimeout, and lifts client-go's default rate limit (5 requests a
// second), which would pace a rollout's applies and reads behind one
// another.
func tune(c *rest.Config) *rest.Config {
	c.UserAgent = "bluejay"
	if c.QPS == 0 {
		c.QPS, c.Burst = 50, 100
	}
	if c.Timeout == 0 {
		c.Timeout = RequestTimeout
	}
	return c
}

// WatchConfig is c for informers' long-running watches: without the
// request timeout, which would cut every watch short (the API server
// ends them itself after its timeoutSeconds, and the informer watches
// again).
func WatchConfig(c *rest.Config) *rest.Config {
	w := rest.CopyConfig(c)
	w.Timeout = 0
	return w
}

func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}

// maxName is the longest object name that is also a DNS label, as a
// Service's name must be.
const maxName = 63

var notName = regexp.MustCompile(`[^a-z0-9]+`)

// Name is the name of the Deployment and the Service that run a version
// of a service: SERVICE-VERSION, lower-cased, with runs of characters a
// DNS label cannot hold made '-'. When that changed the version (v1.2
// and v1-2 would meet), or the name is too long, a short hash of the
// version keeps names apart.
func Name(service, version string) string {
	v := strings.Trim(notName.ReplaceAllString(strings.ToLower(version), "-"), "-")
	name := service + "-" + v
	if v == version && len(name) <= maxName {
		return name
	}
	h := hash(version)
	if len(name) > maxName-len(h)-1 {
		name = strings.TrimRight(name[:maxName-len(h)-1], "-")
	}
	return name + "-" + h
}

// labelValue matches a valid label value of up to 63 characters.
var labelValue = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

// VersionLabel is the version as a label value: itself when it is one,
// else its Name part (the raw version is in AnnotationVersion).
func VersionLabel(service, version string) string {
	if len(version) <= maxName && labelValue.MatchString(version) {
		return version
	}
	return strings.TrimPrefix(Name(service, version), service+"-")
}

// Labels are the labels of a version's objects and pods; Selector picks
// the version's pods by the last two.
func Labels(service, version string) map[string]string {
	return map[string]string{
		LabelManagedBy: FieldManager,
		LabelService:   service,
		LabelVersion:   VersionLabel(service, version),
	}
}

// Selector selects a version's pods.
func Selector(service, version string) map[string]string {
	return map[string]string{LabelService: service, LabelVersion: VersionLabel(service, version)}
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:6]
}
