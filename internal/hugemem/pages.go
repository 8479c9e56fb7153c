package hugemem

import (
	"fmt"
	"unsafe"
)

// Pages is a block of memory for large tensors, mapped outside the Go heap
// where the platform allows (Linux) and backed by transparent huge pages
// where the kernel offers them for the asking (THP mode "madvise" or
// "always"): it is faulted in 2 MiB at a time, and released the moment
// Free is called rather than when the collector gets to it.
type Pages struct {
	mem    []byte // what callers see: the size asked for
	mapped []byte // the whole mapping; nil for Go memory
}

// NewPages returns zeroed memory of at least size bytes.
func NewPages(size int) (*Pages, error) {
	if size < 0 {
		return nil, fmt.Errorf("allocate %d bytes: negative size", size)
	}
	if size == 0 {
		return &Pages{}, nil
	}
	mem, mapped, err := mapPages(size)
	if err != nil {
		return nil, fmt.Errorf("allocate %d MiB: %w", size>>20, err)
	}
	p := &Pages{mem: mem[:size:size]}
	if mapped {
		p.mapped = mem
	}
	return p, nil
}

// Bytes returns the memory; it is valid until Free.
func (p *Pages) Bytes() []byte { return p.mem }

// Free releases the memory. Slices of it must not be used afterwards.
// Freeing twice is harmless.
func (p *Pages) Free() error {
	if p == nil || p.mem == nil {
		return nil
	}
	mapped := p.mapped
	p.mem, p.mapped = nil, nil
	if mapped == nil {
		return nil
	}
	return unmapPages(mapped)
}

// Element is a type View can see Pages as: a fixed-size value holding no
// pointers (the tensor element types of ONNX Runtime).
type Element interface {
	~bool | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~float32 | ~float64
}

// View returns the bytes [offset, offset+n*size(T)) of p as a []T. offset
// must be a multiple of T's alignment.
func View[T Element](p *Pages, offset, n int) ([]T, error) {
	var zero T
	size, align := int(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero))
	if offset < 0 || n < 0 || offset%align != 0 || offset+n*size > len(p.mem) {
		return nil, fmt.Errorf("view of %d elements of %d bytes at offset %d does not fit %d bytes", n, size, offset, len(p.mem))
	}
	if n == 0 {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&p.mem[offset])), n), nil
}
