// Package hugemem is nst's one place for transparent huge pages: it puts
// the memory a run writes in bulk where the kernel backs it 2 MiB at a
// time, where the kernel offers that, since a page fault costs far more
// than writing the page on the machines nst runs on (docs/design.md, "Huge
// pages"). One part per kind of memory:
//
//   - Slab: Go memory for many buffers of one lifetime (a model's weights).
//   - NewPages and View: memory outside the Go heap for tensors.
//   - Reexec: glibc's malloc, which holds ONNX Runtime's own memory.
package hugemem

import "sync"

// chunkBytes is the size of the chunks a Slab cuts its buffers from:
// large enough that nearly all of each lies in whole 2 MiB pages.
const chunkBytes = 32 << 20

// align is the alignment of the buffers a Slab hands out, a cache line.
const align = 64

// Slab hands out buffers cut from large chunks of Go memory advised to
// huge pages, for many buffers of one lifetime (a model's weights, say):
// a buffer smaller than a few huge pages would gain little on its own. A
// chunk stays allocated while any buffer cut from it is referenced.
//
// The zero Slab is ready to use, and a Slab is safe for concurrent use. A
// nil *Slab hands out plain make([]byte, n) buffers.
type Slab struct {
	mu   sync.Mutex
	free []byte // what is left of the current chunk
}

// Bytes returns n zero bytes, aligned to a cache line.
func (s *Slab) Bytes(n int) []byte {
	if s == nil {
		return make([]byte, n)
	}
	if n > chunkBytes/4 {
		// A buffer this large has most of its pages whole on its own, and
		// cutting it from a chunk would waste the rest of that chunk.
		return advised(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) < n {
		s.free = advised(chunkBytes)
	}
	b := s.free[:n:n]
	s.free = s.free[min((n+align-1)&^(align-1), len(s.free)):]
	return b
}

// advised returns n zero bytes on the Go heap, advised to huge pages before
// anything touches them.
func advised(n int) []byte {
	b := make([]byte, n)
	advise(b)
	return b
}
