package optim

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// Test problems. Each computes in float64 from the float32 x, as the NST
// objective does inside ONNX Runtime, and returns a float32 gradient.

// quadratic is f(x) = ½ Σ a_i (x_i - c_i)².
type quadratic struct {
	a, c []float64
}

func (q quadratic) objective(_ context.Context, x, grad []float32) (float64, error) {
	var f float64
	for i, v := range x {
		r := float64(v) - q.c[i]
		f += 0.5 * q.a[i] * r * r
		grad[i] = float32(q.a[i] * r)
	}
	return f, nil
}

// denseQuadratic is f(x) = ½ (x-c)ᵀ A (x-c) with A = Qᵀ diag(eig) Q
// symmetric positive definite; its minimum is 0 at c.
type denseQuadratic struct {
	n    int
	a    []float64 // row-major n×n
	c    []float64
	r, h []float64 // scratch
}

func newDenseQuadratic(n int, cond float64, seed uint64) *denseQuadratic {
	rng := rand.New(rand.NewPCG(seed, 1))
	// Q from Gram-Schmidt on a random matrix.
	q := make([][]float64, n)
	for i := range q {
		q[i] = make([]float64, n)
		for j := range q[i] {
			q[i][j] = rng.NormFloat64()
		}
		for k := range i {
			var d float64
			for j := range n {
				d += q[i][j] * q[k][j]
			}
			for j := range n {
				q[i][j] -= d * q[k][j]
			}
		}
		var nn float64
		for _, v := range q[i] {
			nn += v * v
		}
		nn = math.Sqrt(nn)
		for j := range q[i] {
			q[i][j] /= nn
		}
	}
	p := &denseQuadratic{n: n, a: make([]float64, n*n), c: make([]float64, n), r: make([]float64, n), h: make([]float64, n)}
	for k := range n {
		eig := math.Pow(cond, float64(k)/float64(n-1))
		for i := range n {
			for j := range n {
				p.a[i*n+j] += eig * q[k][i] * q[k][j]
			}
		}
	}
	for i := range p.c {
		p.c[i] = rng.Float64()
	}
	return p
}

func (p *denseQuadratic) objective(_ context.Context, x, grad []float32) (float64, error) {
	for i, v := range x {
		p.r[i] = float64(v) - p.c[i]
	}
	var f float64
	for i := range p.n {
		var s float64
		row := p.a[i*p.n : (i+1)*p.n]
		for j, v := range row {
			s += v * p.r[j]
		}
		p.h[i] = s
		f += 0.5 * p.r[i] * s
		grad[i] = float32(s)
	}
	return f, nil
}

// rosenbrock is the extended Rosenbrock function
// Σ_i 100 (x_{i+1} - x_i²)² + (1 - x_i)², minimum 0 at all ones.
func rosenbrock(_ context.Context, x, grad []float32) (float64, error) {
	var f float64
	g := make([]float64, len(x))
	for i := 0; i+1 < len(x); i++ {
		a, b := float64(x[i]), float64(x[i+1])
		t := b - a*a
		f += 100*t*t + (1-a)*(1-a)
		g[i] += -400*t*a - 2*(1-a)
		g[i+1] += 200 * t
	}
	for i, v := range g {
		grad[i] = float32(v)
	}
	return f, nil
}

// gramProblem is a small model of style transfer in pure Go: features
// A = relu(conv3x3(x) + b), a fixed random convolution of the [3, H, W]
// image into nC channels, reshaped to [nC, M] (M = H·W); a content term
// ½‖A - Ac‖²/(nC·M) and a style term ‖G - Gs‖²/nC² on the Gram matrix
// G = A·Aᵀ/M, with targets from a smooth "photo" and a noise "artwork".
// x starts at the photo, as in nst.
type gramProblem struct {
	n, nC, h, w, m         int
	kernel                 []float64 // [nC, 3, 3, 3]
	bias                   []float64
	ac, gs                 []float64 // content features, style Gram
	contentW, styleW       float64
	z, a, g, dA            []float64
	content, style, startX []float32
}

func newGramProblem(h, w, nC int, seed uint64) *gramProblem {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := h * w
	p := &gramProblem{
		n: 3 * m, nC: nC, h: h, w: w, m: m,
		kernel: make([]float64, nC*27),
		bias:   make([]float64, nC),
		z:      make([]float64, nC*m),
		a:      make([]float64, nC*m),
		g:      make([]float64, nC*nC),
		dA:     make([]float64, nC*m),
		ac:     make([]float64, nC*m),
		gs:     make([]float64, nC*nC),

		contentW: 1, styleW: 100,
	}
	for i := range p.kernel {
		p.kernel[i] = rng.NormFloat64() / math.Sqrt(27)
	}
	for i := range p.bias {
		p.bias[i] = 0.1 * rng.NormFloat64()
	}
	p.content = make([]float32, p.n)
	p.style = make([]float32, p.n)
	for c := range 3 {
		for i := range h {
			for j := range w {
				k := (c*h+i)*w + j
				p.content[k] = float32(0.5 + 0.3*math.Sin(float64(i+2*c)/5)*math.Cos(float64(j)/7))
				p.style[k] = rng.Float32()
			}
		}
	}
	p.features(p.style)
	copy(p.gs, p.g)
	p.features(p.content)
	copy(p.ac, p.a)
	p.startX = append([]float32(nil), p.content...)
	return p
}

