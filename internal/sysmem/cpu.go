package sysmem

import (
	"strconv"
	"strings"
)

// ThreadsPerCPU is how many threads per usable CPU MaxThreads allows.
// nst's threads compute without waiting on anything, so more threads than
// CPUs only take turns; four per CPU leaves room to oversubscribe on
// purpose (a quota that lets bursts through, hyper-threads counted as one)
// while a mistyped runtime.threads of 100000 cannot start that many
// threads, each with its stack and ONNX Runtime's buffers.
const ThreadsPerCPU = 4

// CPULimit returns the number of CPUs the process may use, at least 1,
// and where that number comes from: runtime.NumCPU (the CPUs the process
// may be scheduled on), or a cgroup CPU quota when that is lower (cgroup
// v2 cpu.max, cgroup v1 cpu.cfs_quota_us, at any level up to the root),
// rounded up, since threads can share a fraction of a CPU.
func CPULimit() (n int, source string) { return System{}.CPULimit() }

// CPULimit is the package function CPULimit, reading s's tree. Quota
// files that do not parse are skipped.
func (s System) CPULimit() (n int, source string) {
	n, source = s.numCPU(), "runtime.NumCPU"
	lower := func(cpus int64, src string) {
		if cpus > 0 && cpus < int64(n) {
			n, source = int(cpus), src
		}
	}
	v2, v1 := s.hierarchies("cpu")
	for _, d := range v2 {
		text, err := s.read(d + "/cpu.max")
		if err != nil {
			continue
		}
		// "quota period" in microseconds, or "max period".
		f := strings.Fields(text)
		if len(f) != 2 {
			continue
		}
		quota, err1 := strconv.ParseInt(f[0], 10, 64)
		period, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			lower(cpusOf(quota, period), "cgroup v2 "+d+" cpu.max")
		}
	}
	for _, d := range v1 {
		quota, err1 := s.readInt(d + "/cpu.cfs_quota_us") // -1: no quota
		period, err2 := s.readInt(d + "/cpu.cfs_period_us")
		if err1 == nil && err2 == nil {
			lower(cpusOf(quota, period), "cgroup v1 "+d+" cpu.cfs_quota_us")
		}
	}
	return max(n, 1), source
}

// cpusOf is quota/period rounded up, or 0 for no quota.
func cpusOf(quota, period int64) int64 {
	if quota <= 0 || period <= 0 {
		return 0
	}
	n := quota / period
	if quota%period != 0 {
		n++
	}
	return n
}

// MaxThreads is the most threads runtime.threads may ask for: the usable
// CPUs (CPULimit) times ThreadsPerCPU.
func MaxThreads() int { return System{}.MaxThreads() }

// MaxThreads is the package function MaxThreads, reading s's tree.
func (s System) MaxThreads() int {
	n, _ := s.CPULimit()
	return n * ThreadsPerCPU
}
