// Package router defines the Router port: how bluejay tells a data plane
// which share of a service's traffic goes to which version. The builtin
// proxy is the default adapter; NGINX, HAProxy and Gateway API follow.
package router

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"
)

// ErrPending wraps SetRoute's answer when the change is written but its
// data plane has not confirmed it live yet (a Gateway that has not
// accepted the HTTPRoute): the caller may go on and call SetRoute with
// the same route again, which then only checks.
var ErrPending = errors.New("the change is not live yet")

// Router applies a service's traffic split to a data plane.
type Router interface {
	// SetRoute replaces the service's entry atomically: no request sees a
	// half-applied split. It returns once the new split is live.
	SetRoute(ctx context.Context, r Route) error
}

// Batch is the optional capability of a router that applies several
// services' routes in one change (one NGINX reload rather than one per
// service). Found by type assertion.
type Batch interface {
	// SetRoutes replaces the entries of the routes' services, as one
	// SetRoute per route would, and returns once all are live.
	SetRoutes(ctx context.Context, rs []Route) error
}

// Route is one service's entry in the traffic split: what it matches and
// how its requests are shared among its versions.
type Route struct {
	// Service names the service.
	Service string `json:"service"`
	// Host matches the request host without port, case-insensitively.
	// "" matches any host.
	Host string `json:"host,omitempty"`
	// PathPrefix matches the start of the request path. "" means "/".
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Backends are the versions that may receive requests, in pick order:
	// the newest version first. Sticky users fill the buckets in this
	// order, so as the first backend's weight grows, users move to it from
	// the others and never back.
	Backends []Backend `json:"backends"`
	// Sticky, when set, keeps each user on one version. Nil: every
	// request is picked at random by weight.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Rules send requests whose header or cookie matches to a version,
	// before the weights apply. Only these rules are honoured: a client
	// cannot pick a version by sending a header nobody configured.
	Rules []Rule `json:"rules,omitempty"`
	// Mirror, when set, copies a share of the route's requests to a
	// version; the copies' responses are discarded. Nil: no copies.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Shield, when set, retries on its Stable version an idempotent
	// request that failed on another version. Nil: no retries.
	Shield *Shield `json:"shield,omitempty"`
	// Outlier, when set, ejects instances that fail requests in a row.
	Outlier *Outlier `json:"outlier,omitempty"`
	// Protocol is what the data plane speaks to the instances:
	// ProtocolHTTP (HTTP/1.1), ProtocolH2C (HTTP/2 without TLS, by prior
	// knowledge) or ProtocolGRPC (h2c, each call judged by its
	// grpc-status). "" means ProtocolHTTP.
	Protocol string `json:"protocol,omitempty"`
	// GRPCErrorCodes are the grpc-status codes that count a ProtocolGRPC
	// call as an error of its version. Nil means DefaultGRPCErrorCodes;
	// ignored for the other protocols.
	GRPCErrorCodes []uint32 `json:"grpcErrorCodes,omitempty"`
	// Maintenance, when set, answers every request of the route 503 with
	// the operator's page and a Retry-After, without forwarding any:
	// the instances are neither touched nor counted. Nil: traffic flows.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// Hold, when set and until its Until, holds the route's new requests
	// (they wait, unanswered) and then releases them in their order of
	// arrival, when the hold is lifted or Until passes. Nil: no hold.
	Hold *Hold `json:"hold,omitempty"`
}

// Maintenance is a service's maintenance mode: what its users are told.
type Maintenance struct {
	// Message is the plain-text answer; used when Page is "". "" means
	// a short default message naming the service.
	Message string `json:"message,omitempty"`
	// Page is an HTML page served instead of Message. "" means none.
	Page string `json:"page,omitempty"`
	// RetryAfter is the Retry-After header's value in seconds. 0 means
	// no header.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Since is when maintenance began, for status.
	Since time.Time `json:"since"`
}

// Hold holds a route's requests until Until (pause-traffic).
type Hold struct {
	// Until is when held requests are released if the hold has not
	// been lifted before.
	Until time.Time `json:"until"`
}

// Protocols a route speaks to its instances.
const (
	ProtocolHTTP = "http"
	ProtocolH2C  = "h2c"
	ProtocolGRPC = "grpc"
)

// DefaultGRPCErrorCodes are the grpc-status codes that count against a
// version by default: UNKNOWN (2), DEADLINE_EXCEEDED (4), INTERNAL (13),
// UNAVAILABLE (14) and DATA_LOSS (15). The others are the caller's doing
// or the application's answer (NOT_FOUND, INVALID_ARGUMENT, ...).
var DefaultGRPCErrorCodes = []uint32{2, 4, 13, 14, 15}

