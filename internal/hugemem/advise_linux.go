package hugemem

import (
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 or arm64 transparent huge page.
const hugePage = 2 << 20

// madvHugePage is MADV_HUGEPAGE, which package syscall does not name.
const madvHugePage = 14

// advise asks the kernel to back the whole 2 MiB pages inside b with huge
// pages when they are first touched. Pages already touched keep their
// size. The advice is a hint: where the kernel refuses it (huge pages
// turned off), b works all the same.
func advise(b []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	// Only the pages wholly inside b: the rest belong to other objects.
	begin := (start + hugePage - 1) &^ (hugePage - 1)
	end := (start + uintptr(len(b))) &^ (hugePage - 1)
	if begin >= end {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, begin, end-begin, madvHugePage)
}

// offered reports whether the kernel gives transparent huge pages to anyone
// (THP mode "always" or "madvise").
func offered() bool {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !strings.Contains(string(mode), "[never]")
}
