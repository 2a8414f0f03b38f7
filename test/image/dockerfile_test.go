// Package image builds bluejay's Dockerfile and runs the image, apart
// from test/e2e so that its minutes of compiling have their own test
// timeout.
package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bluejay-deploy/bluejay/internal/dockertest"
)

// TestDockerfile builds the repository's Dockerfile and runs the image's
// `bluejay validate` on the one-host example config, as a non-root user.
// No registry is reachable here, so its build stage's GO_IMAGE is a
// toolchain image made locally FROM scratch with this machine's Go, and
// the context carries the modules vendored (go build uses vendor/ when it
// is there); the Dockerfile itself is the one users build.
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles bluejay in a container (minutes)")
	}
	e := dockertest.New(t)
	cli := e.Client(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Compiling all of bluejay in a container takes minutes on a busy
	// machine: end with the build's own error before the test binary's
	// deadline panics.
	deadline := time.Now().Add(14 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	goroot := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	toolchain := []entry{{src: goroot, dst: "usr/local/go"}, {src: "/etc/ssl/certs/ca-certificates.crt", dst: "etc/ssl/certs/ca-certificates.crt"},
		{data: []byte("FROM scratch\nCOPY . /\nENV PATH=/usr/local/go/bin HOME=/tmp GOCACHE=/tmp/gocache GOTOOLCHAIN=local GOFLAGS=-mod=vendor\n"), dst: "Dockerfile"}}
	imageBuild(t, ctx, cli, toolchain, "bjtest/go:local", nil)

	vendor := t.TempDir()
	cmd := exec.Command("go", "mod", "vendor", "-o", filepath.Join(vendor, "vendor"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	files, err := exec.Command("git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var src []entry
	for _, f := range strings.Fields(string(files)) {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			src = append(src, entry{src: filepath.Join(root, f), dst: f})
		}
	}
	src = append(src, entry{src: filepath.Join(vendor, "vendor"), dst: "vendor"})
	goImage := "bjtest/go:local"
	start := time.Now()
	imageBuild(t, ctx, cli, src, "bjtest/bluejay:dev", map[string]*string{"GO_IMAGE": &goImage})
	t.Logf("built the Dockerfile in %s", time.Since(start).Round(time.Second))

	img, err := cli.ImageInspect(ctx, "bjtest/bluejay:dev")
	if err != nil {
		t.Fatal(err)
	}
	if u := img.Config.User; u == "" || strings.HasPrefix(u, "0") || u == "root" {
		t.Errorf("the image runs as %q, want a non-root user", u)
	}
	out, code := runImage(t, ctx, cli, "bjtest/bluejay:dev", []string{"validate", "-c", "/etc/bluejay/bluejay.yaml"},
		[]string{filepath.Join(root, "examples", "docker") + ":/etc/bluejay:ro"})
	if code != 0 || !strings.Contains(out, "bluejay.yaml: ok (1 services)") {
		t.Errorf("bluejay validate in the image: exit %d, output:\n%s", code, out)
	}
	t.Logf("image %s (%d MB): %s", img.ID[:19], img.Size>>20, strings.TrimSpace(out))
}

// entry is one file or tree of a build context: src on disk (or data)
// at dst.
type entry struct {
	src, dst string
	data     []byte
}

// imageBuild streams a tar of entries to the Engine's build and fails t
// on the build's error.
func imageBuild(t *testing.T, ctx context.Context, cli *client.Client, entries []entry, tag string, args map[string]*string) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, entries)) }()
	resp, err := cli.ImageBuild(ctx, pr, build.ImageBuildOptions{Tags: []string{tag}, BuildArgs: args, Remove: true,
		ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		pr.Close()
		t.Fatalf("building %s: %v", tag, err)
	}
	defer resp.Body.Close()
	var log strings.Builder
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct{ Stream, Error string }
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("building %s: %v\n%s", tag, err, log.String())
		}
		log.WriteString(m.Stream)
		if m.Error != "" {
			t.Fatalf("building %s: %s\n%s", tag, m.Error, log.String())
		}
	}
}

func writeTar(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if e.data != nil {
			if err := tw.WriteHeader(&tar.Header{Name: e.dst, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
			continue
		}
		err := filepath.WalkDir(e.src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(e.src, path)
			name := filepath.ToSlash(filepath.Join(e.dst, rel))
			info, err := os.Lstat(path)
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				link, _ = os.Readlink(path)
			}
			h, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			h.Name = name
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				if _, err := io.Copy(tw, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", e.src, err)
		}
	}
	return tw.Close()
}

// runImage runs a container of image with args and binds, waits for it
// and returns its output and exit code.
func runImage(t *testing.T, ctx context.Context, cli *client.Client, image string, args, binds []string) (string, int) {
	t.Helper()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: args}, &container.HostConfig{Binds: binds, NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	var code int
	select {
	case w := <-waitC:
		code = int(w.StatusCode)
	case err := <-errC:
		t.Fatal(err)
	}
	rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b strings.Builder
	demuxLogs(&b, rc)
	return b.String(), code
}

func demuxLogs(w io.Writer, r io.Reader) { stdcopy.StdCopy(w, w, r) }

// moduleRoot walks up from the working directory to the directory
// holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
