//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sysmem

import (
	"syscall"
	"time"
)

// MinorFaults counts the process's minor page faults so far (getrusage),
// or 0 where that fails. It replaces pipeline's minorFaults: the count of
// pages first touched shows memory churn a benchmark should not have.
func MinorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Minflt)
}

// ProcessCPU is the CPU time the process has used so far, user and system
// time of all threads together, or 0 where getrusage fails. It replaces
// pipeline's processCPU.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
