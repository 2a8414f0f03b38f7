package process_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

func usage(t *testing.T, p *process.Platform, version string) platform.Usage {
	t.Helper()
	u, err := p.Usage("web", version)
	if err != nil {
		t.Fatalf("Usage(web, %s): %v", version, err)
	}
	return u
}

func TestUsageOfRunningInstances(t *testing.T) {
	p, _ := newPlatform(t, process.Config{Replicas: 2})
	insts := deploy(t, p, platform.Version{Service: "web", Label: "v1"})
	for _, inst := range insts {
		waitStatus(t, inst.Addr, "/healthz", 200)
	}

	before := usage(t, p, "v1")
	if before.Instances != 2 {
		t.Errorf("Instances = %d, want the 2 replicas", before.Instances)
	}
	if before.RSSBytes <= 2<<20 {
		t.Errorf("RSSBytes = %d, want more than 1 MiB for each of 2 Go servers", before.RSSBytes)
	}
	if before.CPUSeconds < 0 {
		t.Errorf("CPUSeconds = %v, want >= 0", before.CPUSeconds)
	}
	if age := time.Since(before.At); age < 0 || age > time.Minute {
		t.Errorf("At = %v, want about now", before.At)
	}

	// CPU time is counted in 10ms ticks: serve requests until it grows.
	var after platform.Usage
	waitFor(t, "the instances' CPU time to grow", func() bool {
		for range 50 {
			for _, inst := range insts {
				get(inst.Addr, "/")
			}
		}
		after = usage(t, p, "v1")
		return after.CPUSeconds > before.CPUSeconds
	})
	t.Logf("before %+v, after %+v", before, after)
}

func TestUsageOfStoppedAndExitedVersions(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	deploy(t, p, platform.Version{Service: "web", Label: "v1"})
	if err := p.Stop(t.Context(), "web", "v1"); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, p, "v1"); u.Instances != 0 || u.CPUSeconds != 0 || u.RSSBytes != 0 {
		t.Errorf("stopped version: %+v, want zero", u)
	}
	deploy(t, p, platform.Version{Service: "web", Label: "v2", Args: []string{"--exit-on-start"}})
	waitExited(t, p, "web", "v2")
	if u := usage(t, p, "v2"); u.Instances != 0 {
		t.Errorf("exited version: %+v, want no instances", u)
	}
	if u := usage(t, p, "never"); u.Instances != 0 {
		t.Errorf("unknown version: %+v, want no instances", u)
	}
}

func TestHostMemory(t *testing.T) {
	total, err := process.HostMemory()
	if err != nil {
		t.Fatal(err)
	}
	if total < 64<<20 {
		t.Errorf("HostMemory = %d bytes, want at least 64 MiB", total)
	}
}
