// Package platform defines the Platform port: how bluejay runs the
// versions of a service. Adapters live in sub-packages: process (local
// child processes), static (addresses run by something else) and
// kubernetes (Deployments).
package platform

import (
	"context"
	"time"
)

// Platform runs versions of services.
type Platform interface {
	// Deploy makes the version's instances run: it starts the missing
	// ones and restarts any that exited. It is idempotent and returns once
	// the instances are started (not necessarily ready).
	Deploy(ctx context.Context, v Version) error
	// Instances lists the version's instances, including exited ones. An
	// error means they could not be listed (the cluster's API did not
	// answer): the caller must take them as unknown, never as none.
	Instances(service, version string) ([]Instance, error)
	// Stop stops every instance of the version and forgets it. Stopping a
	// version that does not run is not an error.
	Stop(ctx context.Context, service, version string) error
}

// Owner is the optional capability of a platform that runs the instances
// itself, so that an address it does not report running does not run
// (the process platform; not static, whose targets run elsewhere). After
// a restart, the controller drops such addresses from the stored routes
// before routing to them. Found by type assertion.
type Owner interface {
	// OwnsInstances marks the capability; it does nothing.
	OwnsInstances()
}

// Version is one immutable build of a service and how to run it.
type Version struct {
	// Service names the service.
	Service string `json:"service"`
	// Label names the version (v2, 1.4.0, a git sha): its identity in
	// the platform, the route and the metrics.
	Label string `json:"label"`
	// Build is the build the instances run when it differs from Label:
	// a canary's dedicated baseline is labelled v1-baseline and runs v1.
	// "" means Label. The process platform's {{.Version}} is Build.
	Build string `json:"build,omitempty"`
	// Args are appended to the process platform's command for this
	// version only (e.g. fault flags in a test). Ignored by static.
	Args []string `json:"args,omitempty"`
	// Targets are the instances' addresses on the static platform.
	Targets []string `json:"targets,omitempty"`
	// Replicas, when more than 0, is how many instances Deploy keeps:
	// it starts missing ones and stops the highest-numbered extra ones
	// (the rolling strategy scales versions this way). 0 means the
	// platform's configured count. Ignored by static.
	Replicas int `json:"replicas,omitempty"`
}

// BuildOf returns the build the version's instances run.
func (v Version) BuildOf() string {
	if v.Build != "" {
		return v.Build
	}
	return v.Label
}

// State is an instance's life-cycle state as the platform sees it.
// Readiness is not a platform state: health checks decide it.
type State string

// Instance states.
const (
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Instance is one running copy of a version.
type Instance struct {
	// ID is unique within the platform, e.g. web-v2-0.
	ID string `json:"id"`
	// Version is the version label.
	Version string `json:"version"`
	// Addr is the host:port the instance serves on.
	Addr string `json:"addr"`
	// State is running or exited.
	State State `json:"state"`
	// PID is the process id on the process platform, 0 elsewhere.
	PID int `json:"pid,omitempty"`
	// Restarts counts how often Deploy restarted this instance.
	Restarts int `json:"restarts,omitempty"`
	// LastExit says why the instance last exited ("exit status 1"),
	// "" if it never did.
	LastExit string `json:"lastExit,omitempty"`
	// Started is when the current process started.
	Started time.Time `json:"started"`
	// LogPath is the file the instance's output goes to, if any.
	LogPath string `json:"logPath,omitempty"`
	// Spec identifies what the instance was started with (command, args,
	// env, image) on a platform with the Specs capability: two instances
	// with the same Spec run the same thing. "" when unknown.
	Spec string `json:"spec,omitempty"`
	// Ready is the instance's readiness as a platform with the Readiness
	// capability sees it; other platforms leave it false and bluejay's
	// health checks decide.
	Ready bool `json:"ready,omitempty"`
}

// Readiness is the optional capability of a platform that knows its
// instances' readiness itself and reports it in Instance.Ready
// (Kubernetes: the kubelet runs the readiness probes and the
// Deployment's status counts the ready pods). bluejay then sends no
// probes of its own, and a platform that removes an instance from
// service drains it itself, so scaling down needs no drain from bluejay.
// Several instances may share one address (a Service). Found by type
// assertion.
type Readiness interface {
	// ReportsReadiness marks the capability; it does nothing.
	ReportsReadiness()
}

// Specs is the optional capability of a platform that records what each
// instance was started with (Instance.Spec), so that instances started
// with other args, command, env or image are not taken for the version
// as it would start now (the process platform). Found by type assertion.
type Specs interface {
	// SpecOf returns the Spec that instances of v would be started with now.
	SpecOf(v Version) (string, error)
}

// Resources is the optional capability of a Platform that can read its
// instances' resource use. Found by type assertion on a Platform.
type Resources interface {
	// Usage returns the version's instances' cumulative CPU time and
	// current resident memory, summed over its running instances.
	Usage(service, version string) (Usage, error)
}

// Usage is a version's resource use at one moment.
type Usage struct {
	// CPUSeconds is the CPU time (user+system) the running instances
	// used since they started.
	CPUSeconds float64 `json:"cpuSeconds"`
	// RSSBytes is their resident memory now.
	RSSBytes int64 `json:"rssBytes"`
	// Instances is how many running instances were read.
	Instances int `json:"instances"`
	// At is when it was read.
	At time.Time `json:"at"`
}
