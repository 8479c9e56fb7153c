package sysmem

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestPeakRSS(t *testing.T) {
	tests := []struct {
		name   string
		status string // "" for no file
		want   int64
	}{
		{"VmHWM", "Name:\tnst\nVmPeak:\t  900000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n", 2048 << 10},
		{"no file", "", 0},
		{"no VmHWM", "Name:\tnst\nVmRSS:\t1024 kB\n", 0},
		{"malformed", "VmHWM:\tlots kB\n", 0},
		{"negative", "VmHWM:\t-5 kB\n", 0},
		{"absurd", "VmHWM:\t9223372036854775807 kB\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.status != "" {
				files["/proc/self/status"] = tt.status
			}
			if got := fake(t, files).PeakRSS(); got != tt.want {
				t.Errorf("PeakRSS = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestResetPeakRSS(t *testing.T) {
	s := fake(t, map[string]string{"/proc/self/clear_refs": ""})
	s.ResetPeakRSS()
	got, err := os.ReadFile(filepath.Join(s.Root, "proc/self/clear_refs"))
	if err != nil || string(got) != "5" {
		t.Errorf("clear_refs holds %q, %v; want \"5\"", got, err)
	}
	// Where the file is missing, nothing is created.
	s = fake(t, map[string]string{})
	s.ResetPeakRSS()
	if _, err := os.Stat(filepath.Join(s.Root, "proc/self/clear_refs")); !os.IsNotExist(err) {
		t.Errorf("ResetPeakRSS created clear_refs: %v", err)
	}
}

// sink keeps the test's allocations from being optimised away.
var sink []byte

func TestLiveMeasures(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the measures are read from Linux's /proc and getrusage")
	}
	faults, cpu := MinorFaults(), ProcessCPU()
	// Touching 16 MiB of fresh memory faults its pages in and takes CPU.
	sink = make([]byte, 16<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	deadline := time.Now().Add(2 * time.Second)
	for ProcessCPU() == cpu && time.Now().Before(deadline) {
		for i := range sink {
			sink[i]++
		}
	}
	if got := MinorFaults(); got <= faults {
		t.Errorf("MinorFaults %d after touching 16 MiB, %d before", got, faults)
	}
	if got := ProcessCPU(); got <= cpu {
		t.Errorf("ProcessCPU %v after work, %v before", got, cpu)
	}
	if got := PeakRSS(); got < 16<<20 {
		t.Errorf("PeakRSS = %d with 16 MiB touched", got)
	}
	ResetPeakRSS() // allowed or not, it must not fail
	if got := PeakRSS(); got <= 0 {
		t.Errorf("PeakRSS after reset = %d", got)
	}
	sink = nil
}
