package optim

import (
	"math"
	"unsafe"

	"gonum.org/v1/gonum/blas/blas32"
)

// Vector kernels for the optimisers.
//
// Dot products and axpy come from gonum's blas32, whose amd64 assembly
// (SSE; float32 loads, float64 accumulation for DDot) BenchmarkVectorOps
// measured at 0.19 ms (dot) and 0.11-0.37 ms (axpy) at 786,432 values,
// against 0.51 and 0.60 ms for the best pure-Go loops, which are bound by
// scalar arithmetic, not memory (those loops are kept in the tests as the
// baseline). Fusing an axpy with the next dot product in one pure-Go pass
// saves a memory pass but still took 0.87 ms against 0.29 ms for the two
// assembly calls, and the whole two-loop recursion (History 10) took 8-11
// ms on gonum's kernels against 11-19 ms fused in Go. What gonum does not
// offer (norms with the maximum, the move to an accepted point) is written
// here with bounds checks removed and independent accumulators.
//
// Everything runs on the calling goroutine. BenchmarkVectorOps also measures
// chunked goroutine versions of the pure-Go loops with a fixed reduction
// order (deterministic for any GOMAXPROCS): on the shared 2-core development
// machine they ran between no faster and 1.5 (dot) to 3 (axpy) times faster
// than the serial loops depending on load, never clearly faster than the
// assembly, while allocating per dispatch and competing with ONNX Runtime's
// intra-op threads, which spin for a while after each run. A whole L-BFGS
// step at 786,432 values costs about 11 ms there and Adam's about 4 ms
// (BenchmarkStep), 0.6% and 0.2% of a 2 s evaluation, so a worker pool
// would not pay for itself. All timings were taken on that loaded machine.
//
// Determinism: gonum's DDot first handles the values before its second
// operand's 16-byte boundary one at a time, so its summation order depends
// on that operand's address (TestDotDependsOnlyOnValues shows the last bits
// moving). Every vector the optimisers reduce over is allocated by
// newVector, 16-byte aligned, so the order, and the result, is always the
// same.

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
// lanes and two integer maxima keep the loop at memory speed; a single
// lane with the NaN-aware float max ran 3 to 6 times slower.
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
