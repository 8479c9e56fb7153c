package optim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// stateMagic starts every encoded optimiser state; the method name and a
// format version follow it.
const stateMagic = "nst-optim\x00"

// stateWriter appends little-endian fields to a byte slice.
type stateWriter struct {
	buf []byte
}

func newStateWriter(method string, version uint16, size int) *stateWriter {
	w := &stateWriter{buf: make([]byte, 0, size+len(stateMagic)+len(method)+16)}
	w.buf = append(w.buf, stateMagic...)
	w.string(method)
	w.uint(uint64(version))
	return w
}

func (w *stateWriter) uint(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }
func (w *stateWriter) int(v int)     { w.uint(uint64(int64(v))) }
func (w *stateWriter) float(v float64) {
	w.uint(math.Float64bits(v))
}

func (w *stateWriter) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	w.buf = append(w.buf, b)
}

func (w *stateWriter) string(s string) {
	w.int(len(s))
	w.buf = append(w.buf, s...)
}

func (w *stateWriter) floats32(v []float32) {
	w.int(len(v))
	for _, f := range v {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(f))
	}
}

func (w *stateWriter) floats64(v []float64) {
	w.int(len(v))
	for _, f := range v {
		w.float(f)
	}
}

// errTruncated reports a state that ends early or declares impossible sizes.
var errTruncated = errors.New("truncated or corrupt optimiser state")

// stateReader decodes what stateWriter wrote. It checks every length against
// the bytes left, so a corrupt checkpoint yields an error, never a panic or
// a huge allocation; the first error sticks and later reads return zeros.
type stateReader struct {
	buf []byte
	err error
}

// newStateReader checks the header and returns the format version.
func newStateReader(data []byte, method string) (*stateReader, uint16, error) {
	r := &stateReader{buf: data}
	if len(data) < len(stateMagic) || string(data[:len(stateMagic)]) != stateMagic {
		return nil, 0, errors.New("not an nst optimiser state")
	}
	r.buf = r.buf[len(stateMagic):]
	got := r.string()
	v := r.uint()
	if r.err != nil {
		return nil, 0, r.err
	}
	if got != method {
		return nil, 0, fmt.Errorf("optimiser state is for %q, not %q", got, method)
	}
	if v > math.MaxUint16 {
		return nil, 0, errTruncated
	}
	return r, uint16(v), nil
}

func (r *stateReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf) {
		r.err = errTruncated
		return nil
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}

func (r *stateReader) uint() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (r *stateReader) int() int {
	v := int64(r.uint())
	if v < math.MinInt || v > math.MaxInt {
		r.fail(errTruncated)
		return 0
	}
	return int(v)
}

func (r *stateReader) float() float64 { return math.Float64frombits(r.uint()) }

func (r *stateReader) bool() bool {
	b := r.take(1)
	if b == nil {
		return false
	}
	if b[0] > 1 {
		r.fail(errTruncated)
	}
	return b[0] == 1
}

func (r *stateReader) string() string {
	n := r.int()
	return string(r.take(n))
}

// length reads a slice length whose elements take size bytes each.
func (r *stateReader) length(size int) int {
	n := r.int()
	if r.err == nil && (n < 0 || n > len(r.buf)/size) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return n
}

// vectorLen reads the length of the count float32 vectors that follow,
// checking that they fit in the bytes left before anyone allocates them.
func (r *stateReader) vectorLen(count int) int {
	n := r.int()
	if r.err == nil && (n < 0 || n > len(r.buf)/(4*count)) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return n
}

// floats32Into reads a float32 vector whose length must be len(dst).
func (r *stateReader) floats32Into(dst []float32) {
	if n := r.length(4); r.err == nil && n != len(dst) {
		r.fail(fmt.Errorf("optimiser state holds a vector of %d values, want %d", n, len(dst)))
	}
	b := r.take(4 * len(dst))
	if b == nil {
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

func (r *stateReader) floats64Into(dst []float64) {
	if n := r.length(8); r.err == nil && n != len(dst) {
		r.fail(fmt.Errorf("optimiser state holds %d scalars, want %d", n, len(dst)))
	}
	for i := range dst {
		dst[i] = r.float()
	}
}

func (r *stateReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// finish reports the first error, or trailing bytes that no field claimed.
func (r *stateReader) finish() error {
	if r.err == nil && len(r.buf) != 0 {
		r.err = fmt.Errorf("%d unexpected bytes after the optimiser state", len(r.buf))
	}
	return r.err
}
