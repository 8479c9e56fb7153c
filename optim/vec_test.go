package optim

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

func TestVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vec := func(n int) []float32 {
		v := newVector(n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	// Lengths around the kernels' unrolling (4 here, 8 and 16 in gonum's
	// assembly) and one past them.
	for _, n := range []int{0, 1, 3, 4, 5, 8, 15, 17, 1023} {
		x, y := vec(n), vec(n)
		const a = float32(-0.37)

		var want float64
		for i := range x {
			want += float64(x[i]) * float64(y[i])
		}
		if got := dot(x, y); math.Abs(got-want) > 1e-12*max(1, math.Abs(want)) {
			t.Errorf("n=%d: dot %g, want %g", n, got, want)
		}

		wantY := make([]float32, n)
		for i := range y {
			wantY[i] = y[i] + a*x[i]
		}
		y1 := append(newVector(n)[:0], y...)
		axpy(a, x, y1)
		if !equalBits(y1, wantY) {
			t.Errorf("n=%d: axpy differs from y + a·x", n)
		}
		v := append(newVector(n)[:0], x...)
		scal(a, v)
		for i := range v {
			if v[i] != a*x[i] {
				t.Fatalf("n=%d: scal v[%d] = %g, want %g", n, i, v[i], a*x[i])
			}
		}

		d := append(newVector(n)[:0], y...)
		dg, dmax := negateDotMax(x, d)
		var wantDG, wantMax float64
		for i := range d {
			if d[i] != -y[i] {
				t.Fatalf("n=%d: negateDotMax d[%d] = %g, want %g", n, i, d[i], -y[i])
			}
			wantDG += float64(x[i]) * float64(d[i])
			wantMax = max(wantMax, math.Abs(float64(d[i])))
		}
		if math.Abs(dg-wantDG) > 1e-12*max(1, math.Abs(wantDG)) || dmax != wantMax {
			t.Errorf("n=%d: negateDotMax %g, %g; want %g, %g", n, dg, dmax, wantDG, wantMax)
		}
		xt, gOld, gNew := vec(n), vec(n), vec(n)
		xm := append(newVector(n)[:0], x...)
		sv, yv := newVector(n), newVector(n)
		moveTo(xm, xt, sv, gOld, gNew, yv)
		for i := range xm {
			if xm[i] != xt[i] || sv[i] != xt[i]-x[i] || yv[i] != gNew[i]-gOld[i] {
				t.Fatalf("n=%d: moveTo at %d: x %g s %g y %g", n, i, xm[i], sv[i], yv[i])
			}
		}

		negate(x, d)
		for i := range d {
			if d[i] != -x[i] {
				t.Fatalf("n=%d: negate d[%d] = %g", n, i, d[i])
			}
		}

		var ss, mx float64
		for _, v := range x {
			ss += float64(v) * float64(v)
			mx = max(mx, math.Abs(float64(v)))
		}
		if l2, inf := norms(x); math.Abs(l2-math.Sqrt(ss)) > 1e-12*max(1, l2) || inf != mx {
			t.Errorf("n=%d: norms %g, %g; want %g, %g", n, l2, inf, math.Sqrt(ss), mx)
		}
		if n > 0 {
			x[n-1] = float32(math.NaN())
			if l2, inf := norms(x); !math.IsNaN(l2) || !math.IsNaN(inf) {
				t.Errorf("n=%d: norms with a NaN: %g, %g", n, l2, inf)
			}
		}
	}
}

func TestNewVectorIsAligned(t *testing.T) {
	// Allocate around other small objects so that some would land off a
	// 16-byte boundary without the adjustment.
	var keep [][]float32
	for n := range 40 {
		keep = append(keep, make([]float32, n%3+1))
		v := newVector(n)
		keep = append(keep, v)
		if len(v) != n || cap(v) != n {
			t.Fatalf("newVector(%d): len %d, cap %d", n, len(v), cap(v))
		}
		if n > 0 && uintptr(unsafe.Pointer(&v[0]))%vectorAlign != 0 {
			t.Errorf("newVector(%d) starts at %p, not %d-byte aligned", n, &v[0], vectorAlign)
		}
	}
	_ = keep
}

// TestDotDependsOnlyOnValues documents why newVector exists: gonum's DDot
// sums in an order that depends on the alignment of its second operand, so
// the same values at a shifted address can give a different last bit. On
// vectors from newVector the result depends on the values alone.
func TestDotDependsOnlyOnValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const n = 100001
	a, b := newVector(n), newVector(n)
	for i := range a {
		a[i] = float32(rng.NormFloat64()) * float32(math.Pow(10, 3*rng.Float64()))
		b[i] = float32(rng.NormFloat64()) * float32(math.Pow(10, 3*rng.Float64()))
	}
	want := dot(a, b)
	var keep [][]float32
	for k := range 4 {
		keep = append(keep, make([]float32, k+1)) // disturb the allocator
		c := newVector(n)
		copy(c, b)
		if got := dot(a, c); got != want {
			t.Errorf("copy %d: dot %v, want %v", k, got, want)
		}
		shifted := newVector(n + k)[k:]
		copy(shifted, b)
		t.Logf("second operand shifted by %d values: %v", k, dot(a, shifted))
	}
	_ = keep
}

func TestFingerprintSeesEveryValue(t *testing.T) {
	x := make([]float32, 1027)
	for i := range x {
		x[i] = float32(i) / 1027
	}
	base := fingerprint(x)
	if fingerprint(x[:1026]) == base {
		t.Error("length not hashed")
	}
	for _, i := range []int{0, 1, 2, 3, 511, 1024, 1026} {
		old := x[i]
		x[i] = math.Nextafter32(old, 2)
		if fingerprint(x) == base {
			t.Errorf("changing x[%d] by one ulp kept the fingerprint", i)
		}
		x[i] = old
	}
	x[0], x[4] = x[4], x[0] // same lane, swapped
	if fingerprint(x) == base {
		t.Error("swapping two values kept the fingerprint")
	}
}

func TestCubicMin(t *testing.T) {
	// φ(a) = a³ - 3a has its local minimum at a = 1.
	phi := func(a float64) lsPoint { return lsPoint{a: a, f: a*a*a - 3*a, dg: 3*a*a - 3} }
	tests := []struct {
		p, q     lsPoint
		lo, hi   float64
		fallback float64
		want     float64
	}{
		{phi(0), phi(2), 0, 2, -1, 1},
		{phi(2), phi(0.5), 0, 3, -1, 1},
		{phi(0), phi(2), 1.5, 2, -1, 1.5}, // clamped
		// A quadratic (no cubic term) still has its minimum found: ½(a-3)².
		{lsPoint{0, 4.5, -3}, lsPoint{1, 2, -2}, 0, 10, -1, 3},
		// Non-finite data fall back.
		{phi(0), lsPoint{a: 2, f: math.Inf(1), dg: math.NaN()}, 0, 2, 1.25, 1.25},
	}
	for _, tc := range tests {
		if got := cubicMin(tc.p, tc.q, tc.lo, tc.hi, tc.fallback); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("cubicMin(%v, %v) = %g, want %g", tc.p, tc.q, got, tc.want)
		}
	}
}
