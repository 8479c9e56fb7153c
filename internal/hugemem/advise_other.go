//go:build !linux

package hugemem

// advise does nothing where nst knows of no transparent huge pages.
func advise([]byte) {}
