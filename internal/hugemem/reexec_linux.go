package hugemem

import (
	"os"
	"syscall"
)

// hugePagesTunable makes glibc's malloc (2.35 and later) ask the kernel
// for transparent huge pages for the memory it maps, which is where ONNX
// Runtime's weights and working memory live, and keeps malloc to its one
// main arena, since the per-thread arenas of the threads that build
// sessions were still faulted in 4 KiB at a time (docs/performance.md).
const hugePagesTunable = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"

// Reexec restarts the program (execve: same process, arguments and
// environment) with glibc's malloc asking for transparent huge pages, so
// that ONNX Runtime's memory is faulted in 2 MiB at a time. glibc reads the
// setting only when a program starts, hence the restart.
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
