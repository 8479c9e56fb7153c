package hugemem

import "syscall"

// mapPages maps anonymous memory rounded up to whole huge pages and asks
// the kernel to back it with huge pages. A refused madvise (THP disabled)
// leaves ordinary pages, which work all the same.
func mapPages(size int) ([]byte, bool, error) {
	n := (size + hugePage - 1) &^ (hugePage - 1)
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, false, err
	}
	advise(mem)
	return mem, true, nil
}

func unmapPages(mem []byte) error {
	return syscall.Munmap(mem)
}
