package process

import (
	"os"
	"strconv"
	"strings"
)

// procIdentity returns the process's start time (field 22 of
// /proc/PID/stat, in clock ticks since boot) and whether it runs (it
// exists and is not a zombie). A pid reused by a later process has
// another start time.
func procIdentity(pid int) (start uint64, running bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	stat := string(b)
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	// fields[0] is field 3 of proc(5), the state; starttime is field 22.
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 20 {
		return 0, false
	}
	start, _ = strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0] != "Z" && fields[0] != "X"
}

// procStart returns the start time procIdentity compares, 0 if unknown.
func procStart(pid int) uint64 {
	start, _ := procIdentity(pid)
	return start
}
