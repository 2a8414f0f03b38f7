package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

const (
	// gatewayModule ships the CRDs in config/crd/standard.
	gatewayModule = "sigs.k8s.io/gateway-api"
	// gatewayVersion is go.mod's, used only when the go command cannot
	// say where the module is.
	gatewayVersion = "v1.6.3"
	// crdTimeout bounds how long the CRDs may take to be established
	// and served.
	crdTimeout = 30 * time.Second
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installGatewayCRDs creates the Gateway API standard CRDs and waits
// until each is established and HTTPRoute is in discovery, so that a
// test's first request for a route does not race the apiserver.
// Documents of other kinds in those files (a ValidatingAdmissionPolicy
// that guards upgrades) are left out.
func installGatewayCRDs(cfg *rest.Config) error {
	dir, err := gatewayCRDDir()
	if err != nil {
		return err
	}
	crds, err := readCRDs(dir)
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no CustomResourceDefinition in %s", dir)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), crdTimeout)
	defer cancel()
	for _, crd := range crds {
		_, err := dyn.Resource(crdResource).Create(ctx, crd, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, dyn, crd.GetName()); err != nil {
			return err
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	return waitServed(ctx, dc, "gateway.networking.k8s.io/v1", "httproutes")
}

// gatewayCRDDir returns the module's config/crd/standard: where the go
// command says the module is (the tests run inside bluejay's module),
// else in the module cache at gatewayVersion.
func gatewayCRDDir() (string, error) {
	sub := filepath.Join("config", "crd", "standard")
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", gatewayModule)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if d := strings.TrimSpace(string(out)); err == nil && d != "" {
		return filepath.Join(d, sub), nil
	}
	dir := filepath.Join(modCache(), gatewayModule+"@"+gatewayVersion, sub)
	if _, statErr := os.Stat(dir); statErr != nil {
		return "", fmt.Errorf("finding %s: go list -m: %v %s; and %v", gatewayModule, err, strings.TrimSpace(stderr.String()), statErr)
	}
	return dir, nil
}

// modCache is the module cache by the go command's rule, without asking
// it: $GOMODCACHE, else the first GOPATH's pkg/mod.
func modCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.Join(filepath.SplitList(p)[0], "pkg", "mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}

// readCRDs decodes every CustomResourceDefinition in the YAML files of
// dir, in file name order.
func readCRDs(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var crds []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("reading %s: %w", f, err)
			}
			u := &unstructured.Unstructured{Object: obj}
			if obj != nil && u.GetAPIVersion() == "apiextensions.k8s.io/v1" && u.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, u)
			}
		}
	}
	return crds, nil
}

// waitEstablished polls the CRD called name until its Established
// condition is True.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	return poll(ctx, "CRD "+name+" established", func() (bool, error) {
		u, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// waitServed polls discovery until groupVersion lists resource.
func waitServed(ctx context.Context, dc discovery.DiscoveryInterface, groupVersion, resource string) error {
	return poll(ctx, groupVersion+" "+resource+" served", func() (bool, error) {
		list, err := dc.ServerResourcesForGroupVersion(groupVersion)
		if err != nil {
			return false, err
		}
		for _, r := range list.APIResources {
			if r.Name == resource {
				return true, nil
			}
		}
		return false, nil
	})
}

// poll calls cond every 50ms until it is true or ctx ends; the error is
// then the last one cond returned, if any.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
