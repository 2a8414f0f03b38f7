//go:build !linux

package process

// haveProc says whether the /proc files that Usage reads exist.
const haveProc = false

// HostMemory returns the host's total memory in bytes on Linux; here, the
// error ErrNoProc.
func HostMemory() (int64, error) { return 0, ErrNoProc }

func readUsage(int) (cpuSeconds float64, rss int64, running bool, err error) {
	return 0, 0, false, ErrNoProc
}
