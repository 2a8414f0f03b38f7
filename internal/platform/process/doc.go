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
// # Instances outlive a crash of bluejay, which adopts them
//
// Each instance runs in its own process group, so that Stop can signal
// a shell and its children together, and so that a Ctrl-C in bluejay's
// terminal reaches bluejay only, which then decides what to stop. There is
// no Pdeathsig: when bluejay is killed, its instances keep serving — the
// routes a separate `bluejay proxy` follows keep pointing at live
// processes. With SetStateFile the platform records every running
// instance (pid, its start time in /proc, address, replica) in a JSON
// file, rewritten atomically after each start, exit and stop; Adopt, at
// the next start, takes over each listed process that still runs and is
// the same process (a reused pid has another start time), watches it for
// its exit by polling (it is no longer bluejay's child), and stops those
// of services no longer configured. A replica that died meanwhile is
// started again by the next Deploy. A command that forks should exec its
// server (sh -c 'exec app ...'), so that the pid recorded is the server's.
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
