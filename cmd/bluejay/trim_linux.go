//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseExecutablePages calls madvise(MADV_DONTNEED) on every mapping
// of the executable that is neither writable nor shared (its code and
// read-only data), and returns the bytes of the ranges released. For a
// private file mapping never written, the kernel drops the page table
// entries only; a later access maps the same file page again.
func releaseExecutablePages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var total int
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := readOnlyMapping(sc.Text(), exe)
		if !ok {
			continue
		}
		// Not huge pages first: the kernel maps a file's large folios
		// whole (2 MiB at a time), so that a few reads of scattered
		// function tables would map all of them again.
		for _, advice := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_DONTNEED} {
			if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, advice); e != 0 {
				return total, fmt.Errorf("madvise %#x-%#x: %w", lo, hi, e)
			}
		}
		total += int(hi - lo)
	}
	return total, sc.Err()
}

// readOnlyMapping parses a line of /proc/self/maps ("lo-hi perms offset
// dev inode path") and says whether it maps path private and read-only.
func readOnlyMapping(line, path string) (lo, hi uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || strings.Join(f[5:], " ") != path {
		return 0, 0, false
	}
	perms := f[1]
	if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
		return 0, 0, false
	}
	a, b, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
