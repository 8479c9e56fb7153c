package sysmem

import (
	"fmt"
	"strconv"
	"strings"
)

// Memory is a bound on the memory the process may use, and where it
// comes from.
type Memory struct {
	// Bytes is what the process may use: Limit less Used, at least 0.
	Bytes int64
	// Source names the file and figure the bound comes from, such as
	// "cgroup v2 /sys/fs/cgroup/foo memory.max" or "/proc/meminfo
	// MemAvailable", so that a refusal can say why.
	Source string
	// Limit is the figure read from Source, and Used the usage subtracted
	// from it (0 for MemAvailable, which already leaves out what is used).
	Limit, Used int64
}

// String says how much memory is available and why, e.g. "3.2 GB (cgroup
// v2 /sys/fs/cgroup/foo memory.max 4.0 GB, less 812 MB in use)".
func (m Memory) String() string {
	if m.Used == 0 {
		return fmt.Sprintf("%s (%s)", Format(m.Bytes), m.Source)
	}
	return fmt.Sprintf("%s (%s %s, less %s in use)", Format(m.Bytes), m.Source, Format(m.Limit), Format(m.Used))
}

// Available returns the memory the process may use: the smallest of
// MemAvailable and the room its cgroup's limits leave. It fails only when
// it finds no bound at all (no /proc/meminfo, say, off Linux).
func Available() (Memory, error) { return System{}.Available() }

// Available is the package function Available, reading s's tree.
//
// Every limit from the process's cgroup up to the hierarchy's root
// counts, less the usage of the cgroup that sets it, since a parent's
// limit covers its children's usage together. A limit file that does not
// parse is skipped: a bound nst cannot read must not stop a run, and
// MemAvailable still applies.
func (s System) Available() (Memory, error) {
	all, err := s.memoryBounds()
	if len(all) == 0 {
		return Memory{}, fmt.Errorf("available memory: %w", err)
	}
	best := all[0]
	for _, m := range all[1:] {
		if m.Bytes < best.Bytes {
			best = m
		}
	}
	return best, nil
}

// memoryBounds returns every bound found, MemAvailable first, and the
// error reading MemAvailable.
func (s System) memoryBounds() ([]Memory, error) {
	var all []Memory
	avail, err := s.meminfo("MemAvailable")
	if err == nil {
		all = append(all, Memory{Bytes: avail, Limit: avail, Source: "/proc/meminfo MemAvailable"})
	}
	v2, v1 := s.hierarchies("memory")
	for _, d := range v2 {
		used := s.usage(d+"/memory.current", d+"/memory.stat", "inactive_file")
		for _, name := range []string{"memory.max", "memory.high"} {
			if limit, ok := s.limit(d + "/" + name); ok {
				all = append(all, bound(limit, used, "cgroup v2 "+d+" "+name))
			}
		}
	}
	for _, d := range v1 {
		if limit, ok := s.limit(d + "/memory.limit_in_bytes"); ok {
			used := s.usage(d+"/memory.usage_in_bytes", d+"/memory.stat", "total_inactive_file")
			all = append(all, bound(limit, used, "cgroup v1 "+d+" memory.limit_in_bytes"))
		}
	}
	return all, err
}

// bound is the Memory a limit leaves with used bytes in use.
func bound(limit, used int64, source string) Memory {
	return Memory{Bytes: max(limit-used, 0), Limit: limit, Used: used, Source: source}
}

// limit reads a cgroup memory limit file; ok is false for "max", a value
// of unlimited or more, and a file missing or malformed.
func (s System) limit(p string) (int64, bool) {
	text, err := s.read(p)
	if err != nil || strings.TrimSpace(text) == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil || v < 0 || v >= unlimited {
		return 0, false
	}
	return v, true
}

// usage reads a cgroup's memory usage from file current, less the
// inactive page cache statField of its memory.stat, which the kernel
// reclaims before it runs out (as container tools count a working set);
// 0 where current cannot be read.
func (s System) usage(current, stat, statField string) int64 {
	used, err := s.readInt(current)
	if err != nil || used < 0 {
		return 0
	}
	text, err := s.read(stat)
	if err != nil {
		return used
	}
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || name != statField {
			continue
		}
		if cache, err := strconv.ParseInt(value, 10, 64); err == nil && cache > 0 {
			return max(used-cache, 0)
		}
		break
	}
	return used
}

// meminfo reads a /proc/meminfo field, in bytes.
func (s System) meminfo(field string) (int64, error) {
	text, err := s.read("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil || kb < 0 || kb >= unlimited>>10 {
			return 0, fmt.Errorf("/proc/meminfo: %s: %q is no size in kB", field, strings.TrimSpace(rest))
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/meminfo", field)
}
