package optim

import (
	"context"
	"math"
)

// lsPoint is one evaluated point on the search line: φ(a) = f(x+a·d) and
// its slope φ'(a) = ∇f(x+a·d)ᵀd.
type lsPoint struct {
	a, f, dg float64
}

// lineSearchResult is the accepted point of a line search.
type lineSearchResult struct {
	alpha, f float64
	grad     []float32 // the gradient at x+alpha·d (o.glo)
	found    bool      // a point with sufficient decrease was found
}

// lineSearch looks along o.d from x for a step satisfying the strong Wolfe
// conditions (Nocedal and Wright, algorithm 3.5): it extrapolates from
// alpha0 until the minimum is bracketed, then zooms in (algorithm 3.6). Trial
// points are written to o.xt and their gradients to o.gt; x and o.g are not
// touched. The best point with sufficient decrease so far is kept with its
// gradient in o.glo, so that a search that runs out of evaluations can still
// return progress. A cost or slope that is not finite counts as a step too
// far.
func (o *LBFGS) lineSearch(ctx context.Context, f Objective, x []float32, dg0, alpha0, dinf float64) (lineSearchResult, error) {
	c1, c2 := o.cfg.C1, o.cfg.C2
	f0 := o.f
	o.xtAlpha = math.NaN()
	evals := 0
	probe := func(a float64) (lsPoint, error) {
		o.trialPoint(x, a)
		evals++
		fa, err := o.eval(ctx, f, o.xt, o.gt)
		if err != nil {
			return lsPoint{}, err
		}
		dga := dot(o.gt, o.d)
		if !isFinite(fa) || !isFinite(dga) {
			return lsPoint{a: a, f: math.Inf(1), dg: math.NaN()}, nil
		}
		return lsPoint{a: a, f: fa, dg: dga}, nil
	}
	armijo := func(p lsPoint) bool { return p.f <= f0+c1*p.a*dg0 }
	curvature := func(p lsPoint) bool { return math.Abs(p.dg) <= -c2*dg0 }

	// best is the lowest point with sufficient decrease; a = 0 until one is
	// found.
	best := lsPoint{a: 0, f: f0, dg: dg0}
	keep := func(p lsPoint) {
		best = p
		o.gt, o.glo = o.glo, o.gt
	}
	result := func() lineSearchResult {
		return lineSearchResult{alpha: best.a, f: best.f, grad: o.glo, found: best.a > 0}
	}

	// Bracketing phase.
	prev := best
	a := alpha0
	var lo, hi lsPoint
	for {
		if evals >= o.cfg.MaxLineSearchEvals {
			return result(), nil
		}
		p, err := probe(a)
		if err != nil {
			return lineSearchResult{}, err
		}
		if !armijo(p) || p.f >= prev.f {
			lo, hi = prev, p
			break
		}
		keep(p)
		if curvature(p) {
			return result(), nil
		}
		if p.dg >= 0 {
			lo, hi = p, prev
			break
		}
		// Still descending: extrapolate to the cubic's minimiser, at least a
		// tenth of the last increment further and at most ten times as far.
		next := cubicMin(prev, p, p.a+0.1*(p.a-prev.a), 10*p.a, 10*p.a)
		prev, a = p, next
	}

	// Zoom phase: lo always satisfies sufficient decrease and is the lowest
	// such point; the minimum lies between lo and hi.
	for evals < o.cfg.MaxLineSearchEvals {
		left, right := min(lo.a, hi.a), max(lo.a, hi.a)
		width := right - left
		if width*dinf <= o.cfg.StepTol {
			break
		}
		// Stay a tenth of the bracket away from its ends so that it shrinks
		// by at least that much per evaluation.
		a := cubicMin(lo, hi, left+0.1*width, right-0.1*width, (left+right)/2)
		p, err := probe(a)
		if err != nil {
			return lineSearchResult{}, err
		}
		if !armijo(p) || p.f >= lo.f {
			hi = p
			continue
		}
		keep(p)
		if curvature(p) {
			return result(), nil
		}
		if p.dg*(hi.a-lo.a) >= 0 {
			hi = lo
		}
		lo = p
	}
	return result(), nil
}

// cubicMin returns the minimiser of the cubic that matches value and slope
// at p and q, clamped to [lo, hi], or fallback when the cubic has no
// minimiser or the data are not finite.
func cubicMin(p, q lsPoint, lo, hi, fallback float64) float64 {
	d1 := p.dg + q.dg - 3*(p.f-q.f)/(p.a-q.a)
	disc := d1*d1 - p.dg*q.dg
	if !(disc >= 0) || math.IsInf(disc, 1) {
		return fallback
	}
	d2 := math.Sqrt(disc)
	if q.a < p.a {
		d2 = -d2
	}
	t := q.a - (q.a-p.a)*(q.dg+d2-d1)/(q.dg-p.dg+2*d2)
	if !isFinite(t) {
		return fallback
	}
	return min(max(t, lo), hi)
}
