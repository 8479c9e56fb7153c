package hugemem

import (
	"os"
	"syscall"
)

// hugePagesTunable makes glibc's malloc (2.35 and later) ask the kernel
// for transparent huge pages for the memory it maps, which is where ONNX
// Runtime's weights and working memory live. It also keeps malloc to its
// one main arena: the per-thread arenas it otherwise gives the threads
// that build sessions were still faulted in 4 KiB at a time. Measured at
// 512x512 on a first run (graph cache empty): 165,000-200,000 page faults
// and 1.1-1.5 s making the sessions with the per-thread arenas, against
// 72,000-75,000 and 0.5 s without them; time per iteration unchanged.
const hugePagesTunable = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"

// Reexec restarts the program (execve: same process,
// arguments and environment) with glibc's malloc asking for transparent
// huge pages, so that ONNX Runtime's memory is faulted in 2 MiB at a time.
// On the virtual machines nst is measured on a 4 KiB page fault costs
// 15-45 µs; with huge pages the faults of preparing VGG19's sessions fell
// from 129,000 to 50,000 and those of its first forward and backward pass
// from 66,000 to 1,300 (at 256x256), and the start-up's CPU time at
// 512x512 by 1.5 s. glibc reads the setting only when a program starts,
// hence the restart.
//
// It must be called before anything else starts: threads, open files and
// work done are lost. It does nothing when GLIBC_TUNABLES is already set
// (the user's choice stands), NST_NO_REEXEC is set, or the kernel offers
// transparent huge pages to no one. It returns only when it did not
// restart, with the error of a failed restart, if any; the caller then
// carries on without huge pages.
func Reexec() error {
	if os.Getenv("GLIBC_TUNABLES") != "" || os.Getenv("NST_NO_REEXEC") != "" {
		return nil
	}
	if !offered() {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "GLIBC_TUNABLES="+hugePagesTunable, "NST_NO_REEXEC=1")
	return syscall.Exec(exe, os.Args, env)
}
