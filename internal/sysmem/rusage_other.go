//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sysmem

import "time"

// MinorFaults is 0: this platform has no getrusage.
func MinorFaults() int64 { return 0 }

// ProcessCPU is 0: this platform has no getrusage.
func ProcessCPU() time.Duration { return 0 }
