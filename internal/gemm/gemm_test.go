package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/ortrt"
)

// kernel is the method set losses.Kernel asks for.
type kernel interface {
	Gram(dst, a []float32, rows, cols int) error
	MatMul(dst, a, b []float32, m, k, n int) error
}

func newORT(tb testing.TB) *ORT {
	tb.Helper()
	if err := ortrt.Init(""); err != nil {
		tb.Fatal(err)
	}
	k, err := NewORT(ortrt.SessionOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := k.Close(); err != nil {
			tb.Error(err)
		}
	})
	return k
}

func kernels(t *testing.T) map[string]kernel {
	return map[string]kernel{"reference": &reference{}, "ort": newORT(t)}
}

func TestHandComputedProducts(t *testing.T) {
	// a is 2×3; a·aᵀ = [[1+4+9, 4+10+18], [., 16+25+36]].
	a := []float32{1, 2, 3, 4, 5, 6}
	wantGram := []float32{14, 32, 32, 77}
	// b is 3×2; a·b = [[1·1+2·0+3·2, 1·−1+2·3+3·1], [4+0+12, −4+15+6]].
	b := []float32{1, -1, 0, 3, 2, 1}
	wantMul := []float32{7, 8, 16, 17}
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			gram := make([]float32, 4)
			if err := k.Gram(gram, a, 2, 3); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(gram) != fmt.Sprint(wantGram) {
				t.Errorf("gram = %v, want %v", gram, wantGram)
			}
			mul := make([]float32, 4)
			if err := k.MatMul(mul, a, b, 2, 3, 2); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(mul) != fmt.Sprint(wantMul) {
				t.Errorf("matmul = %v, want %v", mul, wantMul)
			}
		})
	}
}

func TestReferenceAccumulatesInFloat64(t *testing.T) {
	// 1 + 2⁻²⁴·(2²⁰ small terms): a float32 running sum never leaves 1, the
	// float64 sum is 1.0625 (exact in float32).
	const n = 1 << 20
	a := make([]float32, 1+n)
	b := make([]float32, 1+n)
	a[0], b[0] = 1, 1
	for i := 1; i <= n; i++ {
		a[i], b[i] = 1.0/(1<<12), 1.0/(1<<12)
	}
	var r reference
	dst := make([]float32, 1)
	if err := r.MatMul(dst, a, b, 1, 1+n, 1); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 1.0625 {
		t.Errorf("matmul = %v, want 1.0625", dst[0])
	}
	if err := r.Gram(dst, a, 1, 1+n); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 1.0625 {
		t.Errorf("gram = %v, want 1.0625", dst[0])
	}
}

func randMatrix(rng *rand.Rand, n int, signed bool) []float32 {
	m := make([]float32, n)
	for i := range m {
		v := rng.Float32()
		if signed {
			v = 2*v - 1
		} else if rng.IntN(2) == 0 {
			v = 0 // ReLU output: about half zeros
		}
		m[i] = v
	}
	return m
}

// absBound returns Σ_p |a_ip|·|b_pj| for every (i, j): the scale that float32
// rounding errors of a dot product are proportional to, whatever the signs.
func absBound(a, b []float32, m, k, n int) []float64 {
	abs := func(x []float32) []float32 {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(math.Abs(float64(v)))
		}
		return y
	}
	out := make([]float32, m*n)
	var r reference
	if err := r.MatMul(out, abs(a), abs(b), m, k, n); err != nil {
		panic(err)
	}
	bound := make([]float64, len(out))
	for i, v := range out {
		bound[i] = float64(v)
	}
	return bound
}

