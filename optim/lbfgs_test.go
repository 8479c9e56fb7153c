package optim

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"
)

// recorder wraps an objective and keeps every evaluation, so tests can
// check the accepted points against what the line search saw.
type recorder struct {
	f     Objective
	evals []evaluation
}

type evaluation struct {
	x, g []float32
	f    float64
}

func (r *recorder) objective(ctx context.Context, x, g []float32) (float64, error) {
	f, err := r.f(ctx, x, g)
	r.evals = append(r.evals, evaluation{x: append([]float32(nil), x...), g: append([]float32(nil), g...), f: f})
	return f, err
}

// find returns the evaluation made at exactly x.
func (r *recorder) find(t *testing.T, x []float32) evaluation {
	t.Helper()
	for i := len(r.evals) - 1; i >= 0; i-- {
		if equalBits(r.evals[i].x, x) {
			return r.evals[i]
		}
	}
	t.Fatal("the accepted x was never evaluated")
	return evaluation{}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// runLBFGS steps until done(x) holds, an error (ErrConverged included) or
// maxEvals, checking after every step
// that the accepted point satisfies the strong Wolfe conditions with the
// step s = x_new - x_old actually taken, and that the reported cost and
// evaluation counts are the recorded ones. It returns the evaluations used
// and the error that ended the run.
func runLBFGS(t *testing.T, opt *LBFGS, x []float32, rec *recorder, maxEvals int, done func([]float32) bool) (int, error) {
	t.Helper()
	c := opt.cfg
	total := 0
	for total < maxEvals && !done(x) {
		before := len(rec.evals)
		xOld := append([]float32(nil), x...)
		res, err := opt.Step(context.Background(), x, rec.objective)
		total += res.Evals
		if res.Evals != len(rec.evals)-before {
			t.Fatalf("step %d reported %d evaluations, made %d", res.Iter, res.Evals, len(rec.evals)-before)
		}
		if err != nil {
			if !equalBits(x, xOld) {
				t.Fatalf("step ending in %v changed x", err)
			}
			return total, err
		}
		old, cur := rec.find(t, xOld), rec.find(t, x)
		if res.Cost != cur.f {
			t.Fatalf("step %d: cost %g, but the objective gave %g at the new x", res.Iter, res.Cost, cur.f)
		}
		s := make([]float32, len(x))
		for i := range x {
			s[i] = x[i] - xOld[i]
		}
		g0s, g1s := dot64(old.g, s), dot64(cur.g, s)
		if !(g0s < 0) {
			t.Fatalf("step %d is not a descent step: ∇f·s = %g", res.Iter, g0s)
		}
		// The line search tests α·∇fᵀd; s differs from α·d by float32
		// rounding of x, hence the small slack.
		if slack := 1e-6 * math.Abs(g0s); cur.f > old.f+c.C1*g0s+slack {
			t.Fatalf("step %d violates sufficient decrease: f %g → %g, c1·∇f·s = %g", res.Iter, old.f, cur.f, c.C1*g0s)
		}
		if slack := 1e-4 * math.Abs(g0s); math.Abs(g1s) > c.C2*math.Abs(g0s)+slack {
			t.Fatalf("step %d violates the strong curvature condition: |∇f₁·s| %g > c2·|∇f₀·s| %g", res.Iter, math.Abs(g1s), c.C2*math.Abs(g0s))
		}
	}
	return total, nil
}

func TestLBFGSMinimises(t *testing.T) {
	rosenStart := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = -1.2
			if i%2 == 1 {
				x[i] = 1
			}
		}
		return x
	}
	dq := newDenseQuadratic(60, 1e3, 11)
	tests := []struct {
		name     string
		f        Objective
		x        []float32
		history  int
		maxEvals int
		solution func(i int) float64
		tol      float64 // on max |x - solution|
	}{
		{"rosenbrock 2", rosenbrock, rosenStart(2), 10, 60, func(int) float64 { return 1 }, 1e-3},
		{"rosenbrock 10", rosenbrock, rosenStart(10), 10, 120, func(int) float64 { return 1 }, 1e-3},
		{"rosenbrock 10, m 3", rosenbrock, rosenStart(10), 3, 130, func(int) float64 { return 1 }, 1e-3},
		{"quadratic cond 1e3", dq.objective, make([]float32, 60), 10, 170, func(i int) float64 { return dq.c[i] }, 1e-3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultLBFGSConfig()
			cfg.History = tc.history
			opt, err := NewLBFGS(cfg)
			if err != nil {
				t.Fatal(err)
			}
			worst := func(x []float32) float64 {
				var w float64
				for i, v := range x {
					w = max(w, math.Abs(float64(v)-tc.solution(i)))
				}
				return w
			}
			reached := func(x []float32) bool { return worst(x) <= tc.tol }
			rec := &recorder{f: tc.f}
			evals, err := runLBFGS(t, opt, tc.x, rec, tc.maxEvals, reached)
			if err != nil {
				t.Fatalf("after %d evaluations: %v", evals, err)
			}
			if !reached(tc.x) {
				t.Fatalf("%d evaluations left x %g from the minimum, want %g", evals, worst(tc.x), tc.tol)
			}
			t.Logf("%d evaluations, %d iterations to reach %g", evals, opt.iter, tc.tol)

			// Continued, the run ends with the sentinel, closer still.
			evals, err = runLBFGS(t, opt, tc.x, rec, 1000, func([]float32) bool { return false })
			if !errors.Is(err, ErrConverged) {
				t.Fatalf("continued run: %v after %d more evaluations, want ErrConverged", err, evals)
			}
			if w := worst(tc.x); w > tc.tol {
				t.Errorf("converged (%v) %g from the minimum", err, w)
			}
			t.Logf("then %d evaluations to %v", evals, err)
		})
	}
}

