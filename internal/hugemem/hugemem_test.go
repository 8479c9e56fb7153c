package hugemem

import (
	"sync"
	"testing"
	"unsafe"
)

func TestSlabBuffers(t *testing.T) {
	for _, c := range []struct {
		name  string
		sizes []int
	}{
		{"small ones share a chunk", []int{1, 63, 64, 65, 4 << 10, 3 << 20}},
		{"a chunk runs out", []int{7 << 20, 7 << 20, 7 << 20, 7 << 20, 7 << 20}},
		{"a large one on its own", []int{100, chunkBytes/4 + 1, 100}},
		{"empty", []int{0, 0, 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s Slab
			bufs := make([][]byte, len(c.sizes))
			for i, n := range c.sizes {
				b := s.Bytes(n)
				if len(b) != n || cap(b) != n {
					t.Fatalf("Bytes(%d): len %d cap %d", n, len(b), cap(b))
				}
				if n > 0 && uintptr(unsafe.Pointer(&b[0]))%align != 0 {
					t.Errorf("Bytes(%d) at %p, not %d-byte aligned", n, &b[0], align)
				}
				for j, v := range b {
					if v != 0 {
						t.Fatalf("Bytes(%d)[%d] = %d, want 0", n, j, v)
					}
				}
				for j := range b {
					b[j] = byte(i + 1)
				}
				bufs[i] = b
			}
			checkMarks(t, bufs)
		})
	}
}

func TestNilSlab(t *testing.T) {
	var s *Slab
	if b := s.Bytes(10); len(b) != 10 {
		t.Errorf("nil Slab: Bytes(10) has len %d", len(b))
	}
}

func TestSlabConcurrent(t *testing.T) {
	var s Slab
	var wg sync.WaitGroup
	bufs := make([][]byte, 8)
	for i := range bufs {
		wg.Go(func() {
			bufs[i] = s.Bytes(1 << 20)
			for j := range bufs[i] {
				bufs[i][j] = byte(i + 1)
			}
		})
	}
	wg.Wait()
	checkMarks(t, bufs)
}

// checkMarks fails unless every buffer i still holds only the mark i+1 it
// was filled with: no buffer overlaps another.
func checkMarks(t *testing.T, bufs [][]byte) {
	t.Helper()
	for i, b := range bufs {
		for j, v := range b {
			if v != byte(i+1) {
				t.Fatalf("buffer %d [%d] = %d, want %d: overwritten by another", i, j, v, i+1)
			}
		}
	}
}
