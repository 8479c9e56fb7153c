package flow

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// constant returns a w×h field with the same flow everywhere.
func constant(w, h int, u, v float32) Field {
	f, _ := NewField(w, h)
	for i := range f.U {
		f.U[i], f.V[i] = u, v
	}
	return f
}

// TestClassifyDisocclusionThreshold checks the forward–backward test
// |w + ŵ|² > 0.01·(|w|² + |ŵ|²) + 0.5 on constant flows either side of the
// threshold.
func TestClassifyDisocclusionThreshold(t *testing.T) {
	cases := []struct {
		name     string
		w, back  [2]float32
		want     Class
		lhs, rhs float64 // the two sides, for the record
	}{
		{"exact inverse", [2]float32{2, 0}, [2]float32{-2, 0}, Reliable, 0, 0.58},
		{"just inside", [2]float32{2, 0}, [2]float32{-1.4, 0}, Reliable, 0.36, 0.5596},
		{"just outside", [2]float32{2, 0}, [2]float32{-1.2, 0}, Disoccluded, 0.64, 0.5544},
		{"same direction", [2]float32{2, 0}, [2]float32{2, 0}, Disoccluded, 16, 0.58},
		{"vertical inside", [2]float32{0, 1}, [2]float32{0.3, -0.6}, Reliable, 0.25, 0.5145},
		{"large motion, 10% tolerance", [2]float32{10, 0}, [2]float32{-8.6, 0}, Reliable, 1.96, 2.2396},
		{"large motion beyond it", [2]float32{10, 0}, [2]float32{-8.5, 0}, Disoccluded, 2.25, 2.2225},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const w, h = 30, 20
			cls, err := Classify(constant(w, h, c.w[0], c.w[1]), constant(w, h, c.back[0], c.back[1]))
			if err != nil {
				t.Fatal(err)
			}
			// A pixel whose target is well inside the frame.
			if got := cls[8*w+8]; got != c.want {
				t.Errorf("class %v, want %v (|w+ŵ|² = %v against %v)", got, c.want, c.lhs, c.rhs)
			}
		})
	}
}

// TestClassifyMotionBoundary checks |∇u|² + |∇v|² > 0.01·|w|² + 0.002 on a
// flow whose u grows linearly along x with slope 0.05, paired with its
// exact inverse so the forward–backward test passes: |∇u|² = 0.0025 beats
// 0.01·(0.05x)² + 0.002 for x ≤ 4 only.
func TestClassifyMotionBoundary(t *testing.T) {
	const w, h, s = 40, 6, 0.05
	f, _ := NewField(w, h)
	back, _ := NewField(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f.U[y*w+x] = s * float32(x)
			back.U[y*w+x] = -s * float32(x) / (1 + s) // ŵ(x + w(x)) = −w(x)
		}
	}
	cls, err := Classify(f, back)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < h-1; y++ {
		for x := 0; x < w; x++ {
			want := Reliable
			switch {
			case float64(x)*(1+s) >= w-1:
				want = OutOfFrame
			case x <= 4:
				want = MotionBoundary
			}
			if got := cls[y*w+x]; got != want {
				t.Errorf("(%d, %d): %v, want %v", x, y, got, want)
			}
		}
	}
	// The last row's targets sit on the last row: outside, as in Ruder's checker.
	if got := cls[(h-1)*w+10]; got != OutOfFrame {
		t.Errorf("last row: %v, want out of frame", got)
	}
}

// TestClassifyEdgesAndInvalid checks the out-of-frame rule at the frame's
// edges, that unusable flow values are Invalid, that their neighbours
// (whose flow gradient they spoil) are motion boundaries, and that only
// Reliable pixels get weight 1.
func TestClassifyEdgesAndInvalid(t *testing.T) {
	const w, h = 10, 8
	f := constant(w, h, 1, 0)
	f.U[3*w+3] = float32(math.NaN())
	f.V[3*w+4] = 2e9
	f.U[4*w+3] = float32(math.Inf(-1))
	cls, err := Classify(f, constant(w, h, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			bad := func(x, y int) bool {
				return x >= 0 && x < w && (y*w+x == 3*w+3 || y*w+x == 3*w+4 || y*w+x == 4*w+3)
			}
			want := Reliable
			switch {
			case bad(x, y):
				want = Invalid
			case x+1 >= w-1 || y >= h-1:
				want = OutOfFrame
			case bad(x-1, y) || bad(x+1, y) || bad(x, y-1) || bad(x, y+1):
				want = MotionBoundary
			}
			if cls[i] != want {
				t.Errorf("(%d, %d): %v, want %v", x, y, cls[i], want)
			}
		}
	}
	c := WeightsOf(cls)
	for i, k := range cls {
		if want := float32(0); k == Reliable && c[i] != 1 || k != Reliable && c[i] != want {
			t.Fatalf("weight %v for class %v", c[i], k)
		}
	}
	c2, err := Weights(f, constant(w, h, -1, 0))
	if err != nil || !slices.Equal(c, c2) {
		t.Errorf("Weights differs from WeightsOf(Classify): %v", err)
	}
	if _, err := Classify(f, constant(w, h+1, 0, 0)); err == nil {
		t.Error("flows of different sizes: no error")
	}
	if _, err := Classify(Field{W: w, H: h}, f); err == nil {
		t.Error("empty flow: no error")
	}
}

