package sysmem

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is the process's peak resident memory in bytes (VmHWM in
// /proc/self/status), or 0 where /proc does not say. It replaces
// pipeline's peakRSS.
func PeakRSS() int64 { return System{}.PeakRSS() }

// PeakRSS is the package function PeakRSS, reading s's tree.
func (s System) PeakRSS() int64 {
	kb, err := s.procStatus("VmHWM")
	if err != nil || kb < 0 || kb > 1<<53 {
		return 0
	}
	return kb << 10
}

// ResetPeakRSS restarts PeakRSS's count from the current resident memory
// (writing 5 to /proc/self/clear_refs); it does nothing where that is not
// allowed or not Linux. It replaces pipeline's resetPeakRSS: a benchmark
// resets it between sizes so that each size's peak is its own.
func ResetPeakRSS() { System{}.ResetPeakRSS() }

// ResetPeakRSS is the package function ResetPeakRSS, writing into s's
// tree. The file is never created: where it is missing nothing happens.
func (s System) ResetPeakRSS() {
	f, err := os.OpenFile(s.file("/proc/self/clear_refs"), os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write([]byte("5"))
}

// procStatus reads a /proc/self/status field given in kB.
func (s System) procStatus(field string) (int64, error) {
	text, err := s.read("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		name, rest, ok := strings.Cut(line, ":")
		if ok && name == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc/self/status")
}
