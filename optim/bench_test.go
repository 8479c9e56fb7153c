package optim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// pixels512 is the length of a 512x512 RGB image.
const pixels512 = 3 * 512 * 512

// stiffQuadratic is ½ Σ aᵢ (xᵢ - cᵢ)² with curvatures spread over six
// decades, so that L-BFGS keeps making steps for many iterations; it does
// not allocate and costs one pass over x.
type stiffQuadratic struct {
	a, c []float32
	time time.Duration
}

func newStiffQuadratic(n int) *stiffQuadratic {
	rng := rand.New(rand.NewPCG(1, 2))
	q := &stiffQuadratic{a: make([]float32, n), c: make([]float32, n)}
	for i := range q.a {
		q.a[i] = float32(math.Pow(10, 6*rng.Float64()))
		q.c[i] = rng.Float32()
	}
	return q
}

func (q *stiffQuadratic) objective(_ context.Context, x, g []float32) (float64, error) {
	start := time.Now()
	var f float64
	for i, v := range x {
		r := v - q.c[i]
		g[i] = q.a[i] * r
		f += 0.5 * float64(g[i]) * float64(r)
	}
	q.time += time.Since(start)
	return f, nil
}

func TestStepDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		opt  func() Optimizer
	}{
		{"adam", func() Optimizer { o, _ := NewAdam(DefaultAdamConfig()); return o }},
		{"lbfgs", func() Optimizer { o, _ := NewLBFGS(DefaultLBFGSConfig()); return o }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newStiffQuadratic(4096)
			x := make([]float32, 4096)
			opt := tc.opt()
			ctx := context.Background()
			f := Objective(q.objective) // a method value allocates where it is taken
			var err error
			// The history fills during the first steps; allocation must
			// stop after the first.
			if _, err = opt.Step(ctx, x, f); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(30, func() {
				if _, e := opt.Step(ctx, x, f); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%g allocations per Step", allocs)
			}
		})
	}
}

func TestTwoLoopAppliesTheInverseHessianEstimate(t *testing.T) {
	q := newStiffQuadratic(1001)
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	x := make([]float32, 1001)
	f := Objective(q.objective)
	for range 14 { // more steps than History, so the ring wraps
		if _, err := opt.Step(context.Background(), x, f); err != nil {
			t.Fatal(err)
		}
	}
	if opt.count != opt.cfg.History || opt.first == 0 {
		t.Fatalf("history holds %d pairs from slot %d, want a wrapped full ring", opt.count, opt.first)
	}
	newest := (opt.first + opt.count - 1) % opt.cfg.History

	// The BFGS update satisfies the secant equation H·y = s for the newest
	// pair, so the direction for "gradient" y is -s.
	d := newVector(len(x))
	y, s := opt.y[newest], opt.s[newest]
	dg, dinf := opt.twoLoop(y, d)
	var worst, scale float64
	for i := range d {
		worst = max(worst, math.Abs(float64(d[i])+float64(s[i])))
		scale = max(scale, math.Abs(float64(s[i])))
	}
	if worst > 1e-3*scale {
		t.Errorf("H·y differs from s by up to %g (|s| up to %g)", worst, scale)
	}
	if want := dot64(y, d); math.Abs(dg-want) > 1e-9*math.Abs(want) {
		t.Errorf("twoLoop returned yᵀd %g, want %g", dg, want)
	}
	if _, inf := norms(d); dinf != inf {
		t.Errorf("twoLoop returned max|d| %g, want %g", dinf, inf)
	}

	// Against the recursion evaluated in float64 for the current gradient.
	want := twoLoop64(opt, opt.g)
	dg, _ = opt.twoLoop(opt.g, d)
	var wantScale float64
	for _, v := range want {
		wantScale = max(wantScale, math.Abs(v))
	}
	for i := range d {
		if diff := math.Abs(float64(d[i]) - want[i]); diff > 1e-4*wantScale {
			t.Fatalf("d[%d] = %g, float64 recursion %g", i, d[i], want[i])
		}
	}
	if !(dg < 0) {
		t.Errorf("gᵀd = %g, not a descent direction", dg)
	}
}

// twoLoop64 is algorithm 7.4 in float64 on the optimiser's stored pairs,
// returning -H·g.
func twoLoop64(o *LBFGS, g []float32) []float64 {
	q := make([]float64, len(g))
	for i, v := range g {
		q[i] = float64(v)
	}
	k := o.count
	slot := func(j int) int { return (o.first + j) % o.cfg.History }
	alpha := make([]float64, k)
	dot := func(a []float32, b []float64) float64 {
		var s float64
		for i := range b {
			s += float64(a[i]) * b[i]
		}
		return s
	}
	for j := k - 1; j >= 0; j-- {
		i := slot(j)
		alpha[j] = o.rho[i] * dot(o.s[i], q)
		for l := range q {
			q[l] -= alpha[j] * float64(o.y[i][l])
		}
	}
	for l := range q {
		q[l] *= o.gamma
	}
	for j := range k {
		i := slot(j)
		beta := o.rho[i] * dot(o.y[i], q)
		for l := range q {
			q[l] += (alpha[j] - beta) * float64(o.s[i][l])
		}
	}
	for l := range q {
		q[l] = -q[l]
	}
	return q
}