func TestLBFGSConverged(t *testing.T) {
	q := quadratic{a: []float64{1, 2, 3}, c: []float64{0.25, 0.5, 0.75}}
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	x := []float32{0.25, 0.5, 0.75}
	res, err := opt.Step(context.Background(), x, q.objective)
	if !errors.Is(err, ErrConverged) || errors.Is(err, ErrNoProgress) {
		t.Fatalf("at the minimum: err = %v, want ErrConverged", err)
	}
	if res.Evals != 1 || res.Cost != 0 || res.GradNorm != 0 || x[0] != 0.25 {
		t.Errorf("at the minimum: %+v, x %v", res, x)
	}
	res, err = opt.Step(context.Background(), x, q.objective)
	if !errors.Is(err, ErrConverged) || res.Evals != 0 {
		t.Errorf("repeated Step: evals %d, err %v; want no evaluation and ErrConverged", res.Evals, err)
	}

	// A gradient that points uphill: no step decreases the cost.
	uphill := func(ctx context.Context, x, g []float32) (float64, error) {
		f, err := q.objective(ctx, x, g)
		for i := range g {
			g[i] = -g[i]
		}
		return f, err
	}
	opt, _ = NewLBFGS(DefaultLBFGSConfig())
	x = []float32{0, 0, 0}
	res, err = opt.Step(context.Background(), x, uphill)
	if !errors.Is(err, ErrNoProgress) || !errors.Is(err, ErrConverged) {
		t.Fatalf("uphill gradient: err = %v, want ErrNoProgress", err)
	}
	if x[0] != 0 || x[1] != 0 || x[2] != 0 {
		t.Errorf("a step without progress moved x to %v", x)
	}
	if max := 1 + opt.cfg.MaxLineSearchEvals; res.Evals > max {
		t.Errorf("uphill gradient: %d evaluations, want at most %d", res.Evals, max)
	}
	if res, err = opt.Step(context.Background(), x, uphill); !errors.Is(err, ErrNoProgress) || res.Evals != 0 {
		t.Errorf("repeated Step after no progress: evals %d, err %v", res.Evals, err)
	}
}

// cancelAfter is an objective that cancels its context at evaluation number
// at (1-based) and then reports the cancellation, as an objective watching
// ctx in the middle of a forward pass would.
type cancelAfter struct {
	f      Objective
	cancel context.CancelFunc
	at, n  int
}

func (c *cancelAfter) objective(ctx context.Context, x, g []float32) (float64, error) {
	c.n++
	if c.n == c.at {
		c.cancel()
		return 0, ctx.Err()
	}
	return c.f(ctx, x, g)
}

