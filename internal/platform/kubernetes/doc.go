// Package kubernetes is the Platform that runs versions on a Kubernetes
// cluster: each version of a service is a Deployment named
// SERVICE-VERSION (kube.Name), labelled with the service and the version,
// and a Service of the same name selecting its pods, to which the Gateway
// API router sends the version's share of traffic.
//
// A new version is written by server-side apply (field manager bluejay),
// so Deploy is idempotent; a version whose Deployment exists is only
// scaled (a patch of its replicas), so that a changed config never rolls
// a running version's pods to another build. Reads come
// from an informer's cache of bluejay's Deployments (one watch per
// namespace), which is also how Instances stays cheap enough for the
// controller to call on every tick.
//
// Readiness is the cluster's, not bluejay's: the service's health check
// becomes the pods' readiness probe, the kubelet runs it, and the
// Deployment's status counts the ready pods. The platform therefore has
// the platform.Readiness capability and reports it on each instance;
// bluejay sends no probes of its own. A Deployment whose Progressing
// condition is False (its progress deadline, set to the service's ready
// timeout, passed: pods that crash-loop or whose image cannot be pulled)
// reports its unready instances as exited, with Kubernetes' reason.
//
// Instances are the Deployment's desired replicas, named NAME-0..N-1:
// the first readyReplicas of them are ready (Kubernetes does not say
// which pods are, and bluejay needs only how many). Each one's address is
// the version's Service (NAME.NAMESPACE.svc:PORT), which is where a
// proxy or a smoke test running in the cluster reaches the version.
package kubernetes
