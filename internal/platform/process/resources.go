package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

var _ platform.Resources = (*Platform)(nil)

// ErrNoProc is returned by Usage and HostMemory where there is no Linux
// /proc to read.
var ErrNoProc = errors.New("resource usage is read from /proc, which only Linux has")

// clockTicks is the unit of the CPU times in /proc/PID/stat: USER_HZ,
// which the kernel fixes at 100 on every architecture Go runs Linux on
// (sysconf(_SC_CLK_TCK), which the go runtime does not expose, returns
// that constant).
const clockTicks = 100

// Usage returns the CPU time and resident memory of the version's running
// instances, summed. Each instance counts its own process only, not
// processes it forked (a command run through a shell should exec its
// server; see the package doc). An instance that exits while it is read
// is left out, so CPUSeconds falls when an instance exits or restarts:
// compare readings with the same number of Instances. A version that
// does not run has zero Usage. Only Linux has the /proc files it reads:
// elsewhere the error is ErrNoProc.
func (p *Platform) Usage(service, version string) (platform.Usage, error) {
	if !haveProc {
		return platform.Usage{}, ErrNoProc
	}
	type proc struct {
		id  string
		pid int
	}
	p.mu.Lock()
	var procs []proc
	for _, inst := range p.versions[key{service, version}] {
		if inst != nil && inst.info.State == platform.StateRunning {
			procs = append(procs, proc{inst.info.ID, inst.info.PID})
		}
	}
	p.mu.Unlock()

	u := platform.Usage{At: time.Now()}
	for _, pr := range procs {
		cpu, rss, running, err := readUsage(pr.pid)
		if err != nil {
			return platform.Usage{}, fmt.Errorf("reading usage of %s: %w", pr.id, err)
		}
		if running {
			u.CPUSeconds += cpu
			u.RSSBytes += rss
			u.Instances++
		}
	}
	return u, nil
}

// parseStat returns the CPU time, user and system, from the contents of
// /proc/PID/stat, and whether the process is still running (not a zombie
// waiting to be reaped). The command name, in parentheses, may hold
// spaces and parentheses itself, so the fields are counted from the last
// ')'.
func parseStat(stat string) (cpuSeconds float64, running bool, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parsing stat %q: no command name", stat)
	}
	// fields[0] is field 3 of proc(5), the state; utime and stime are
	// fields 14 and 15.
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 13 {
		return 0, false, fmt.Errorf("parsing stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("parsing stat: %w", err)
		}
		ticks += n
	}
	state := fields[0]
	return float64(ticks) / clockTicks, state != "Z" && state != "X", nil
}

// parseStatm returns the resident memory from the contents of
// /proc/PID/statm, given the page size.
func parseStatm(statm string, pageSize int) (int64, error) {
	fields := strings.Fields(statm)
	if len(fields) < 2 {
		return 0, fmt.Errorf("parsing statm %q: want at least 2 fields", statm)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing statm: %w", err)
	}
	return pages * int64(pageSize), nil
}

// parseMemTotal returns MemTotal in bytes from the contents of
// /proc/meminfo.
func parseMemTotal(meminfo string) (int64, error) {
	for line := range strings.Lines(meminfo) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		kb, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return 0, fmt.Errorf("parsing meminfo: MemTotal %q, want a number of kB", strings.TrimSpace(rest))
		}
		return kb * 1024, nil
	}
	return 0, errors.New("parsing meminfo: no MemTotal")
}
