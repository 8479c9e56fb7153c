// Package sysmem says how much memory and how many CPUs the process may
// use, and measures what it used.
//
// On Linux the bound on memory is the smaller of the system's
// MemAvailable (/proc/meminfo) and what the process's cgroup leaves: its
// limit (cgroup v2 memory.max and memory.high, cgroup v1
// memory.limit_in_bytes) at every level from the process's own cgroup up
// to the hierarchy's root, less that level's usage. A container or a
// systemd unit sets such limits, and MemAvailable, which counts the whole
// machine, does not see them: a run sized to MemAvailable alone is killed
// by the kernel's OOM killer instead of being refused with a reason.
// The CPU bound is likewise runtime.NumCPU or the cgroup's CPU quota.
//
// Every file is read below System.Root, so that tests can build a fake
// /proc and /sys/fs/cgroup in a temporary folder.
package sysmem

import (
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/nst-project/nst/internal/safefile"
)

// System reads the figures of a Linux system from the files below Root.
// The zero value reads the running system.
type System struct {
	// Root is the folder standing for the file system's root: "" or "/"
	// for the running system, a temporary folder in tests.
	Root string
	// NumCPU is the number of CPUs the process may be scheduled on; nil
	// means runtime.NumCPU, which on Linux honours the affinity mask
	// (taskset, cpusets).
	NumCPU func() int
}

// maxSystemFile bounds a /proc or cgroup file read: mountinfo on a host
// with thousands of mounts runs to megabytes, the others to a few KiB.
const maxSystemFile = 16 << 20

// unlimited is the smallest limit taken for none: cgroup v1 shows "no
// limit" as the largest page-aligned int64 (9223372036854771712 with 4 KiB
// pages, less with larger pages), and no machine has 2^62 bytes.
const unlimited = 1 << 62

// file is where s keeps the system file p (an absolute path).
func (s System) file(p string) string {
	if s.Root == "" || s.Root == "/" {
		return p
	}
	return filepath.Join(s.Root, filepath.FromSlash(p))
}

// read returns the content of the system file p.
func (s System) read(p string) (string, error) {
	b, err := safefile.ReadFile(s.file(p), maxSystemFile)
	return string(b), err
}

// readInt reads the system file p holding one integer.
func (s System) readInt(p string) (int64, error) {
	text, err := s.read(p)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

// mount is a line of /proc/self/mountinfo: the folder of the mounted file
// system that appears at point, its type and its super options (for a
// cgroup v1 hierarchy, its controllers).
type mount struct {
	root, point, fstype string
	opts                []string
}

// mounts parses /proc/self/mountinfo, skipping lines it cannot read.
func (s System) mounts() ([]mount, error) {
	text, err := s.read("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []mount
	for line := range strings.Lines(text) {
		// ID, parent, major:minor, root, mount point, options, optional
		// fields up to "-", then type, source and super options.
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+2 {
			continue
		}
		m := mount{root: unescape(f[3]), point: path.Clean(unescape(f[4])), fstype: f[sep+1]}
		if len(f) > sep+3 {
			m.opts = strings.Split(f[sep+3], ",")
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \134 for
// a backslash).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// cgroups is the process's place in the cgroup hierarchies, from
// /proc/self/cgroup: its cgroup v2 path, and its v1 path per controller.
type cgroups struct {
	v2   string
	inV2 bool
	v1   map[string]string
}

// cgroups reads /proc/self/cgroup, skipping lines it cannot read.
func (s System) cgroups() (cgroups, error) {
	text, err := s.read("/proc/self/cgroup")
	if err != nil {
		return cgroups{}, err
	}
	c := cgroups{v1: map[string]string{}}
	for line := range strings.Lines(text) {
		// hierarchy-ID:controller-list:path; the path may hold colons.
		f := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			c.v2, c.inV2 = f[2], true
			continue
		}
		for _, ctrl := range strings.Split(f[1], ",") {
			if ctrl != "" {
				c.v1[ctrl] = f[2]
			}
		}
	}
	return c, nil
}

// relTo returns cgroup path p relative to root, the folder of the
// hierarchy a mount shows, as an absolute path ("/" for root itself); ok
// is false when p lies outside root, or climbs with "..", as a path
// outside the reader's cgroup namespace does.
func relTo(p, root string) (rel string, ok bool) {
	if !strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
		return "", false
	}
	p, root = path.Clean(p), path.Clean(root)
	switch {
	case root == "/":
		return p, true
	case p == root:
		return "/", true
	}
	if rest, ok := strings.CutPrefix(p, root+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}

// levels returns the folders of the cgroup at path p in the hierarchy m
// shows, from p's own up to m's mount point. Where p cannot be placed in
// m, only the mount point is read: it holds the nearest cgroup the
// process can see, and its limits bound the process all the same.
func levels(m mount, p string) []string {
	rel, ok := relTo(p, m.root)
	if !ok {
		return []string{m.point}
	}
	var dirs []string
	for d := path.Join(m.point, rel); ; d = path.Dir(d) {
		dirs = append(dirs, d)
		if d == m.point || d == "/" || d == "." {
			return dirs
		}
	}
}

// hierarchies returns the folders to read for the process's cgroup v2
// levels, and for its v1 levels of controller ctrl (nil when absent).
func (s System) hierarchies(ctrl string) (v2, v1 []string) {
	cg, err := s.cgroups()
	if err != nil {
		return nil, nil
	}
	ms, err := s.mounts()
	if err != nil {
		// No mountinfo: assume the usual cgroup v2 mount.
		ms = []mount{{root: "/", point: "/sys/fs/cgroup", fstype: "cgroup2"}}
	}
	if cg.inV2 {
		if m, ok := pick(ms, cg.v2, func(m mount) bool { return m.fstype == "cgroup2" }); ok {
			v2 = levels(m, cg.v2)
		}
	}
	if p, ok := cg.v1[ctrl]; ok {
		if m, ok := pick(ms, p, func(m mount) bool { return m.fstype == "cgroup" && slices.Contains(m.opts, ctrl) }); ok {
			v1 = levels(m, p)
		}
	}
	return v2, v1
}

// pick returns the first mount that match accepts and that shows the
// cgroup at p, else the first that match accepts; ok is false when match
// accepts none.
func pick(ms []mount, p string, match func(mount) bool) (m mount, ok bool) {
	first := -1
	for i, m := range ms {
		if !match(m) {
			continue
		}
		if _, in := relTo(p, m.root); in {
			return m, true
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return mount{}, false
	}
	return ms[first], true
}

// numCPU is s.NumCPU or runtime.NumCPU.
func (s System) numCPU() int {
	if s.NumCPU != nil {
		return s.NumCPU()
	}
	return runtime.NumCPU()
}