// The pure-Go kernels below are the measured alternative to gonum's
// assembly: the best scalar loops (bounds checks removed, four float64
// lanes) and a two-loop recursion that fuses each axpy with the next dot
// product to save a memory pass.

func dotGo(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	for len(a) >= 4 && len(b) >= 4 {
		s0 += float64(a[0]) * float64(b[0])
		s1 += float64(a[1]) * float64(b[1])
		s2 += float64(a[2]) * float64(b[2])
		s3 += float64(a[3]) * float64(b[3])
		a, b = a[4:], b[4:]
	}
	for i := range a {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(a float32, x, y []float32) {
	x = x[:len(y)]
	for len(y) >= 4 && len(x) >= 4 {
		y[0] += a * x[0]
		y[1] += a * x[1]
		y[2] += a * x[2]
		y[3] += a * x[3]
		x, y = x[4:], y[4:]
	}
	for i := range y {
		y[i] += a * x[i]
	}
}

// axpyDotGo sets y += a·x and returns zᵀy in one pass.
func axpyDotGo(a float32, x, y, z []float32) float64 {
	x, z = x[:len(y)], z[:len(y)]
	var s0, s1, s2, s3 float64
	for len(y) >= 4 && len(x) >= 4 && len(z) >= 4 {
		y0, y1, y2, y3 := y[0]+a*x[0], y[1]+a*x[1], y[2]+a*x[2], y[3]+a*x[3]
		y[0], y[1], y[2], y[3] = y0, y1, y2, y3
		s0 += float64(z[0]) * float64(y0)
		s1 += float64(z[1]) * float64(y1)
		s2 += float64(z[2]) * float64(y2)
		s3 += float64(z[3]) * float64(y3)
		x, y, z = x[4:], y[4:], z[4:]
	}
	for i := range y {
		y[i] += a * x[i]
		s0 += float64(z[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// twoLoopFusedGo is twoLoop with the fused pure-Go kernels.
func twoLoopFusedGo(o *LBFGS, g, d []float32) (float64, float64) {
	k := o.count
	slot := func(j int) int { return (o.first + j) % o.cfg.History }
	copy(d, g)
	sd := dotGo(o.s[slot(k-1)], d)
	for j := k - 1; j >= 0; j-- {
		i := slot(j)
		o.alpha[j] = o.rho[i] * sd
		if j > 0 {
			sd = axpyDotGo(float32(-o.alpha[j]), o.y[i], d, o.s[slot(j-1)])
		} else {
			axpyGo(float32(-o.alpha[j]), o.y[i], d)
		}
	}
	gamma := float32(o.gamma)
	for i := range d {
		d[i] *= gamma
	}
	yd := dotGo(o.y[slot(0)], d)
	for j := range k {
		i := slot(j)
		beta := o.rho[i] * yd
		if j+1 < k {
			yd = axpyDotGo(float32(o.alpha[j]-beta), o.s[i], d, o.y[slot(j+1)])
		} else {
			axpyGo(float32(o.alpha[j]-beta), o.s[i], d)
		}
	}
	return negateDotMax(g, d)
}

// BenchmarkTwoLoop compares the two-loop recursion on gonum's kernels with
// the fused pure-Go one at n = 786,432 (512x512 RGB) and History 10.
func BenchmarkTwoLoop(b *testing.B) {
	q := newStiffQuadratic(pixels512)
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	x := make([]float32, pixels512)
	for opt.count < opt.cfg.History {
		if _, err := opt.Step(context.Background(), x, q.objective); err != nil {
			b.Fatal(err)
		}
	}
	d := newVector(pixels512)
	for _, bc := range []struct {
		name string
		run  func()
	}{
		{"gonum", func() { opt.twoLoop(opt.g, d) }},
		{"fused-go", func() { twoLoopFusedGo(opt, opt.g, d) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * pixels512 * 2 * opt.count))
			for b.Loop() {
				bc.run()
			}
		})
	}
}

// BenchmarkStep measures one optimiser step at 512x512 on a cheap
// objective; "optimiser-ms/step" excludes the objective's own time, which is
// what the real objective (about 2 s) would replace.
func BenchmarkStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		opt  func() Optimizer
	}{
		{"adam", func() Optimizer { o, _ := NewAdam(DefaultAdamConfig()); return o }},
		{"lbfgs", func() Optimizer { o, _ := NewLBFGS(DefaultLBFGSConfig()); return o }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := newStiffQuadratic(pixels512)
			x := make([]float32, pixels512)
			opt := bc.opt()
			ctx := context.Background()
			f := Objective(q.objective)
			// Warm up past the history's filling.
			for range 12 {
				if _, err := opt.Step(ctx, x, f); err != nil {
					b.Fatal(err)
				}
			}
			q.time = 0
			evals := 0
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				res, err := opt.Step(ctx, x, f)
				if err != nil {
					b.Fatal(err)
				}
				evals += res.Evals
			}
			own := time.Since(start) - q.time
			b.ReportMetric(float64(own.Microseconds())/1e3/float64(b.N), "optimiser-ms/step")
			b.ReportMetric(float64(evals)/float64(b.N), "evals/step")
		})
	}
}

