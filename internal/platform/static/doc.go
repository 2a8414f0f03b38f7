// Package static is the static platform adapter: the instances of a
// version are addresses that something else runs (another host, a
// container runtime, a process started by hand). bluejay only routes to
// them; it never starts or stops anything.
//
// A version's targets come from Version.Targets (bluejay deploy
// --target) or, failing that, from the config
// (platform.static.targets), set with SetTargets. Each target is one
// running instance with the ID SERVICE-VERSION-N; health checks decide
// whether it is ready.
package static
