package optim

import (
	"math"
	"unsafe"

	"gonum.org/v1/gonum/blas/blas32"
)

// Vector kernels for the optimisers: dot products and axpy from gonum's
// blas32 assembly, which beat pure-Go loops; what blas32 lacks (norms with
// the maximum, the move to an accepted point) written here with bounds
// checks removed and independent accumulators. Everything runs on the
// calling goroutine: a step costs too little beside an evaluation for a
// worker pool to pay. docs/design.md, "The optimisers", and
// docs/performance.md give the reasons and the measurements.
//
// Determinism: gonum's DDot's summation order depends on its second
// operand's address modulo 16 bytes (TestDotDependsOnlyOnValues), so every
// vector the optimisers reduce over comes from newVector, 16-byte aligned.

// vectorAlign is the alignment, in bytes, gonum's SSE kernels work in.
const vectorAlign = 16

// newVector returns a zeroed vector of n values whose first element is
// 16-byte aligned (see the determinism note above). Go's collector does not
// move heap objects, so the alignment holds for the vector's lifetime.
func newVector(n int) []float32 {
	const per = vectorAlign / 4
	buf := make([]float32, n+per-1)
	if n == 0 {
		return buf[:0:0]
	}
	off := int((vectorAlign - uintptr(unsafe.Pointer(&buf[0]))%vectorAlign) % vectorAlign / 4)
	return buf[off : off+n : off+n]
}

func vector(v []float32) blas32.Vector { return blas32.Vector{N: len(v), Inc: 1, Data: v} }

// dot returns Σ a[i]·b[i], accumulated in float64 (products of float32
// values are exact in float64, so only the summation rounds). b must come
// from newVector for the result to be reproducible.
func dot(a, b []float32) float64 {
	return blas32.DDot(vector(a), vector(b[:len(a)]))
}

// axpy sets y += a·x.
func axpy(a float32, x, y []float32) {
	blas32.Axpy(a, vector(x[:len(y)]), vector(y))
}

// scal sets v *= a.
func scal(a float32, v []float32) {
	blas32.Scal(a, vector(v))
}

// negateDotMax sets d = -d and returns Σ g[i]·d[i] and max|d[i]| over the
// negated d: the last pass of the L-BFGS direction, where both results are
// needed next.
func negateDotMax(g, d []float32) (float64, float64) {
	g = g[:len(d)]
	var s0, s1, s2, s3 float64
	var m0, m1 uint32
	for len(d) >= 4 && len(g) >= 4 {
		d0, d1, d2, d3 := -d[0], -d[1], -d[2], -d[3]
		d[0], d[1], d[2], d[3] = d0, d1, d2, d3
		s0 += float64(g[0]) * float64(d0)
		s1 += float64(g[1]) * float64(d1)
		s2 += float64(g[2]) * float64(d2)
		s3 += float64(g[3]) * float64(d3)
		m0 = max(m0, absBits(d0), absBits(d2))
		m1 = max(m1, absBits(d1), absBits(d3))
		g, d = g[4:], d[4:]
	}
	for i := range d {
		d[i] = -d[i]
		s0 += float64(g[i]) * float64(d[i])
		m0 = max(m0, absBits(d[i]))
	}
	return (s0 + s1) + (s2 + s3), fromAbsBits(max(m0, m1))
}

// moveTo sets s = xt - x, y = gNew - gOld and then x = xt: the move to an
// accepted L-BFGS point and its curvature pair.
func moveTo(x, xt, s, gOld, gNew, y []float32) {
	n := len(x)
	xt, s, gOld, gNew, y = xt[:n], s[:n], gOld[:n], gNew[:n], y[:n]
	for i, xi := range xt {
		s[i] = xi - x[i]
		y[i] = gNew[i] - gOld[i]
		x[i] = xi
	}
}

// negate sets d = -g.
func negate(g, d []float32) {
	g = g[:len(d)]
	for i := range d {
		d[i] = -g[i]
	}
}

// norms returns the Euclidean and the maximum norm of v. A NaN anywhere in v
// makes both NaN, which callers use as their finiteness check. Four float64
// lanes and two integer maxima keep the loop at memory speed.
func norms(v []float32) (l2, inf float64) {
	var s0, s1, s2, s3 float64
	var m0, m1 uint32
	for len(v) >= 4 {
		a, b, c, d := v[0], v[1], v[2], v[3]
		s0 += float64(a) * float64(a)
		s1 += float64(b) * float64(b)
		s2 += float64(c) * float64(c)
		s3 += float64(d) * float64(d)
		m0 = max(m0, absBits(a), absBits(c))
		m1 = max(m1, absBits(b), absBits(d))
		v = v[4:]
	}
	for _, a := range v {
		s0 += float64(a) * float64(a)
		m0 = max(m0, absBits(a))
	}
	return math.Sqrt((s0 + s1) + (s2 + s3)), fromAbsBits(max(m0, m1))
}

// absBits returns |v|'s bits. For non-negative floats the bit patterns
// order like the values, with NaNs above +Inf, so an integer max finds the
// largest magnitude (or a NaN).
func absBits(v float32) uint32 { return math.Float32bits(v) &^ (1 << 31) }

func fromAbsBits(b uint32) float64 { return float64(math.Float32frombits(b)) }

// fingerprint hashes the bits of x so that L-BFGS can tell whether x was
// changed between Steps. Four independent multiply-xor lanes keep it at
// memory speed.
func fingerprint(x []float32) uint64 {
	const prime = 0x100000001b3
	h0, h1, h2, h3 := uint64(0xcbf29ce484222325), uint64(0x84222325cbf29ce4), uint64(0x9e3779b97f4a7c15), uint64(len(x))
	for len(x) >= 4 {
		h0 = (h0 ^ uint64(math.Float32bits(x[0]))) * prime
		h1 = (h1 ^ uint64(math.Float32bits(x[1]))) * prime
		h2 = (h2 ^ uint64(math.Float32bits(x[2]))) * prime
		h3 = (h3 ^ uint64(math.Float32bits(x[3]))) * prime
		x = x[4:]
	}
	for _, v := range x {
		h0 = (h0 ^ uint64(math.Float32bits(v))) * prime
	}
	h := h0
	for _, l := range [...]uint64{h1, h2, h3} {
		h = (h ^ l ^ l>>29) * prime
	}
	return h
}
