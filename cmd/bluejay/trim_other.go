//go:build !linux

package main

// releaseExecutablePages does nothing off Linux.
func releaseExecutablePages() (int, error) { return 0, nil }