func TestLBFGSCancelMidLineSearch(t *testing.T) {
	// Rosenbrock's first iterations need several line-search evaluations.
	start := []float32{-1.2, 1}
	const steps = 6

	straight, _ := NewLBFGS(DefaultLBFGSConfig())
	want := append([]float32(nil), start...)
	var wantCost []float64
	for range steps {
		res, err := straight.Step(context.Background(), want, rosenbrock)
		if err != nil {
			t.Fatal(err)
		}
		wantCost = append(wantCost, res.Cost)
	}

	// A context cancelled before the Step: nothing is evaluated.
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	x := append([]float32(nil), start...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := opt.Step(ctx, x, rosenbrock); !errors.Is(err, context.Canceled) || res.Evals != 0 || !equalBits(x, start) {
		t.Errorf("cancelled before the Step: evals %d, err %v, x %v", res.Evals, err, x)
	}

	// Evaluation 1 is the one at the start, the others are line-search
	// trials.
	for _, at := range []int{1, 2, 3, 4, 7} {
		opt, _ := NewLBFGS(DefaultLBFGSConfig())
		x := append([]float32(nil), start...)
		ctx, cancel := context.WithCancel(context.Background())
		c := &cancelAfter{f: rosenbrock, cancel: cancel, at: at}
		cancelled := false
		for k := 0; k < steps; {
			before := append([]float32(nil), x...)
			res, err := opt.Step(ctx, x, c.objective)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cancel at evaluation %d: err = %v", at, err)
				}
				if !equalBits(x, before) {
					t.Fatalf("cancel at evaluation %d: x changed from %v to %v", at, before, x)
				}
				cancelled = true
				ctx = context.Background()
				continue
			}
			if res.Cost != wantCost[k] {
				t.Fatalf("cancel at evaluation %d: step %d cost %g, uninterrupted %g", at, k+1, res.Cost, wantCost[k])
			}
			k++
		}
		cancel()
		if !cancelled {
			t.Fatalf("evaluation %d was never reached", at)
		}
		if !equalBits(x, want) {
			t.Errorf("cancel at evaluation %d, then retry: x %v, uninterrupted %v", at, x, want)
		}
	}
}

func TestLBFGSNoticesChangedX(t *testing.T) {
	q := quadratic{a: []float64{1, 10}, c: []float64{0.3, 0.6}}
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	x := []float32{0.9, 0.1}
	if _, err := opt.Step(context.Background(), x, q.objective); err != nil {
		t.Fatal(err)
	}
	x[0] = 0.95 // as if the caller had clamped or reloaded x
	rec := &recorder{f: q.objective}
	res, err := opt.Step(context.Background(), x, rec.objective)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.evals) < 2 || rec.evals[0].x[0] != 0.95 {
		t.Fatalf("the Step after x changed did not start by evaluating the new x: %d evaluations", len(rec.evals))
	}
	if res.Evals != len(rec.evals) {
		t.Errorf("evals %d, made %d", res.Evals, len(rec.evals))
	}
}

func TestLBFGSRejectsBadInput(t *testing.T) {
	bad := []struct {
		name string
		edit func(*LBFGSConfig)
	}{
		{"no history", func(c *LBFGSConfig) { c.History = 0 }},
		{"huge history", func(c *LBFGSConfig) { c.History = 1 << 20 }},
		{"zero lr", func(c *LBFGSConfig) { c.LR = 0 }},
		{"no evaluations", func(c *LBFGSConfig) { c.MaxLineSearchEvals = 0 }},
		{"c1 above c2", func(c *LBFGSConfig) { c.C1, c.C2 = 0.5, 0.4 }},
		{"c2 one", func(c *LBFGSConfig) { c.C2 = 1 }},
		{"negative tolerance", func(c *LBFGSConfig) { c.GradTol = -1 }},
		{"nan tolerance", func(c *LBFGSConfig) { c.CostTol = math.NaN() }},
		{"curvature eps one", func(c *LBFGSConfig) { c.CurvatureEps = 1 }},
	}
	for _, tc := range bad {
		cfg := DefaultLBFGSConfig()
		tc.edit(&cfg)
		if _, err := NewLBFGS(cfg); err == nil {
			t.Errorf("%s: NewLBFGS accepted %+v", tc.name, cfg)
		}
	}
	opt, _ := NewLBFGS(DefaultLBFGSConfig())
	if _, err := opt.Step(context.Background(), nil, rosenbrock); err == nil {
		t.Error("empty x accepted")
	}
	x := []float32{1, 2}
	inf := func(_ context.Context, x, g []float32) (float64, error) { return math.Inf(1), nil }
	if _, err := opt.Step(context.Background(), x, inf); err == nil || errors.Is(err, ErrConverged) {
		t.Errorf("infinite cost at the start: err = %v", err)
	}
	if _, err := opt.Step(context.Background(), []float32{1, 2, 3}, rosenbrock); err == nil {
		t.Error("a Step with a different length was accepted")
	}
}

func TestLBFGSDeterministicAcrossGOMAXPROCS(t *testing.T) {
	p := newGramProblem(8, 8, 8, 9)
	run := func(procs int) ([]float32, []byte) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		opt, _ := NewLBFGS(DefaultLBFGSConfig())
		x := append([]float32(nil), p.startX...)
		for range 15 {
			if _, err := opt.Step(context.Background(), x, p.objective); err != nil {
				t.Fatal(err)
			}
		}
		state, _ := opt.MarshalBinary()
		return x, state
	}
	x1, s1 := run(1)
	x2, s2 := run(max(2, runtime.NumCPU()))
	if !equalBits(x1, x2) || string(s1) != string(s2) {
		t.Error("results differ between GOMAXPROCS settings")
	}
}
