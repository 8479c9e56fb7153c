package optim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// trace wraps an objective, counting evaluations and recording the lowest
// cost seen after each one and the time spent inside the objective, so that
// optimisers with different loops are judged alike.
type trace struct {
	f       Objective
	budget  int
	best    []float64
	objTime time.Duration
}

var errBudget = errors.New("evaluation budget spent")

func (tr *trace) objective(ctx context.Context, x, g []float32) (float64, error) {
	if len(tr.best) >= tr.budget {
		return 0, errBudget
	}
	start := time.Now()
	f, err := tr.f(ctx, x, g)
	tr.objTime += time.Since(start)
	if err != nil {
		return f, err
	}
	b := f
	if n := len(tr.best); n > 0 {
		b = min(b, tr.best[n-1])
	}
	tr.best = append(tr.best, b)
	return f, nil
}

// runOurs steps opt until the budget is spent or it converges.
func runOurs(opt Optimizer, x []float32, tr *trace) error {
	for len(tr.best) < tr.budget {
		if _, err := opt.Step(context.Background(), x, tr.objective); err != nil {
			if errors.Is(err, errBudget) || errors.Is(err, ErrConverged) {
				return nil
			}
			return err
		}
	}
	return nil
}

// runGonum minimises with gonum's L-BFGS through the same float32
// objective. gonum asks for the value and the gradient at a point in two
// calls; a one-point cache makes them one evaluation, as in nst.
func runGonum(ls optimize.Linesearcher, x0 []float32, tr *trace) error {
	n := len(x0)
	x32, g32 := make([]float32, n), make([]float32, n)
	last := make([]float64, n)
	var lastF float64
	valid := false
	var evalErr error
	at := func(x []float64) {
		if valid {
			same := true
			for i := range x {
				if x[i] != last[i] {
					same = false
					break
				}
			}
			if same {
				return
			}
		}
		for i, v := range x {
			x32[i] = float32(v)
		}
		copy(last, x)
		f, err := tr.objective(context.Background(), x32, g32)
		if err != nil {
			evalErr = err
			f = math.Inf(1)
		}
		lastF, valid = f, true
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 { at(x); return lastF },
		Grad: func(grad, x []float64) {
			at(x)
			for i, v := range g32 {
				grad[i] = float64(v)
			}
		},
		Status: func() (optimize.Status, error) {
			if evalErr != nil {
				return optimize.Failure, nil
			}
			return optimize.NotTerminated, nil
		},
	}
	start := make([]float64, n)
	for i, v := range x0 {
		start[i] = float64(v)
	}
	settings := &optimize.Settings{Converger: optimize.NeverTerminate{}}
	_, err := optimize.Minimize(p, start, settings, &optimize.LBFGS{Store: 10, Linesearcher: ls})
	if evalErr != nil && !errors.Is(evalErr, errBudget) {
		return evalErr
	}
	if err != nil && evalErr == nil {
		return err
	}
	return nil
}

// TestCompareWithGonum runs nst's L-BFGS, gonum's L-BFGS with its two strong
// Wolfe line searches and Adam on NST-like Gram-matching problems with the
// same evaluation budget, prints the lowest cost reached after k
// evaluations and the time taken (go test -v -run CompareWithGonum), and
// requires nst's L-BFGS to end within 5% of gonum's cost.
//
// docs/performance.md ("The optimisers") keeps a run's table.
func TestCompareWithGonum(t *testing.T) {
	if testing.Short() {
		t.Skip("comparison runs for seconds")
	}
	problems := []struct {
		name     string
		h, w, nC int
		seed     uint64
	}{
		{"32x32, 16 channels", 32, 32, 16, 31},
		{"24x40, 8 channels", 24, 40, 8, 32},
	}
	const budget = 120
	marks := []int{10, 25, 50, 80, 120}
	type outcome struct {
		name     string
		best     []float64
		wall     time.Duration
		overhead time.Duration
	}
	for _, pc := range problems {
		p := newGramProblem(pc.h, pc.w, pc.nC, pc.seed)
		methods := []struct {
			name string
			run  func(x []float32, tr *trace) error
		}{
			{"nst lbfgs", func(x []float32, tr *trace) error {
				o, _ := NewLBFGS(DefaultLBFGSConfig())
				return runOurs(o, x, tr)
			}},
			{"gonum lbfgs+bisection", func(x []float32, tr *trace) error { return runGonum(&optimize.Bisection{}, x, tr) }},
			{"gonum lbfgs+morethuente", func(x []float32, tr *trace) error { return runGonum(&optimize.MoreThuente{}, x, tr) }},
			{"nst adam lr 0.02", func(x []float32, tr *trace) error {
				cfg := DefaultAdamConfig()
				cfg.LR = 0.02
				o, _ := NewAdam(cfg)
				return runOurs(o, x, tr)
			}},
		}
		var results []outcome
		f0, _ := p.objective(context.Background(), p.startX, make([]float32, p.n))
		for _, m := range methods {
			tr := &trace{f: p.objective, budget: budget}
			x := append([]float32(nil), p.startX...)
			start := time.Now()
			if err := m.run(x, tr); err != nil {
				t.Fatalf("%s on %s: %v", m.name, pc.name, err)
			}
			wall := time.Since(start)
			results = append(results, outcome{m.name, tr.best, wall, (wall - tr.objTime) / time.Duration(max(1, len(tr.best)))})
		}

		var b strings.Builder
		fmt.Fprintf(&b, "%s, start cost %.4g; lowest cost / start cost after k evaluations\n", pc.name, f0)
		fmt.Fprintf(&b, "%-24s", "method")
		for _, k := range marks {
			fmt.Fprintf(&b, " %9s", fmt.Sprintf("k=%d", k))
		}
		fmt.Fprintf(&b, " %9s %14s\n", "wall", "own µs/eval")
		for _, r := range results {
			fmt.Fprintf(&b, "%-24s", r.name)
			for _, k := range marks {
				fmt.Fprintf(&b, " %9.3g", at(r.best, k)/f0)
			}
			fmt.Fprintf(&b, " %9s %14.1f\n", r.wall.Round(time.Millisecond), float64(r.overhead.Nanoseconds())/1e3)
		}
		t.Log("\n" + b.String())

		ours := at(results[0].best, budget)
		for _, r := range results[1:3] {
			if theirs := at(r.best, budget); ours > theirs*1.05 {
				t.Errorf("%s: nst lbfgs reached %g in %d evaluations, %s %g", pc.name, ours, budget, r.name, theirs)
			}
		}
	}
}

// at returns the lowest cost after k evaluations (or after all of them when
// the run ended earlier).
func at(best []float64, k int) float64 {
	if len(best) == 0 {
		return math.NaN()
	}
	return best[min(k, len(best))-1]
}