func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// TestORTAccuracy bounds ONNX Runtime's float32 results against the float64
// reference on style-layer shapes (relu5_1 and relu3_1 at 256 px, relu1_1 at
// 64 px) and on the gradient product with a signed left operand.
func TestORTAccuracy(t *testing.T) {
	// 2e-6 relative to Σ|a||b| is about 17 float32 ulps: MLAS's blocked sums
	// stay well inside it, while one dropped or doubled term exceeds it.
	const tol = 2e-6
	k := newORT(t)
	var ref reference
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ rows, cols int }{{512, 256}, {256, 4096}, {64, 4096}} {
		t.Run(fmt.Sprintf("gram_%dx%d", c.rows, c.cols), func(t *testing.T) {
			a := randMatrix(rng, c.rows*c.cols, false)
			got := make([]float32, c.rows*c.rows)
			want := make([]float32, c.rows*c.rows)
			if err := k.Gram(got, a, c.rows, c.cols); err != nil {
				t.Fatal(err)
			}
			if err := ref.Gram(want, a, c.rows, c.cols); err != nil {
				t.Fatal(err)
			}
			checkClose(t, got, want, absBound(a, transpose(a, c.rows, c.cols), c.rows, c.cols, c.rows), tol)
		})
	}
	for _, c := range []struct{ m, k, n int }{{256, 256, 4096}, {64, 64, 4096}} {
		t.Run(fmt.Sprintf("matmul_%dx%dx%d", c.m, c.k, c.n), func(t *testing.T) {
			a := randMatrix(rng, c.m*c.k, true)
			b := randMatrix(rng, c.k*c.n, false)
			got := make([]float32, c.m*c.n)
			want := make([]float32, c.m*c.n)
			if err := k.MatMul(got, a, b, c.m, c.k, c.n); err != nil {
				t.Fatal(err)
			}
			if err := ref.MatMul(want, a, b, c.m, c.k, c.n); err != nil {
				t.Fatal(err)
			}
			checkClose(t, got, want, absBound(a, b, c.m, c.k, c.n), tol)
		})
	}
}

func checkClose(t *testing.T, got, want []float32, scale []float64, tol float64) {
	t.Helper()
	worst, at := 0.0, 0
	for i := range got {
		if scale[i] == 0 {
			if got[i] != 0 {
				t.Fatalf("element %d = %v, want exactly 0", i, got[i])
			}
			continue
		}
		if e := math.Abs(float64(got[i])-float64(want[i])) / scale[i]; e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	if !(worst <= tol) {
		t.Fatalf("element %d: got %v, want %v: error %.3g of Σ|a||b|, bound %.3g", at, got[at], want[at], worst, tol)
	}
	t.Logf("worst error %.3g of Σ|a||b|", worst)
}

func TestShapeErrors(t *testing.T) {
	buf := func(n int) []float32 { return make([]float32, n) }
	gram := []struct {
		name       string
		dst, a     []float32
		rows, cols int
		want       string
	}{
		{"short input", buf(4), buf(5), 2, 3, "gram input: 5 elements for 2×3"},
		{"long output", buf(5), buf(6), 2, 3, "gram output: 5 elements for 2×2"},
		{"zero rows", buf(0), buf(0), 0, 3, "dimensions 0×3"},
		{"negative cols", buf(4), buf(6), 2, -3, "dimensions 2×-3"},
		{"overflow", buf(1), buf(1), 1 << 31, 1 << 31, "exceeds"},
	}
	mul := []struct {
		name      string
		dst, a, b []float32
		m, k, n   int
		want      string
	}{
		{"left", buf(4), buf(5), buf(6), 2, 3, 2, "left operand: 5 elements for 2×3"},
		{"right", buf(4), buf(6), buf(5), 2, 3, 2, "right operand: 5 elements for 3×2"},
		{"output", buf(3), buf(6), buf(6), 2, 3, 2, "matmul output: 3 elements for 2×2"},
	}
	for name, k := range kernels(t) {
		for _, c := range gram {
			err := k.Gram(c.dst, c.a, c.rows, c.cols)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Gram %s: error %v, want %q", name, c.name, err, c.want)
			}
		}
		for _, c := range mul {
			err := k.MatMul(c.dst, c.a, c.b, c.m, c.k, c.n)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: MatMul %s: error %v, want %q", name, c.name, err, c.want)
			}
		}
	}
}

