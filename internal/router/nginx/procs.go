package nginx

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// shuttingDown is in the process title of a worker that stopped
// accepting and finishes its requests before it exits.
const shuttingDown = "shutting down"

// children returns the pids of master's child processes (its workers,
// and cache processes if any), from /proc; none where /proc is missing.
func children(master int) []int {
	// The master is single-threaded: its main thread's children are all.
	m := strconv.Itoa(master)
	if data, err := os.ReadFile("/proc/" + m + "/task/" + m + "/children"); err == nil {
		var out []int
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return out
	}
	// Kernels without CONFIG_PROC_CHILDREN: scan every process.
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, st := range stats {
		pid, ppid, ok := readStat(st)
		if ok && ppid == master {
			out = append(out, pid)
		}
	}
	return out
}

// isChild reports whether pid is still a child of master.
func isChild(master, pid int) bool {
	_, ppid, ok := readStat("/proc/" + strconv.Itoa(pid) + "/stat")
	return ok && ppid == master
}

// readStat reads a /proc/PID/stat file's pid and parent pid.
func readStat(path string) (pid, ppid int, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[i+1:]))
	open := bytes.IndexByte(data, '(')
	if len(fields) < 2 || open < 1 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	ppid, err2 := strconv.Atoi(fields[1])
	return pid, ppid, err1 == nil && err2 == nil
}

// retired reports whether every process in old has left master or
// titles itself shutting down: none of them accepts new connections.
func retired(master int, old []int) bool {
	for _, pid := range old {
		if !isChild(master, pid) {
			continue
		}
		title, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		if !bytes.Contains(title, []byte(shuttingDown)) {
			return false
		}
	}
	return true
}
