//go:build !linux

package hugemem

// mapPages falls back to the Go heap where nst does not map memory itself.
func mapPages(size int) ([]byte, bool, error) {
	return make([]byte, size), false, nil
}

func unmapPages([]byte) error { return nil }