// features sets z, a and g for x.
func (p *gramProblem) features(x []float32) {
	h, w := p.h, p.w
	for o := range p.nC {
		for i := range h {
			for j := range w {
				s := p.bias[o]
				for c := range 3 {
					for di := -1; di <= 1; di++ {
						ii := i + di
						if ii < 0 || ii >= h {
							continue
						}
						for dj := -1; dj <= 1; dj++ {
							jj := j + dj
							if jj < 0 || jj >= w {
								continue
							}
							s += p.kernel[((o*3+c)*3+di+1)*3+dj+1] * float64(x[(c*h+ii)*w+jj])
						}
					}
				}
				p.z[(o*h+i)*w+j] = s
				p.a[(o*h+i)*w+j] = max(s, 0)
			}
		}
	}
	for i := range p.nC {
		ai := p.a[i*p.m : (i+1)*p.m]
		for j := range p.nC {
			aj := p.a[j*p.m : (j+1)*p.m]
			var s float64
			for l := range ai {
				s += ai[l] * aj[l]
			}
			p.g[i*p.nC+j] = s / float64(p.m)
		}
	}
}

func (p *gramProblem) objective(_ context.Context, x, grad []float32) (float64, error) {
	p.features(x)
	nC, m := float64(p.nC), float64(p.m)
	var content, style float64
	for r, v := range p.a {
		d := v - p.ac[r]
		content += d * d
		p.dA[r] = p.contentW * d / (nC * m)
	}
	content *= 0.5 / (nC * m)
	for i, v := range p.g {
		d := v - p.gs[i]
		style += d * d
	}
	style /= nC * nC
	// dStyle/dA = 4 (G - Gs) A / (nC² M).
	for i := range p.nC {
		for l := range p.m {
			var s float64
			for j := range p.nC {
				s += (p.g[i*p.nC+j] - p.gs[i*p.nC+j]) * p.a[j*p.m+l]
			}
			p.dA[i*p.m+l] += p.styleW * 4 * s / (nC * nC * m)
		}
	}
	// Through the ReLU, then the transposed convolution.
	for r, v := range p.z {
		if v <= 0 {
			p.dA[r] = 0
		}
	}
	h, w := p.h, p.w
	for c := range 3 {
		for ii := range h {
			for jj := range w {
				var s float64
				for o := range p.nC {
					for di := -1; di <= 1; di++ {
						i := ii - di
						if i < 0 || i >= h {
							continue
						}
						for dj := -1; dj <= 1; dj++ {
							j := jj - dj
							if j < 0 || j >= w {
								continue
							}
							s += p.kernel[((o*3+c)*3+di+1)*3+dj+1] * p.dA[(o*h+i)*w+j]
						}
					}
				}
				grad[(c*h+ii)*w+jj] = float32(s)
			}
		}
	}
	return p.contentW*content + p.styleW*style, nil
}

// checkGradient compares an objective's gradient with central differences
// computed in float64 on a float64 copy of the objective (x64 → f), at the
// given coordinates.
func checkGradient(t *testing.T, name string, f Objective, x []float32, coords []int, h, tol float64) {
	t.Helper()
	grad := make([]float32, len(x))
	if _, err := f(context.Background(), x, grad); err != nil {
		t.Fatal(err)
	}
	scratch := make([]float32, len(x))
	xp := append([]float32(nil), x...)
	for _, i := range coords {
		// Step in float32 so that the evaluated points are exactly
		// representable and the difference quotient uses the true spacing.
		orig := xp[i]
		hi := float32(float64(orig) + h)
		lo := float32(float64(orig) - h)
		xp[i] = hi
		fp, _ := f(context.Background(), xp, scratch)
		xp[i] = lo
		fm, _ := f(context.Background(), xp, scratch)
		xp[i] = orig
		fd := (fp - fm) / (float64(hi) - float64(lo))
		if diff := math.Abs(fd - float64(grad[i])); diff > tol*max(1, math.Abs(fd)) {
			t.Errorf("%s: ∂f/∂x[%d] = %g, finite difference %g", name, i, grad[i], fd)
		}
	}
}

func TestObjectiveGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	randomX := func(n int, lo, hi float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = lo + (hi-lo)*rng.Float32()
		}
		return x
	}
	dq := newDenseQuadratic(20, 100, 3)
	gp := newGramProblem(8, 6, 5, 5)
	tests := []struct {
		name string
		f    Objective
		x    []float32
		h    float64
		tol  float64
	}{
		{"quadratic", quadratic{a: []float64{1, 4, 0.5}, c: []float64{0.1, 0.9, -2}}.objective, randomX(3, -1, 1), 1e-3, 1e-5},
		{"dense quadratic", dq.objective, randomX(20, 0, 1), 1e-3, 1e-5},
		{"rosenbrock", rosenbrock, randomX(6, -1.5, 1.5), 1e-3, 1e-4},
		{"gram", gp.objective, randomX(gp.n, 0, 1), 1e-3, 1e-4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			coords := []int{0, len(tc.x) / 2, len(tc.x) - 1}
			if len(tc.x) > 10 {
				for range 10 {
					coords = append(coords, rng.IntN(len(tc.x)))
				}
			}
			checkGradient(t, tc.name, tc.f, tc.x, coords, tc.h, tc.tol)
		})
	}
}
