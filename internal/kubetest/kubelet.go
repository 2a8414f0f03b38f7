package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/client-go/util/retry"
)

// resyncEvery is how often Kubelet asks ready again of every Deployment
// even without a change to it, so that a ready that reads something else
// (a flag the test flips) takes effect within that time.
const resyncEvery = 250 * time.Millisecond

// Kubelet stands in for the kubelet and the deployment controller, which
// do not run here: it watches Deployments in ns and writes each one's
// status as those would once its pods are up: observedGeneration =
// generation, replicas = updatedReplicas = spec.replicas, and
// readyReplicas = availableReplicas = spec.replicas when ready(d) is
// true, else 0 (unavailableReplicas the rest), with conditions Available
// True or False and Progressing True. ready nil means always ready.
//
// ready is asked on every change to a Deployment and every 250ms besides.
// It is called from Kubelet's goroutine, so what it reads must be safe
// to share. Kubelet runs until t's cleanup, which stops it and waits for
// it.
func Kubelet(t testing.TB, cs kubernetes.Interface, ns string, ready func(*appsv1.Deployment) bool) {
	t.Helper()
	if ready == nil {
		ready = func(*appsv1.Deployment) bool { return true }
	}
	k := &kubelet{t: t, ns: ns, deps: cs.AppsV1().Deployments(ns), ready: ready}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

type kubelet struct {
	t     testing.TB
	ns    string
	deps  typedappsv1.DeploymentInterface
	ready func(*appsv1.Deployment) bool
}

// run lists and syncs every Deployment, then follows a watch from that
// list, and starts over whenever the watch ends, until ctx does.
func (k *kubelet) run(ctx context.Context) {
	for ctx.Err() == nil {
		rv, err := k.syncAll(ctx)
		if err == nil {
			err = k.follow(ctx, rv)
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		k.t.Logf("kubetest: kubelet in %s: %v", k.ns, err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond): // not a hot loop against a failing apiserver
		}
	}
}

// syncAll syncs every Deployment in the namespace and returns the
// list's resource version, for a watch to start from.
func (k *kubelet) syncAll(ctx context.Context) (string, error) {
	list, err := k.deps.List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing deployments: %w", err)
	}
	for i := range list.Items {
		if err := k.sync(ctx, &list.Items[i]); err != nil {
			return "", err
		}
	}
	return list.ResourceVersion, nil
}

// follow syncs each Deployment the watch from rv reports added or
// changed, and all of them every resyncEvery. It returns nil when the
// watch closes (the apiserver ends watches after a while) or ctx ends.
func (k *kubelet) follow(ctx context.Context, rv string) error {
	w, err := k.deps.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watching deployments: %w", err)
	}
	defer w.Stop()
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
			if _, err := k.syncAll(ctx); err != nil {
				return err
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if d, ok := ev.Object.(*appsv1.Deployment); ok {
					if err := k.sync(ctx, d); err != nil {
						return err
					}
				}
			case watch.Error:
				// Typically 410 Gone: rv is too old. run lists again.
				return fmt.Errorf("watching deployments: %w", apierrors.FromObject(ev.Object))
			}
		}
	}
}

// sync writes d's status as its pods would have it, unless it already
// is so. A conflict means d changed meanwhile: it is read again and the
// status worked out anew. A Deployment deleted meanwhile is left be.
func (k *kubelet) sync(ctx context.Context, d *appsv1.Deployment) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		want := podsUp(d, k.ready(d), time.Now())
		if sameStatus(d.Status, want) {
			return nil
		}
		next := d.DeepCopy()
		next.Status = want
		_, err := k.deps.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			latest, getErr := k.deps.Get(ctx, d.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			d = latest
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		return fmt.Errorf("updating the status of deployment %s: %w", d.Name, err)
	}
	return nil
}

// podsUp returns the status the deployment controller would write for d
// once all its pods run, ready or not, at now. Condition transition
// times are kept from d's where the condition's status is unchanged.
func podsUp(d *appsv1.Deployment, ready bool, now time.Time) appsv1.DeploymentStatus {
	replicas := int32(1) // the API's default
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	available := int32(0)
	if ready {
		available = replicas
	}
	avail := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
		Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}
	prog := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name)}
	if !ready {
		avail.Status, avail.Reason, avail.Message = corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
		prog.Reason, prog.Message = "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", d.Name)
	}
	conds := []appsv1.DeploymentCondition{avail, prog}
	for i := range conds {
		c := &conds[i]
		c.LastUpdateTime = metav1.NewTime(now)
		c.LastTransitionTime = c.LastUpdateTime
		for _, old := range d.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            replicas,
		UpdatedReplicas:     replicas,
		ReadyReplicas:       available,
		AvailableReplicas:   available,
		UnavailableReplicas: replicas - available,
		Conditions:          conds,
	}
}

// sameStatus reports whether a and b differ in nothing but condition
// times, so that a status once written is not written again (each write
// is a change the watch would report back).
func sameStatus(a, b appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas ||
		a.UpdatedReplicas != b.UpdatedReplicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.AvailableReplicas != b.AvailableReplicas || a.UnavailableReplicas != b.UnavailableReplicas ||
		len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i, c := range a.Conditions {
		o := b.Conditions[i]
		if c.Type != o.Type || c.Status != o.Status || c.Reason != o.Reason || c.Message != o.Message {
			return false
		}
	}
	return true
}