func TestORTReusesWrappersWithoutAllocating(t *testing.T) {
	k := newORT(t)
	a := randMatrix(rand.New(rand.NewPCG(3, 4)), 64*96, false)
	g := make([]float32, 64*64)
	d := make([]float32, 64*96)
	step := func() {
		if err := k.Gram(g, a, 64, 96); err != nil {
			t.Fatal(err)
		}
		if err := k.MatMul(d, g, a, 64, 64, 96); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if n, bytes := k.cached(); n != 3 || bytes != 4*(2*64*96+64*64) {
		t.Fatalf("after one step: %d wrappers, %d bytes; want 3, %d", n, bytes, 4*(2*64*96+64*64))
	}
	// Steady state runs cached IO bindings: nothing is allocated.
	if allocs := testing.AllocsPerRun(10, step); allocs != 0 {
		t.Errorf("%v allocations per Gram and MatMul, want 0", allocs)
	}
	if n, _ := k.cached(); n != 3 {
		t.Errorf("steady state holds %d wrappers, want 3", n)
	}
	// The same memory seen with another shape is another tensor.
	if err := k.Gram(g[:32*32], a[:32*192], 32, 192); err != nil {
		t.Fatal(err)
	}
	if n, _ := k.cached(); n != 5 {
		t.Errorf("after a reshape: %d wrappers, want 5", n)
	}
	k.Forget(a)
	if n, _ := k.cached(); n != 3 {
		t.Errorf("after forgetting the input (seen with two shapes): %d wrappers, want 3", n)
	}
	k.mu.Lock()
	k.releaseAll()
	k.mu.Unlock()
	if n, bytes := k.cached(); n != 0 || bytes != 0 {
		t.Errorf("after releaseAll: %d wrappers, %d bytes", n, bytes)
	}
	step()
	if n, _ := k.cached(); n != 3 {
		t.Errorf("after releaseAll and a step: %d wrappers, want 3", n)
	}
}

func TestORTBoundsItsCache(t *testing.T) {
	k := newORT(t)
	a := []float32{1, 2, 3, 4, 5, 6}
	var keep [][]float32
	for i := range maxWrapped + 10 {
		dst := make([]float32, 4)
		keep = append(keep, dst)
		if err := k.Gram(dst, a, 2, 3); err != nil {
			t.Fatal(err)
		}
		if dst[1] != 32 {
			t.Fatalf("call %d: gram = %v", i, dst)
		}
		if n, _ := k.cached(); n > maxWrapped {
			t.Fatalf("call %d: %d wrappers cached, limit %d", i, n, maxWrapped)
		}
	}
	// The input, used by every call, must have survived every eviction.
	if _, ok := k.wrapped[wrapKey{&a[0], 2, 3}]; !ok {
		t.Error("the most recently used wrapper was evicted")
	}
	// An evicted buffer is wrapped again and still computes.
	first := keep[0]
	clear(first)
	if err := k.Gram(first, a, 2, 3); err != nil || first[3] != 77 {
		t.Fatalf("re-wrapped buffer: gram = %v, err %v", first, err)
	}
}

func TestORTAfterClose(t *testing.T) {
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	k, err := NewORT(ortrt.SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 4)
	if err := k.Gram(dst, []float32{1, 2, 3, 4, 5, 6}, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := k.cached(); n != 0 {
		t.Errorf("Close left %d wrappers", n)
	}
	if err := k.Gram(dst, []float32{1, 2, 3, 4, 5, 6}, 2, 3); err == nil {
		t.Error("Gram after Close succeeded")
	}
	if err := k.MatMul(dst, []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4}, 2, 2, 2); err == nil {
		t.Error("MatMul after Close succeeded")
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
