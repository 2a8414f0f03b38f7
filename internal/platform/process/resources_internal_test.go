package process

import (
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 123 1000000 300"
	tests := []struct {
		name    string
		stat    string
		cpu     float64
		running bool
		wantErr string
	}{
		{"plain", "42 (app) S" + tail, 3, true, ""},
		{"name with spaces and parentheses", "42 (my (odd) app) R" + tail, 3, true, ""},
		{"zombie", "42 (app) Z" + tail, 3, false, ""},
		{"no name", "42 app S" + tail, 0, false, "no command name"},
		{"truncated", "42 (app) S 1 1", 0, false, "fields"},
		{"not a number", "42 (app) S" + strings.Replace(tail, "250", "x", 1), 0, false, "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, running, err := parseStat(tt.stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || cpu != tt.cpu || running != tt.running {
				t.Errorf("parseStat = %v, %v, %v; want %v, %v, nil", cpu, running, err, tt.cpu, tt.running)
			}
		})
	}
}

func TestParseStatm(t *testing.T) {
	if got, err := parseStatm("765 408 379 5 0 123 0\n", 4096); err != nil || got != 408*4096 {
		t.Errorf("parseStatm = %d, %v; want %d", got, err, 408*4096)
	}
	if _, err := parseStatm("765", 4096); err == nil {
		t.Error("parseStatm of one field: no error")
	}
}

func TestParseMemTotal(t *testing.T) {
	meminfo := "MemTotal:       24683656 kB\nMemFree:         1000 kB\n"
	if got, err := parseMemTotal(meminfo); err != nil || got != 24683656*1024 {
		t.Errorf("parseMemTotal = %d, %v; want %d", got, err, 24683656*1024)
	}
	for _, bad := range []string{"MemFree: 1 kB\n", "MemTotal: lots\n", "MemTotal: 12 MB\n"} {
		if _, err := parseMemTotal(bad); err == nil {
			t.Errorf("parseMemTotal(%q): no error", bad)
		}
	}
}
