package process

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
)

// haveProc says whether the /proc files that Usage reads exist.
const haveProc = true

// HostMemory returns the host's total memory in bytes (MemTotal in
// /proc/meminfo), against which a version's RSSBytes is a share. Only
// Linux has it: elsewhere the error is ErrNoProc.
func HostMemory() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	return parseMemTotal(string(b))
}

// readUsage reads the CPU time and resident memory of process pid.
// running is false when the process is gone or a zombie: it exited
// before its waiter reaped it and marked its instance exited.
func readUsage(pid int) (cpuSeconds float64, rss int64, running bool, err error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	stat, err := os.ReadFile(dir + "stat")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	cpuSeconds, running, err = parseStat(string(stat))
	if err != nil || !running {
		return 0, 0, false, err
	}
	statm, err := os.ReadFile(dir + "statm")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	rss, err = parseStatm(string(statm), os.Getpagesize())
	if err != nil {
		return 0, 0, false, err
	}
	return cpuSeconds, rss, true, nil
}
