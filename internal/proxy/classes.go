package proxy

import "sync/atomic"

// Class is the outcome of a request to an instance, by status code class,
// as the proxy's per-instance counters count it (see [Proxy.Stats]).
type Class uint8

// Classes of outcome. An upstream's own answer counts by the first digit
// of its status, whatever the status; the proxy's own answers for a
// forwarded request count apart, so that a dashboard can tell a version's
// 502 from the proxy failing to reach it.
const (
	Class1xx Class = iota
	Class2xx
	Class3xx
	Class4xx
	// Class5xx counts the upstream's 5xx answers, and the rare
	// nonstandard statuses of 600 and above, which Counts also treats as
	// errors of the version.
	Class5xx
	// ClassError counts the proxy's own 502 (the upstream could not be
	// reached or broke the exchange) and 504 (it did not answer in time).
	ClassError
	// ClassCanceled counts requests whose client went away before the
	// upstream answered: the proxy's 499, which no client sees.
	ClassCanceled
	// ClassGRPC counts gRPC calls that ended with one of their route's
	// error codes in grpc-status, or without a grpc-status (see
	// grpc.go); a gRPC call that ends otherwise counts as 2xx.
	ClassGRPC

	// NumClasses is the number of classes: the length of
	// [InstanceStats.Codes].
	NumClasses = int(ClassGRPC) + 1
)

var classNames = [NumClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "canceled", "grpc"}

// String returns the class's label: "1xx" to "5xx", "error",
// "canceled" or "grpc".
func (c Class) String() string {
	if int(c) < NumClasses {
		return classNames[c]
	}
	return "unknown"
}

// responseClass returns the class of an upstream's answer with status.
// Go's HTTP client accepts only three-digit statuses, so status is in
// [100, 999].
func responseClass(status int) Class {
	if status < 200 {
		return Class1xx
	}
	return Class(min(status/100, 5) - 1)
}

// failureClass returns the class of the proxy's own answer with status to
// a forwarded request: 499, 502 or 504 (see statusFor).
func failureClass(status int) Class {
	if status == StatusClientClosedRequest {
		return ClassCanceled
	}
	return ClassError
}

// classCounts counts one instance's outcomes by class.
type classCounts [NumClasses]atomic.Int64

// load returns the counts.
func (cc *classCounts) load() [NumClasses]int64 {
	var out [NumClasses]int64
	for i := range cc {
		out[i] = cc[i].Load()
	}
	return out
}