// BenchmarkGonumLBFGSStep measures gonum's L-BFGS (Bisection line search)
// the same way, driven through optimize.Minimize for b.N iterations.
func BenchmarkGonumLBFGSStep(b *testing.B) {
	q := newStiffQuadratic(pixels512)
	n := pixels512
	// The same one-point cache as runGonum: gonum asks for the value and
	// the gradient at a point in two calls.
	x32, g32 := make([]float32, n), make([]float32, n)
	last := make([]float64, n)
	var lastF float64
	valid := false
	at := func(x []float64) {
		if valid && slices.Equal(x, last) {
			return
		}
		for i, v := range x {
			x32[i] = float32(v)
		}
		copy(last, x)
		lastF, _ = q.objective(context.Background(), x32, g32)
		valid = true
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 { at(x); return lastF },
		Grad: func(grad, x []float64) {
			at(x)
			for i, v := range g32 {
				grad[i] = float64(v)
			}
		},
	}
	start := make([]float64, n)
	settings := &optimize.Settings{Converger: optimize.NeverTerminate{}, MajorIterations: b.N}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	res, err := optimize.Minimize(p, start, settings, &optimize.LBFGS{Store: 10})
	if err != nil {
		b.Fatal(err)
	}
	own := time.Since(t0) - q.time
	iters := max(1, res.Stats.MajorIterations)
	b.ReportMetric(float64(own.Microseconds())/1e3/float64(iters), "optimiser-ms/step")
	b.ReportMetric(float64(res.Stats.GradEvaluations)/float64(iters), "evals/step")
}

// parallelDot is the alternative measured by BenchmarkVectorOps: fixed chunks,
// one goroutine each, partial sums added in chunk order, so the result is
// the same for any GOMAXPROCS.
func parallelDot(a, b []float32, chunk int, partial []float64) float64 {
	var wg sync.WaitGroup
	for c := 0; c*chunk < len(a); c++ {
		lo, hi := c*chunk, min((c+1)*chunk, len(a))
		wg.Go(func() { partial[c] = dotGo(a[lo:hi], b[lo:hi]) })
	}
	wg.Wait()
	var s float64
	for c := 0; c*chunk < len(a); c++ {
		s += partial[c]
	}
	return s
}

// parallelAxpy is axpy split the same way.
func parallelAxpy(a float32, x, y []float32, chunk int) {
	var wg sync.WaitGroup
	for lo := 0; lo < len(y); lo += chunk {
		hi := min(lo+chunk, len(y))
		wg.Go(func() { axpyGo(a, x[lo:hi], y[lo:hi]) })
	}
	wg.Wait()
}

func BenchmarkVectorOps(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x, y, z := newVector(pixels512), newVector(pixels512), newVector(pixels512)
	for i := range x {
		x[i], y[i], z[i] = rng.Float32(), rng.Float32(), rng.Float32()
	}
	const chunk = 1 << 16
	partial := make([]float64, (pixels512+chunk-1)/chunk)
	var sink float64
	benches := []struct {
		name string
		run  func()
	}{
		{"dot/gonum", func() { sink += dot(x, y) }},
		{"dot/go", func() { sink += dotGo(x, y) }},
		{"dot/go-parallel", func() { sink += parallelDot(x, y, chunk, partial) }},
		{"axpy/gonum", func() { axpy(1e-9, x, y) }},
		{"axpy/go", func() { axpyGo(1e-9, x, y) }},
		{"axpy/go-parallel", func() { parallelAxpy(1e-9, x, y, chunk) }},
		{"axpy+dot/gonum", func() { axpy(1e-9, x, y); sink += dot(z, y) }},
		{"axpy+dot/go-fused", func() { sink += axpyDotGo(1e-9, x, y, z) }},
		{"norms", func() { l2, _ := norms(x); sink += l2 }},
		{"negateDotMax", func() { dg, _ := negateDotMax(x, y); sink += dg }},
		{"fingerprint", func() { sink += float64(fingerprint(x)) }},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(8 * pixels512)
			b.ReportAllocs()
			for b.Loop() {
				bc.run()
			}
		})
	}
	_ = fmt.Sprint(sink)
}
