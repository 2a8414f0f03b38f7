package main

import (
	"os"
	"strings"
	"testing"
)

func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/bluejay"
	for _, c := range []struct {
		line   string
		lo, hi uintptr
		ok     bool
	}{
		{"00400000-02a4f000 r-xp 00000000 fe:00 123 /usr/bin/bluejay", 0x400000, 0x2a4f000, true},
		{"02a4f000-056cd000 r--p 0264f000 fe:00 123 /usr/bin/bluejay", 0x2a4f000, 0x56cd000, true},
		{"056cd000-05817000 rw-p 052cd000 fe:00 123 /usr/bin/bluejay", 0, 0, false}, // written: never dropped
		{"056cd000-05817000 r--s 052cd000 fe:00 123 /usr/bin/bluejay", 0, 0, false}, // shared
		{"7fee99edb000-7fee99f01000 r--p 00000000 fe:00 9 /usr/lib/libc.so.6", 0, 0, false},
		{"05817000-0789b000 rw-p 00000000 00:00 0", 0, 0, false},
		{"garbage", 0, 0, false},
		{"2000-1000 r-xp 00000000 fe:00 123 /usr/bin/bluejay", 0, 0, false},
	} {
		lo, hi, ok := readOnlyMapping(c.line, exe)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("readOnlyMapping(%q) = %#x, %#x, %v; want %#x, %#x, %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

// TestReleaseExecutablePages drops the test binary's read-only pages and
// keeps running: what it calls next is mapped back from the file.
func TestReleaseExecutablePages(t *testing.T) {
	n, err := releaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("released nothing: no read-only mapping of the executable found")
	}
	if got := strings.Repeat("ok", 2); got != "okok" {
		t.Fatalf("after release: %q", got)
	}
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Fatal(err)
	}
}
