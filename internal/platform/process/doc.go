// Package process is the process platform adapter: it runs each version
// of a service as child processes of bluejay, one per replica, each on
// its own free loopback port.
//
// One Platform serves every service: Configure gives it a service's
// Config (the command template, replicas, environment, directories), and
// the platform.Platform methods then take the service and version as
// arguments. Each instance gets the ID SERVICE-VERSION-N, where N is its
// replica index, and appends its stdout and stderr to
// LOGDIR/SERVICE-VERSION-N.log.
//
// The command and the environment values are Go templates with
// {{.Port}}, {{.Version}}, {{.Service}} and {{.Instance}}; the version's
// Args are appended to the rendered command.
//
// # Instances do not outlive bluejay
//
// Each instance runs in its own process group (so that Stop can signal
// a shell and its children together, and so that a Ctrl-C in bluejay's
// terminal reaches bluejay only, which then stops the instances
// gracefully). On Linux the instance also gets SIGKILL when bluejay
// dies (Pdeathsig), even by SIGKILL: bluejay owns no state in the
// instances and starts them again when it starts, so an orphan would only
// hold a port. Pdeathsig reaches the direct child only; a command that
// forks should exec its server (sh -c 'exec app ...').
//
// # Resource use
//
// The platform implements platform.Resources on Linux: Usage sums each
// running instance's CPU time (utime+stime in /proc/PID/stat) and
// resident memory (/proc/PID/statm), and HostMemory reads MemTotal from
// /proc/meminfo, so a caller can compute a version's share of the host.
// Only the instance's own process is read, one more reason for a command
// that forks to exec its server. Elsewhere both return ErrNoProc.
package process
