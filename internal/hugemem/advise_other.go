//go:build !linux

package hugemem

// Advise does nothing where nst knows of no transparent huge pages.
func Advise(b []byte) {}
