package kubetest

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// GatewayController is the controllerName the stand-in Gateway writes.
const GatewayController = "bluejay.dev/kubetest-gateway"

// Verdict is what the stand-in Gateway says of a route: accepted, or
// refused with a condition reason and message.
type Verdict struct {
	Accepted bool
	Reason   string
	Message  string
}

// Gateway stands in for a Gateway implementation, which does not run
// here: it follows the HTTPRoutes in ns and writes, for each parentRef,
// the status a Gateway controller writes once it has programmed the
// route: Accepted and ResolvedRefs at the route's generation, True when
// decide accepts it (nil: always), else Accepted False with the
// verdict's reason and message. It runs until t's cleanup.
func Gateway(t testing.TB, client gwclient.Interface, ns string, decide func(*gwv1.HTTPRoute) Verdict) {
	t.Helper()
	if decide == nil {
		decide = func(*gwv1.HTTPRoute) Verdict { return Verdict{Accepted: true} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		routes := client.GatewayV1().HTTPRoutes(ns)
		for ctx.Err() == nil {
			w, err := routes.Watch(ctx, metav1.ListOptions{})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // not a hot loop against a failing apiserver
				}
				continue
			}
			for ev := range w.ResultChan() {
				if hr, ok := ev.Object.(*gwv1.HTTPRoute); ok {
					if err := programRoute(ctx, client, hr, decide); err != nil && ctx.Err() == nil {
						t.Logf("kubetest: gateway in %s: %v", ns, err)
					}
				}
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// programRoute writes the route's parent statuses for its generation,
// unless they are there already.
func programRoute(ctx context.Context, client gwclient.Interface, hr *gwv1.HTTPRoute, decide func(*gwv1.HTTPRoute) Verdict) error {
	if hr.DeletionTimestamp != nil || reported(hr) {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := client.GatewayV1().HTTPRoutes(hr.Namespace).Get(ctx, hr.Name, metav1.GetOptions{})
		if err != nil || reported(cur) {
			return err
		}
		v := decide(cur)
		accepted := metav1.Condition{Type: string(gwv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
			Reason: string(gwv1.RouteReasonAccepted), ObservedGeneration: cur.Generation}
		if !v.Accepted {
			accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionFalse, v.Reason, v.Message
		}
		resolved := metav1.Condition{Type: string(gwv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue,
			Reason: string(gwv1.RouteReasonResolvedRefs), ObservedGeneration: cur.Generation}
		cur.Status.Parents = nil
		for _, p := range cur.Spec.ParentRefs {
			st := gwv1.RouteParentStatus{ParentRef: p, ControllerName: GatewayController}
			meta.SetStatusCondition(&st.Conditions, accepted)
			meta.SetStatusCondition(&st.Conditions, resolved)
			cur.Status.Parents = append(cur.Status.Parents, st)
		}
		_, err = client.GatewayV1().HTTPRoutes(cur.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// reported reports whether every parent's status is at the route's
// generation.
func reported(hr *gwv1.HTTPRoute) bool {
	if len(hr.Status.Parents) != len(hr.Spec.ParentRefs) {
		return false
	}
	for _, st := range hr.Status.Parents {
		c := meta.FindStatusCondition(st.Conditions, string(gwv1.RouteConditionAccepted))
		if c == nil || c.ObservedGeneration != hr.Generation {
			return false
		}
	}
	return true
}