// grpcCodeNames are the canonical names of the gRPC status codes.
var grpcCodeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// GRPCCodeName returns the canonical name of a grpc-status code
// (UNAVAILABLE for 14), or its number if it has none.
func GRPCCodeName(code uint64) string {
	if code < uint64(len(grpcCodeNames)) {
		return grpcCodeNames[code]
	}
	return strconv.FormatUint(code, 10)
}

// Mirror copies Percent of the requests to Version.
type Mirror struct {
	Version string `json:"version"`
	Percent int    `json:"percent"`
}

// Shield retries Methods on Stable once when they fail elsewhere with a
// connect error or a 5xx.
type Shield struct {
	Stable  string   `json:"stable"`
	Methods []string `json:"methods"`
}

// Outlier ejects an instance after ConsecutiveFailures failed requests
// for BaseEjection, doubling on each repeat up to MaxEjection (seconds).
type Outlier struct {
	ConsecutiveFailures int     `json:"consecutiveFailures"`
	BaseEjection        float64 `json:"baseEjection"`
	MaxEjection         float64 `json:"maxEjection"`
}

// Sticky names where a request's sticky key is found. The key hashes to a
// bucket in [0, 10000) per service, and the bucket picks the version
// against the cumulative weights.
type Sticky struct {
	// Header carries the key (a user id set by a gateway); checked first.
	Header string `json:"header,omitempty"`
	// Cookie carries the key; with Generate, requests without one get a
	// random key in this cookie.
	Cookie string `json:"cookie,omitempty"`
	// Generate gives keyless requests a random key, set in Cookie.
	Generate bool `json:"generate,omitempty"`
	// The generated cookie's attributes: MaxAge in seconds (0: a session
	// cookie), Path ("" means /), Secure, HTTPOnly and SameSite (lax,
	// strict or none; "" means lax).
	MaxAge   int    `json:"maxAge,omitempty"`
	Path     string `json:"path,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	SameSite string `json:"sameSite,omitempty"`
}

// Rule sends matching requests to Version. Exactly one of Header and
// Cookie, and one of Exact, Prefix and Regex, is set.
type Rule struct {
	Header  string `json:"header,omitempty"`
	Cookie  string `json:"cookie,omitempty"`
	Exact   string `json:"exact,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Version string `json:"version"`
}

// Backend is one version's share of a route.
type Backend struct {
	// Version is the version label.
	Version string `json:"version"`
	// Weight is the version's share of new requests relative to the other
	// backends' weights (bluejay uses percentages). 0 means no new
	// requests, but the version may still finish in-flight ones.
	Weight int `json:"weight"`
	// Addrs are the host:port addresses of the version's ready instances.
	Addrs []string `json:"addrs"`
}

// Weights returns the route's weights by version.
func (r Route) Weights() map[string]int {
	w := make(map[string]int, len(r.Backends))
	for _, b := range r.Backends {
		w[b.Version] = b.Weight
	}
	return w
}

// Equal reports whether two routes would route identically.
func (r Route) Equal(o Route) bool {
	return r.Service == o.Service && r.Host == o.Host && r.PathPrefix == o.PathPrefix &&
		slices.EqualFunc(r.Backends, o.Backends, func(a, b Backend) bool {
			return a.Version == b.Version && a.Weight == b.Weight && slices.Equal(a.Addrs, b.Addrs)
		}) && equalPtr(r.Sticky, o.Sticky) && slices.Equal(r.Rules, o.Rules) && equalPtr(r.Mirror, o.Mirror) &&
		equalPtr(r.Outlier, o.Outlier) && (r.Shield == nil) == (o.Shield == nil) &&
		r.Protocol == o.Protocol && slices.Equal(r.GRPCErrorCodes, o.GRPCErrorCodes) &&
		equalMaintenance(r.Maintenance, o.Maintenance) && equalHold(r.Hold, o.Hold) &&
		(r.Shield == nil || r.Shield.Stable == o.Shield.Stable && slices.Equal(r.Shield.Methods, o.Shield.Methods))
}

// EqualEdge reports whether two routes have the same maintenance and hold.
func EqualEdge(a, b Route) bool {
	return equalMaintenance(a.Maintenance, b.Maintenance) && equalHold(a.Hold, b.Hold)
}

func equalMaintenance(a, b *Maintenance) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Since, y.Since = time.Time{}, time.Time{}
	return x == y && a.Since.Equal(b.Since)
}

func equalHold(a, b *Hold) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Until.Equal(b.Until)
}

func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