// TestLongTermWeights checks c_long[j] = max(c[j] − Σ_{k<j} c[k], 0).
func TestLongTermWeights(t *testing.T) {
	cases := []struct {
		name  string
		short [][]float32
		want  [][]float32
	}{
		{"none", nil, nil},
		{"one frame", [][]float32{{1, 0, 1}}, [][]float32{{1, 0, 1}}},
		{
			"binary, closest wins",
			[][]float32{{1, 1, 0, 0}, {1, 0, 1, 0}, {1, 1, 1, 1}},
			[][]float32{{1, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}},
		},
		{"fractional", [][]float32{{0.5, 0}, {1, 0.25}}, [][]float32{{0.5, 0}, {0.5, 0.25}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := make([][]float32, len(c.short))
			for i := range c.short {
				in[i] = slices.Clone(c.short[i])
			}
			got, err := LongTermWeights(in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, c.want, func(a, b []float32) bool { return slices.Equal(a, b) }) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			if !slices.EqualFunc(in, c.short, func(a, b []float32) bool { return slices.Equal(a, b) }) {
				t.Error("input modified")
			}
		})
	}
	if _, err := LongTermWeights([][]float32{{1, 1}, {1}}); err == nil {
		t.Error("lengths differ: no error")
	}
}

// TestTemporalValue checks the cost and gradient on a case worked by hand:
// J = (1·(1−0)² + 0·(2−0)²)/2 = 0.5, and with weight 2 the gradient gains
// 2·2/2·1·(1−0) = 2 at the first value and nothing at the second.
func TestTemporalValue(t *testing.T) {
	grad := []float32{10, 10}
	j, err := Temporal([]float32{1, 2}, []float32{0, 0}, []float32{1, 0}, 1, 1, 2, 2, grad)
	if err != nil {
		t.Fatal(err)
	}
	if j != 0.5 {
		t.Errorf("cost %v, want 0.5", j)
	}
	if !slices.Equal(grad, []float32{12, 10}) {
		t.Errorf("gradient %v, want [12 10]", grad)
	}
	if j, err := Temporal([]float32{1, 2}, []float32{0, 0}, []float32{1, 1}, 1, 1, 2, 0, nil); err != nil || j != 2.5 {
		t.Errorf("without gradient: cost %v (%v), want 2.5", j, err)
	}
}

// TestTemporalGradient checks the gradient against central finite
// differences of the cost, computed in float64. The cost is quadratic, so
// with a step that float32 represents exactly the difference quotient is
// the derivative up to rounding.
func TestTemporalGradient(t *testing.T) {
	const ch, h, w = 3, 4, 5
	const weight = 0.7
	n := h * w
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, ch*n)
	warped := make([]float32, ch*n)
	c := make([]float32, n)
	for i := range x {
		// Multiples of 2⁻¹⁰, so that x ± step is exact in float32.
		x[i] = float32(rng.IntN(1024)) / 1024
		warped[i] = float32(rng.IntN(1024)) / 1024
	}
	for i := range c {
		c[i] = []float32{0, 1, 0.25}[rng.IntN(3)]
	}
	grad := make([]float32, len(x))
	if _, err := Temporal(x, warped, c, ch, h, w, weight, grad); err != nil {
		t.Fatal(err)
	}
	const step = 1.0 / 128
	for i := range x {
		orig := x[i]
		x[i] = orig + step
		jp, _ := Temporal(x, warped, c, ch, h, w, 0, nil)
		x[i] = orig - step
		jm, _ := Temporal(x, warped, c, ch, h, w, 0, nil)
		x[i] = orig
		want := weight * (jp - jm) / (2 * step)
		if d := math.Abs(float64(grad[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("value %d: gradient %v, finite difference %v", i, grad[i], want)
		}
	}
}

// TestTemporalErrors checks that mismatched buffers and a non-finite weight
// are refused.
func TestTemporalErrors(t *testing.T) {
	x := make([]float32, 6)
	c := make([]float32, 2)
	cases := []struct {
		name     string
		x, wp, c []float32
		ch, h, w int
		weight   float64
		grad     []float32
	}{
		{"short image", x[:5], x, c, 3, 1, 2, 1, nil},
		{"short warped", x, x[:5], c, 3, 1, 2, 1, nil},
		{"weights per value", x, x, x, 3, 1, 2, 1, nil},
		{"short gradient", x, x, c, 3, 1, 2, 1, x[:5]},
		{"zero channels", x, x, c, 0, 1, 2, 1, nil},
		{"zero height", x, x, c, 3, 0, 2, 1, nil},
		{"NaN weight", x, x, c, 3, 1, 2, math.NaN(), nil},
		{"infinite weight", x, x, c, 3, 1, 2, math.Inf(1), nil},
	}
	for _, tc := range cases {
		if _, err := Temporal(tc.x, tc.wp, tc.c, tc.ch, tc.h, tc.w, tc.weight, tc.grad); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
