package sysmem

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fake builds a system file tree from files (system path to content) in a
// temporary folder, with 8 CPUs.
func fake(t *testing.T, files map[string]string) System {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return System{Root: root, NumCPU: func() int { return 8 }}
}

// Mountinfo lines as Linux writes them.
const (
	v2Mount  = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	v1Memory = "35 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
	v1CPU    = "33 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct\n"
	rootFS   = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	// A container without a cgroup namespace: its own cgroup is mounted.
	v1MemoryDocker = "600 590 0:30 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory\n"
)

// meminfo is a /proc/meminfo with MemAvailable of kb kB.
func meminfo(kb int64) string {
	return fmt.Sprintf("MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   %d kB\nBuffers:          100000 kB\n", kb)
}

const gb = 1_000_000_000

func TestAvailable(t *testing.T) {
	const avail8GB = 8 * gb / 1024 // kB
	tests := []struct {
		name       string
		files      map[string]string
		wantBytes  int64
		wantSource string // "" expects an error
	}{
		{
			name: "cgroup v2 limit on a parent, less its usage and less reclaimable cache",
			files: map[string]string{
				"/proc/meminfo":                      meminfo(avail8GB),
				"/proc/self/cgroup":                  "0::/a/b\n",
				"/proc/self/mountinfo":               rootFS + v2Mount,
				"/sys/fs/cgroup/a/b/memory.max":      "max\n",
				"/sys/fs/cgroup/a/b/memory.high":     "max\n",
				"/sys/fs/cgroup/a/b/memory.current":  "100\n",
				"/sys/fs/cgroup/a/memory.max":        "1000000000\n",
				"/sys/fs/cgroup/a/memory.high":       "max\n",
				"/sys/fs/cgroup/a/memory.current":    "300000000\n",
				"/sys/fs/cgroup/a/memory.stat":       "anon 150000000\nfile 150000000\nactive_file 50000000\ninactive_file 100000000\n",
				"/sys/fs/cgroup/memory.current":      "5000000000\n", // the root has no limit files
				"/sys/fs/cgroup/cgroup.controllers":  "cpu memory\n",
				"/sys/fs/cgroup/a/b/cgroup.procs":    "1\n",
				"/sys/fs/cgroup/a/b/memory.stat":     "garbage\n",
				"/sys/fs/cgroup/a/b/memory.swap.max": "max\n",
			},
			wantBytes:  800_000_000,
			wantSource: "cgroup v2 /sys/fs/cgroup/a memory.max",
		},
		{
			name: "cgroup v2 nearest limit looser than an ancestor's",
			files: map[string]string{
				"/proc/meminfo":                     meminfo(avail8GB),
				"/proc/self/cgroup":                 "0::/a/b\n",
				"/proc/self/mountinfo":              v2Mount,
				"/sys/fs/cgroup/a/b/memory.max":     "2000000000\n",
				"/sys/fs/cgroup/a/b/memory.current": "0\n",
				"/sys/fs/cgroup/a/memory.max":       "1500000000\n",
				"/sys/fs/cgroup/a/memory.current":   "0\n",
			},
			wantBytes:  1_500_000_000,
			wantSource: "cgroup v2 /sys/fs/cgroup/a memory.max",
		},
		{
			name: "cgroup v2 max everywhere: MemAvailable",
			files: map[string]string{
				"/proc/meminfo":                     meminfo(avail8GB),
				"/proc/self/cgroup":                 "0::/a/b\n",
				"/proc/self/mountinfo":              v2Mount,
				"/sys/fs/cgroup/a/b/memory.max":     "max\n",
				"/sys/fs/cgroup/a/b/memory.high":    "max\n",
				"/sys/fs/cgroup/a/memory.max":       "max\n",
				"/sys/fs/cgroup/a/b/memory.current": "100\n",
			},
			wantBytes:  avail8GB << 10,
			wantSource: "/proc/meminfo MemAvailable",
		},
		{
			name: "cgroup v2 memory.high below memory.max",
			files: map[string]string{
				"/proc/meminfo":                   meminfo(avail8GB),
				"/proc/self/cgroup":               "0::/job\n",
				"/proc/self/mountinfo":            v2Mount,
				"/sys/fs/cgroup/job/memory.max":   "4000000000\n",
				"/sys/fs/cgroup/job/memory.high":  "3000000000\n",
				"/sys/fs/cgroup/job/memory.stat":  "inactive_file 0\n",
				"/sys/fs/cgroup/job/memory.peak":  "1\n",
				"/sys/fs/cgroup/job/cgroup.procs": "1\n",
			},
			wantBytes:  3 * gb,
			wantSource: "cgroup v2 /sys/fs/cgroup/job memory.high",
		},
		{
			name: "cgroup v2 in a cgroup namespace: the mount point is the process's cgroup",
			files: map[string]string{
				"/proc/meminfo":                 meminfo(avail8GB),
				"/proc/self/cgroup":             "0::/\n",
				"/proc/self/mountinfo":          "700 690 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
				"/sys/fs/cgroup/memory.max":     "536870912\n",
				"/sys/fs/cgroup/memory.current": "36870912\n",
			},
			wantBytes:  500_000_000,
			wantSource: "cgroup v2 /sys/fs/cgroup memory.max",
		},
		{
			name: "cgroup v2 usage above the limit leaves 0",
			files: map[string]string{
				"/proc/meminfo":                     meminfo(avail8GB),
				"/proc/self/cgroup":                 "0::/job\n",
				"/proc/self/mountinfo":              v2Mount,
				"/sys/fs/cgroup/job/memory.high":    "1000\n",
				"/sys/fs/cgroup/job/memory.current": "5000\n",
			},
			wantBytes:  0,
			wantSource: "cgroup v2 /sys/fs/cgroup/job memory.high",
		},
		{
			name: "cgroup v2 path outside the mount's root: the mount point only",
			files: map[string]string{
				"/proc/meminfo":                   meminfo(avail8GB),
				"/proc/self/cgroup":               "0::/../../other\n",
				"/proc/self/mountinfo":            v2Mount,
				"/sys/fs/cgroup/memory.max":       "2000000000\n",
				"/sys/fs/cgroup/other/memory.max": "1000\n", // not the process's
			},
			wantBytes:  2 * gb,
			wantSource: "cgroup v2 /sys/fs/cgroup memory.max",
		},
		{
			name: "cgroup v2 without mountinfo: the usual mount point",
			files: map[string]string{
				"/proc/meminfo":                        meminfo(avail8GB),
				"/proc/self/cgroup":                    "0::/user.slice\n",
				"/sys/fs/cgroup/user.slice/memory.max": "2000000000\n",
			},
			wantBytes:  2 * gb,
			wantSource: "cgroup v2 /sys/fs/cgroup/user.slice memory.max",
		},
		{
			name: "cgroup v2 mounted at a path with a space",
			files: map[string]string{
				"/proc/meminfo":           meminfo(avail8GB),
				"/proc/self/cgroup":       "0::/j\n",
				"/proc/self/mountinfo":    "30 23 0:26 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n",
				"/mnt/cg v2/j/memory.max": "1000000000\n",
			},
			wantBytes:  gb,
			wantSource: "cgroup v2 /mnt/cg v2/j memory.max",
		},
		{
			name: "cgroup v1 limit, less usage and inactive cache",
			files: map[string]string{
				"/proc/meminfo":                               meminfo(avail8GB),
				"/proc/self/cgroup":                           "12:cpu,cpuacct:/\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
				"/proc/self/mountinfo":                        rootFS + v1CPU + v1MemoryDocker,
				"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n",
				"/sys/fs/cgroup/memory/memory.usage_in_bytes": "1073741824\n",
				"/sys/fs/cgroup/memory/memory.stat":           "cache 600000000\ninactive_file 1\ntotal_inactive_file 536870912\n",
			},
			wantBytes:  1<<31 - 1<<29,
			wantSource: "cgroup v1 /sys/fs/cgroup/memory memory.limit_in_bytes",
		},
		{
			name: "cgroup v1 nested on the host",
			files: map[string]string{
				"/proc/meminfo":        meminfo(avail8GB),
				"/proc/self/cgroup":    "4:memory:/batch/job7\n",
				"/proc/self/mountinfo": v1Memory,
				"/sys/fs/cgroup/memory/batch/job7/memory.limit_in_bytes": "9223372036854771712\n",
				"/sys/fs/cgroup/memory/batch/memory.limit_in_bytes":      "3000000000\n",
				"/sys/fs/cgroup/memory/batch/memory.usage_in_bytes":      "1000000000\n",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
			},
			wantBytes:  2 * gb,
			wantSource: "cgroup v1 /sys/fs/cgroup/memory/batch memory.limit_in_bytes",
		},
		{
			name: "cgroup v1 unlimited: MemAvailable",
			files: map[string]string{
				"/proc/meminfo":        meminfo(avail8GB),
				"/proc/self/cgroup":    "4:memory:/user.slice\n",
				"/proc/self/mountinfo": v1Memory,
				"/sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes": "9223372036854771712\n",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854710272\n", // 64 KiB pages
			},
			wantBytes:  avail8GB << 10,
			wantSource: "/proc/meminfo MemAvailable",
		},
		{
			name: "hybrid: v1 memory controller, v2 hierarchy without it",
			files: map[string]string{
				"/proc/meminfo":                                  meminfo(avail8GB),
				"/proc/self/cgroup":                              "4:memory:/\n0::/user.slice\n",
				"/proc/self/mountinfo":                           v1Memory + "31 23 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes":    "1000000000\n",
				"/sys/fs/cgroup/unified/user.slice/cgroup.procs": "1\n",
			},
			wantBytes:  gb,
			wantSource: "cgroup v1 /sys/fs/cgroup/memory memory.limit_in_bytes",
		},
		{
			name: "MemAvailable smaller than the cgroup's room",
			files: map[string]string{
				"/proc/meminfo":                 meminfo(400_000),
				"/proc/self/cgroup":             "0::/job\n",
				"/proc/self/mountinfo":          v2Mount,
				"/sys/fs/cgroup/job/memory.max": "4000000000\n",
			},
			wantBytes:  400_000 << 10,
			wantSource: "/proc/meminfo MemAvailable",
		},
		{
			name: "malformed limits are skipped",
			files: map[string]string{
				"/proc/meminfo":                     meminfo(avail8GB),
				"/proc/self/cgroup":                 "0::/job\ngarbage\n9:memory\n",
				"/proc/self/mountinfo":              "nonsense\n" + v2Mount + "1 2 3 - \n",
				"/sys/fs/cgroup/job/memory.max":     "12 GB\n",
				"/sys/fs/cgroup/job/memory.high":    "-5\n",
				"/sys/fs/cgroup/memory.max":         "99999999999999999999999\n",
				"/sys/fs/cgroup/job/memory.current": "lots\n",
			},
			wantBytes:  avail8GB << 10,
			wantSource: "/proc/meminfo MemAvailable",
		},
		{
			name: "malformed usage counts as none",
			files: map[string]string{
				"/proc/meminfo":                     meminfo(avail8GB),
				"/proc/self/cgroup":                 "0::/job\n",
				"/proc/self/mountinfo":              v2Mount,
				"/sys/fs/cgroup/job/memory.max":     "1000000000\n",
				"/sys/fs/cgroup/job/memory.current": "lots\n",
			},
			wantBytes:  gb,
			wantSource: "cgroup v2 /sys/fs/cgroup/job memory.max",
		},
		{
			name: "malformed MemAvailable with a cgroup limit",
			files: map[string]string{
				"/proc/meminfo":                 "MemAvailable: plenty kB\n",
				"/proc/self/cgroup":             "0::/job\n",
				"/proc/self/mountinfo":          v2Mount,
				"/sys/fs/cgroup/job/memory.max": "1000000000\n",
			},
			wantBytes:  gb,
			wantSource: "cgroup v2 /sys/fs/cgroup/job memory.max",
		},
		{
			name: "no cgroup file: MemAvailable",
			files: map[string]string{
				"/proc/meminfo": meminfo(1000),
			},
			wantBytes:  1000 << 10,
			wantSource: "/proc/meminfo MemAvailable",
		},
		{
			name:  "malformed MemAvailable and no cgroup limit",
			files: map[string]string{"/proc/meminfo": "MemAvailable: plenty kB\n", "/proc/self/cgroup": "0::/\n"},
		},
		{
			name:  "no MemAvailable line",
			files: map[string]string{"/proc/meminfo": "MemTotal: 100 kB\n"},
		},
		{
			name:  "MemAvailable beyond any machine",
			files: map[string]string{"/proc/meminfo": "MemAvailable: 9223372036854775807 kB\n"},
		},
		{
			name:  "nothing at all",
			files: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fake(t, tt.files)
			got, err := s.Available()
			if tt.wantSource == "" {
				if err == nil {
					t.Fatalf("Available = %+v, want an error", got)
				}
				if !strings.HasPrefix(err.Error(), "available memory: ") {
					t.Errorf("error %q lacks context", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Available: %v", err)
			}
			if got.Bytes != tt.wantBytes || got.Source != tt.wantSource {
				t.Errorf("Available = %d from %q, want %d from %q", got.Bytes, got.Source, tt.wantBytes, tt.wantSource)
			}
			if got.Bytes != max(got.Limit-got.Used, 0) {
				t.Errorf("Available = %+v: Bytes is not Limit less Used", got)
			}
		})
	}
}

func TestMemoryString(t *testing.T) {
	tests := []struct {
		m    Memory
		want string
	}{
		{Memory{Bytes: 8 * gb, Limit: 8 * gb, Source: "/proc/meminfo MemAvailable"}, "8.0 GB (/proc/meminfo MemAvailable)"},
		{Memory{Bytes: 3_200_000_000, Limit: 4 * gb, Used: 800_000_000, Source: "cgroup v2 /sys/fs/cgroup/foo memory.max"},
			"3.2 GB (cgroup v2 /sys/fs/cgroup/foo memory.max 4.0 GB, less 800 MB in use)"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestCPULimit(t *testing.T) {
	tests := []struct {
		name       string
		cpus       int
		files      map[string]string
		want       int
		wantSource string
	}{
		{"no cgroup", 8, map[string]string{}, 8, "runtime.NumCPU"},
		{"v2 quota of 1.5 CPUs", 8, map[string]string{
			"/proc/self/cgroup":          "0::/job\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/job/cpu.max": "150000 100000\n",
		}, 2, "cgroup v2 /sys/fs/cgroup/job cpu.max"},
		{"v2 no quota", 8, map[string]string{
			"/proc/self/cgroup":          "0::/job\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/job/cpu.max": "max 100000\n",
		}, 8, "runtime.NumCPU"},
		{"v2 quota on a parent", 8, map[string]string{
			"/proc/self/cgroup":          "0::/a/b\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/a/b/cpu.max": "max 100000\n",
			"/sys/fs/cgroup/a/cpu.max":   "300000 100000\n",
		}, 3, "cgroup v2 /sys/fs/cgroup/a cpu.max"},
		{"v2 quota above the CPUs", 8, map[string]string{
			"/proc/self/cgroup":          "0::/job\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/job/cpu.max": "1600000 100000\n",
		}, 8, "runtime.NumCPU"},
		{"v2 tiny quota rounds up to 1", 8, map[string]string{
			"/proc/self/cgroup":          "0::/job\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/job/cpu.max": "1000 100000\n",
		}, 1, "cgroup v2 /sys/fs/cgroup/job cpu.max"},
		{"v1 half a CPU", 4, map[string]string{
			"/proc/self/cgroup":                            "5:cpu,cpuacct:/\n4:memory:/\n",
			"/proc/self/mountinfo":                         v1Memory + v1CPU,
			"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "50000\n",
			"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
		}, 1, "cgroup v1 /sys/fs/cgroup/cpu,cpuacct cpu.cfs_quota_us"},
		{"v1 no quota", 4, map[string]string{
			"/proc/self/cgroup":                            "5:cpu,cpuacct:/\n",
			"/proc/self/mountinfo":                         v1CPU,
			"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "-1\n",
			"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
		}, 4, "runtime.NumCPU"},
		{"v1 cpuset is not cpu", 4, map[string]string{
			"/proc/self/cgroup":                       "3:cpuset:/\n",
			"/proc/self/mountinfo":                    "40 25 0:35 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n",
			"/sys/fs/cgroup/cpuset/cpu.cfs_quota_us":  "100000\n",
			"/sys/fs/cgroup/cpuset/cpu.cfs_period_us": "100000\n",
		}, 4, "runtime.NumCPU"},
		{"malformed quotas", 8, map[string]string{
			"/proc/self/cgroup":          "0::/a/b\n",
			"/proc/self/mountinfo":       v2Mount,
			"/sys/fs/cgroup/a/b/cpu.max": "lots\n",
			"/sys/fs/cgroup/a/cpu.max":   "100000 0\n",
			"/sys/fs/cgroup/cpu.max":     "1 2 3\n",
		}, 8, "runtime.NumCPU"},
		{"no CPU reported", 0, map[string]string{}, 1, "runtime.NumCPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fake(t, tt.files)
			s.NumCPU = func() int { return tt.cpus }
			n, source := s.CPULimit()
			if n != tt.want || source != tt.wantSource {
				t.Errorf("CPULimit = %d from %q, want %d from %q", n, source, tt.want, tt.wantSource)
			}
			if got := s.MaxThreads(); got != tt.want*ThreadsPerCPU {
				t.Errorf("MaxThreads = %d, want %d", got, tt.want*ThreadsPerCPU)
			}
		})
	}
}

func TestLiveSystem(t *testing.T) {
	// The running machine's figures: only their sanity can be checked.
	n, source := CPULimit()
	if n < 1 || source == "" || MaxThreads() != n*ThreadsPerCPU {
		t.Errorf("CPULimit = %d, %q; MaxThreads = %d", n, source, MaxThreads())
	}
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	m, err := Available()
	if err != nil || m.Bytes <= 0 || m.Source == "" {
		t.Errorf("Available = %+v, %v", m, err)
	}
	t.Logf("available: %s; CPUs: %d (%s)", m, n, source)
}

func TestRelTo(t *testing.T) {
	tests := []struct {
		p, root string
		want    string
		ok      bool
	}{
		{"/a/b", "/", "/a/b", true},
		{"/", "/", "/", true},
		{"/docker/abc", "/docker/abc", "/", true},
		{"/docker/abc/x", "/docker/abc", "/x", true},
		{"/docker/abcd", "/docker/abc", "", false},
		{"/other", "/docker/abc", "", false},
		{"/../x", "/", "", false},
		{"relative", "/", "", false},
		{"/a//b/", "/", "/a/b", true},
	}
	for _, tt := range tests {
		got, ok := relTo(tt.p, tt.root)
		if got != tt.want || ok != tt.ok {
			t.Errorf("relTo(%q, %q) = %q, %v; want %q, %v", tt.p, tt.root, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain", "/plain"},
		{`/a\040b`, "/a b"},
		{`/tab\011x\134`, "/tab\tx\\"},
		{`/bad\9x`, `/bad\9x`},
		{`/end\04`, `/end\04`},
		{`/high\777`, `/high\777`},
	}
	for _, tt := range tests {
		if got := unescape(tt.in); got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParsers checks that no /proc/self/cgroup or mountinfo content
// panics, and that the folders read stay below the mount point.
func FuzzParsers(f *testing.F) {
	f.Add("0::/a/b\n4:memory:/x\n", v2Mount+v1Memory)
	f.Add("0::/../..\n", "1 2 3 /r /p\\04 o - cgroup2")
	f.Add("::\n0::\n", "- - - - - - - cgroup2 x y\n")
	f.Fuzz(func(t *testing.T, cgroup, mountinfo string) {
		root := t.TempDir()
		for p, content := range map[string]string{"proc/self/cgroup": cgroup, "proc/self/mountinfo": mountinfo} {
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := System{Root: root, NumCPU: func() int { return 2 }}
		ms, _ := s.mounts()
		for _, ctrl := range []string{"memory", "cpu"} {
			v2, v1 := s.hierarchies(ctrl)
			for _, d := range append(v2, v1...) {
				under := false
				for _, m := range append(ms, mount{point: "/sys/fs/cgroup"}) {
					under = under || d == m.point || strings.HasPrefix(d, strings.TrimSuffix(m.point, "/")+"/")
				}
				if !under {
					t.Errorf("reads %q, below no mount point", d)
				}
			}
		}
		if n, _ := s.CPULimit(); n < 1 || n > 2 {
			t.Errorf("CPULimit = %d", n)
		}
		_, _ = s.Available()
	})
}
