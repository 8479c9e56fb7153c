package optim

import (
	"context"
	"fmt"
	"math"
)

// nst has its own L-BFGS rather than gonum's optimize.LBFGS, which is
// slower per step and owns the loop that steps, cancels and checkpoints
// (docs/design.md, "The optimisers"; TestCompareWithGonum).

// LBFGSConfig holds L-BFGS's settings.
type LBFGSConfig struct {
	// History is the number of curvature pairs kept (m).
	History int
	// LR sets the first trial step whenever the method starts from steepest
	// descent (the first iteration, or after its history was dropped): the
	// step that changes the largest gradient component's value by LR, in
	// x's units. Later iterations try the quasi-Newton step 1 first.
	LR float64
	// MaxLineSearchEvals bounds the evaluations of one line search. If it
	// runs out with a sufficient decrease found but the curvature condition
	// unmet, the lowest such point is taken (its curvature pair is still
	// subject to the CurvatureEps test).
	MaxLineSearchEvals int
	// C1 and C2 are the strong Wolfe constants, 0 < C1 < C2 < 1: accepted
	// steps satisfy f(x+αd) ≤ f(x) + C1·α·∇f(x)ᵀd (sufficient decrease) and
	// |∇f(x+αd)ᵀd| ≤ C2·|∇f(x)ᵀd| (curvature).
	C1, C2 float64
	// GradTol ends the run (ErrConverged) once max|∇f(x)| ≤ GradTol.
	GradTol float64
	// CostTol ends the run once a step decreased the cost by no more than
	// CostTol times its previous magnitude.
	CostTol float64
	// StepTol ends the run once a step changed no value of x by more than
	// StepTol; it also stops a line search whose bracket has become that
	// narrow.
	StepTol float64
	// CurvatureEps drops a curvature pair (s, y) unless yᵀs > CurvatureEps·
	// ‖s‖·‖y‖, that is unless the angle between s and y is clearly below
	// 90°. The test is invariant to scaling x or the cost, which an absolute
	// threshold on yᵀs is not; such pairs would make the inverse Hessian
	// estimate indefinite or badly conditioned.
	CurvatureEps float64
}

// DefaultLBFGSConfig returns the settings nst uses: 10 pairs; LR 0.1, a
// tenth of the pixel range, which on the Gram-matching test problems reached
// lower costs in the first 10 evaluations than 1; 20 evaluations per line
// search; Wolfe constants 1e-4 and 0.9 (Nocedal and Wright's choice for
// quasi-Newton methods); GradTol 1e-7, CostTol 1e-9, StepTol 1e-8 (a tenth
// of float32's resolution at 1) and CurvatureEps 1e-8.
func DefaultLBFGSConfig() LBFGSConfig {
	return LBFGSConfig{
		History:            10,
		LR:                 0.1,
		MaxLineSearchEvals: 20,
		C1:                 1e-4,
		C2:                 0.9,
		GradTol:            1e-7,
		CostTol:            1e-9,
		StepTol:            1e-8,
		CurvatureEps:       1e-8,
	}
}

// maxHistory keeps a corrupt or mistyped setting from allocating without
// bound; useful values are below 50.
const maxHistory = 1000

func (c LBFGSConfig) validate() error {
	nonNeg := func(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }
	switch {
	case c.History < 1 || c.History > maxHistory:
		return fmt.Errorf("lbfgs: history %d must be in [1, %d]", c.History, maxHistory)
	case !(c.LR > 0) || math.IsInf(c.LR, 1):
		return fmt.Errorf("lbfgs: learning rate %g must be positive and finite", c.LR)
	case c.MaxLineSearchEvals < 1:
		return fmt.Errorf("lbfgs: max line-search evaluations %d must be at least 1", c.MaxLineSearchEvals)
	case !(0 < c.C1 && c.C1 < c.C2 && c.C2 < 1):
		return fmt.Errorf("lbfgs: Wolfe constants c1 %g, c2 %g must satisfy 0 < c1 < c2 < 1", c.C1, c.C2)
	case !nonNeg(c.GradTol) || !nonNeg(c.CostTol) || !nonNeg(c.StepTol) || !nonNeg(c.CurvatureEps):
		return fmt.Errorf("lbfgs: tolerances (grad %g, cost %g, step %g, curvature %g) must be non-negative and finite",
			c.GradTol, c.CostTol, c.StepTol, c.CurvatureEps)
	case c.CurvatureEps >= 1:
		return fmt.Errorf("lbfgs: curvature eps %g must be below 1", c.CurvatureEps)
	}
	return nil
}

// LBFGS is the limited-memory BFGS method (Nocedal and Wright, Numerical
// Optimization, 2nd ed., algorithms 7.4 and 7.5) with a strong Wolfe line
// search (algorithms 3.5 and 3.6, cubic interpolation).
//
// It is unconstrained: x may leave the pixel range [0, 1] during the run and
// the caller clamps when it writes an image. Projecting inside the method
// would break the curvature pairs (s would no longer be the step the line
// search measured) and the Wolfe guarantees, and style transfer's optimum
// lies essentially inside the range anyway.
//
// Between Steps x must hold what the last Step left there. If it does not
// (the caller clamped it, or resumed from an image that is not bit-exact),
// the next Step notices through a hash of x, evaluates the cost and gradient
// again and continues with the kept history.
type LBFGS struct {
	cfg   LBFGSConfig
	n     int // len(x), fixed by the first Step; 0 before it
	iter  int // completed steps
	evals int // evaluations made, cancelled steps included

	// f and g are the cost and gradient at the x whose fingerprint is xHash;
	// they are meaningful only when haveGrad is set. gl2 and ginf are g's
	// norms, derived from g.
	haveGrad  bool
	f         float64
	g         []float32
	gl2, ginf float64
	xHash     uint64

	// lastDecrease and lastStepMax describe the last step for the
	// convergence tests; NaN when there is none to judge.
	lastDecrease, lastStepMax float64
	// stalled records that the line search found no decrease from this x.
	stalled bool

	// The curvature pairs form a ring: logical pair j (0 oldest) lives in
	// slot (first+j) % History. gamma = sᵀy/yᵀy of the newest pair scales
	// the initial inverse Hessian.
	s, y         [][]float32
	rho          []float64
	first, count int
	gamma        float64

	// Scratch, not part of the state.
	spareS, spareY []float32 // the next pair, kept out of the ring until accepted
	d              []float32 // search direction
	xt             []float32 // trial point x + xtAlpha·d
	xtAlpha        float64
	gt, glo        []float32 // gradients at the trial point and at the best point
	alpha          []float64 // two-loop coefficients
	stepEvals      int
}

// NewLBFGS returns an L-BFGS optimiser, or an error for invalid settings.
func NewLBFGS(cfg LBFGSConfig) (*LBFGS, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &LBFGS{cfg: cfg, lastDecrease: math.NaN(), lastStepMax: math.NaN()}, nil
}

// Name returns "lbfgs".
func (*LBFGS) Name() string { return "lbfgs" }

// Step performs one L-BFGS iteration: it computes the search direction from
// the kept curvature pairs, runs the line search and moves x to the accepted
// point. The returned Cost and GradNorm belong to that updated x.
//
// Evals counts the line search's evaluations, plus one when the cost and
// gradient at the incoming x were not known (the first Step, or x changed
// since the last Step). If the quasi-Newton direction yields no decrease,
// the history is dropped and the step retried along the steepest descent
// direction within the same Step.
//
// Step returns an error wrapping ErrConverged, with x unchanged, when the
// gradient at x vanished (GradTol) or the previous step changed the cost or
// x by less than CostTol or StepTol; and ErrNoProgress when no step decreases
// the cost. Repeated calls keep returning it without evaluating again.
//
// On any other error, a cancelled ctx included, x is unchanged: a
// cancellation in the middle of the line search discards its trial points,
// and the state still describes x, so retrying the Step continues exactly as
// if it had not been interrupted.
func (o *LBFGS) Step(ctx context.Context, x []float32, f Objective) (StepResult, error) {
	if o.n == 0 {
		if len(x) == 0 {
			return StepResult{}, fmt.Errorf("lbfgs: x is empty")
		}
		o.alloc(len(x))
	}
	if err := checkLen("lbfgs", o.n, len(x)); err != nil {
		return StepResult{}, err
	}
	o.stepEvals = 0
	res, err := o.step(ctx, x, f)
	res.Evals, res.TotalEvals, res.Iter = o.stepEvals, o.evals, o.iter
	if err != nil {
		return res, fmt.Errorf("lbfgs step %d: %w", o.iter+1, err)
	}
	return res, nil
}

func (o *LBFGS) step(ctx context.Context, x []float32, f Objective) (StepResult, error) {
	var res StepResult
	if h := fingerprint(x); !o.haveGrad || h != o.xHash {
		cost, err := o.eval(ctx, f, x, o.gt)
		if err != nil {
			return res, err
		}
		o.f, o.g, o.gt = cost, o.gt, o.g
		o.gl2, o.ginf = norms(o.g)
		o.haveGrad, o.xHash = true, h
		o.lastDecrease, o.lastStepMax, o.stalled = math.NaN(), math.NaN(), false
	}
	res.Cost, res.GradNorm = o.f, o.gl2
	switch {
	case !isFinite(o.f) || !isFinite(o.gl2):
		return res, fmt.Errorf("objective returned cost %g with gradient norm %g", o.f, o.gl2)
	case o.ginf <= o.cfg.GradTol:
		return res, fmt.Errorf("%w: largest gradient component %g ≤ %g", ErrConverged, o.ginf, o.cfg.GradTol)
	case o.stalled:
		return res, ErrNoProgress
	case o.lastDecrease <= o.cfg.CostTol*math.Abs(o.f+o.lastDecrease):
		return res, fmt.Errorf("%w: last step decreased the cost by %g, relative tolerance %g", ErrConverged, o.lastDecrease, o.cfg.CostTol)
	case o.lastStepMax <= o.cfg.StepTol:
		return res, fmt.Errorf("%w: last step changed x by at most %g ≤ %g", ErrConverged, o.lastStepMax, o.cfg.StepTol)
	}

	useHistory := o.count > 0
	var ls lineSearchResult
	for {
		dg0, alpha0, dinf, used := o.direction(useHistory)
		useHistory = used
		var err error
		ls, err = o.lineSearch(ctx, f, x, dg0, alpha0, dinf)
		if err != nil {
			return res, err
		}
		if ls.found {
			break
		}
		if !useHistory {
			o.stalled = true
			return res, fmt.Errorf("%w (%d evaluations)", ErrNoProgress, o.stepEvals)
		}
		// A quasi-Newton direction that yields no decrease means the
		// history no longer describes the cost's curvature here.
		useHistory = false
	}
	if !useHistory {
		// Dropped only now, so that an interrupted Step leaves the state
		// as it found it.
		o.count, o.first = 0, 0
	}
	o.commit(x, ls)
	res.Cost, res.GradNorm, res.StepSize = o.f, o.gl2, ls.alpha
	return res, nil
}

// eval evaluates the objective at x into grad, counting the evaluation.
func (o *LBFGS) eval(ctx context.Context, f Objective, x, grad []float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	o.evals++
	o.stepEvals++
	cost, err := f(ctx, x, grad)
	if err != nil {
		return 0, fmt.Errorf("evaluate objective: %w", err)
	}
	return cost, nil
}

// direction writes the search direction into o.d and returns ∇f(x)ᵀd, the
// first trial step, max|d| and whether the history was used. With
// useHistory it is the two-loop recursion's -H·∇f; otherwise, or when
// rounding made that no descent direction, steepest descent with the first
// step that changes the largest gradient component's value by LR.
func (o *LBFGS) direction(useHistory bool) (dg, alpha0, dinf float64, used bool) {
	if useHistory && o.count > 0 {
		dg, dinf = o.twoLoop(o.g, o.d)
		if dg < 0 {
			return dg, 1, dinf, true
		}
	}
	negate(o.g, o.d)
	return -o.gl2 * o.gl2, o.cfg.LR / o.ginf, o.ginf, false
}

// twoLoop sets d = -H·g, H the inverse Hessian estimate from the kept pairs
// (Nocedal and Wright, algorithm 7.4), and returns gᵀd and max|d|.
func (o *LBFGS) twoLoop(g, d []float32) (dg, dinf float64) {
	k := o.count
	slot := func(j int) int { return (o.first + j) % o.cfg.History }
	copy(d, g)
	for j := k - 1; j >= 0; j-- {
		i := slot(j)
		o.alpha[j] = o.rho[i] * dot(o.s[i], d)
		axpy(float32(-o.alpha[j]), o.y[i], d)
	}
	scal(float32(o.gamma), d)
	for j := range k {
		i := slot(j)
		beta := o.rho[i] * dot(o.y[i], d)
		axpy(float32(o.alpha[j]-beta), o.s[i], d)
	}
	return negateDotMax(g, d)
}

// commit moves x to the accepted point, stores the curvature pair if it
// passes the test, and takes over the point's cost and gradient.
func (o *LBFGS) commit(x []float32, ls lineSearchResult) {
	if o.xtAlpha != ls.alpha {
		o.trialPoint(x, ls.alpha)
	}
	s, y, gOld, gNew := o.spareS, o.spareY, o.g, ls.grad
	moveTo(x, o.xt, s, gOld, gNew, y)
	// Separate passes, two of them gonum's assembly, profiled faster than
	// one loop fused with moveTo, which its accumulators' latency bound.
	ys, yy := dot(s, y), dot(y, y)
	sl2, smax := norms(s)
	gl2, ginf := norms(gNew)
	// gNew is o.glo; the old gradient's buffer becomes the new spare.
	o.g, o.glo = gNew, gOld
	o.gl2, o.ginf = gl2, ginf
	o.lastDecrease = o.f - ls.f
	o.lastStepMax = smax
	o.f = ls.f
	o.xHash = fingerprint(x)
	o.iter++
	if !(ys > o.cfg.CurvatureEps*sl2*math.Sqrt(yy)) {
		return
	}
	m := o.cfg.History
	var i int
	if o.count < m {
		i = (o.first + o.count) % m
		o.count++
	} else {
		i = o.first
		o.first = (o.first + 1) % m
	}
	o.s[i], o.spareS = s, o.s[i]
	o.y[i], o.spareY = y, o.y[i]
	o.rho[i] = 1 / ys
	o.gamma = ys / yy
}

// trialPoint sets o.xt = x + alpha·d.
func (o *LBFGS) trialPoint(x []float32, alpha float64) {
	copy(o.xt, x)
	axpy(float32(alpha), o.d, o.xt)
	o.xtAlpha = alpha
}

func (o *LBFGS) alloc(n int) {
	m := o.cfg.History
	o.n = n
	o.g = newVector(n)
	o.s = make([][]float32, m)
	o.y = make([][]float32, m)
	for i := range m {
		o.s[i] = newVector(n)
		o.y[i] = newVector(n)
	}
	o.rho = make([]float64, m)
	o.alpha = make([]float64, m)
	o.spareS = newVector(n)
	o.spareY = newVector(n)
	o.d = newVector(n)
	o.xt = newVector(n)
	o.xtAlpha = math.NaN()
	o.gt = newVector(n)
	o.glo = newVector(n)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

const lbfgsStateVersion = 1

// MarshalBinary encodes the settings, counters, convergence bookkeeping, the
// cost and gradient at the current x and the curvature pairs, oldest first.
func (o *LBFGS) MarshalBinary() ([]byte, error) {
	w := newStateWriter(o.Name(), lbfgsStateVersion, 4*o.n*(1+2*o.count)+16*o.count+256)
	c := o.cfg
	w.int(c.History)
	w.float(c.LR)
	w.int(c.MaxLineSearchEvals)
	w.float(c.C1)
	w.float(c.C2)
	w.float(c.GradTol)
	w.float(c.CostTol)
	w.float(c.StepTol)
	w.float(c.CurvatureEps)
	w.int(o.iter)
	w.int(o.evals)
	w.bool(o.haveGrad)
	w.float(o.f)
	w.uint(o.xHash)
	w.float(o.lastDecrease)
	w.float(o.lastStepMax)
	w.bool(o.stalled)
	w.float(o.gamma)
	w.int(o.count)
	w.int(o.n)
	w.floats32(o.g)
	for j := range o.count {
		i := (o.first + j) % c.History
		w.floats32(o.s[i])
		w.floats32(o.y[i])
		w.float(o.rho[i])
	}
	return w.buf, nil
}

// UnmarshalBinary restores a state written by MarshalBinary, settings
// included. On error the optimiser is unchanged.
func (o *LBFGS) UnmarshalBinary(data []byte) error {
	r, version, err := newStateReader(data, o.Name())
	if err != nil {
		return fmt.Errorf("restore lbfgs: %w", err)
	}
	if version != lbfgsStateVersion {
		return fmt.Errorf("restore lbfgs: state format %d, this build reads %d", version, lbfgsStateVersion)
	}
	var c LBFGSConfig
	c.History = r.int()
	c.LR = r.float()
	c.MaxLineSearchEvals = r.int()
	c.C1, c.C2 = r.float(), r.float()
	c.GradTol, c.CostTol, c.StepTol, c.CurvatureEps = r.float(), r.float(), r.float(), r.float()
	if r.err == nil {
		if err := c.validate(); err != nil {
			return fmt.Errorf("restore lbfgs: %w", err)
		}
	}
	b := &LBFGS{cfg: c}
	b.iter, b.evals = r.int(), r.int()
	b.haveGrad = r.bool()
	b.f = r.float()
	b.xHash = r.uint()
	b.lastDecrease, b.lastStepMax = r.float(), r.float()
	b.stalled = r.bool()
	b.gamma = r.float()
	b.count = r.int()
	if r.err == nil && (b.count < 0 || b.count > c.History || b.iter < 0 || b.evals < 0) {
		r.fail(errTruncated)
	}
	n := r.vectorLen(1 + 2*b.count)
	if r.err == nil && n == 0 && (b.haveGrad || b.count > 0) {
		r.fail(errTruncated)
	}
	if r.err != nil {
		return fmt.Errorf("restore lbfgs: %w", r.err)
	}
	if n > 0 {
		b.alloc(n)
	}
	r.floats32Into(b.g)
	b.gl2, b.ginf = norms(b.g)
	for j := range b.count {
		r.floats32Into(b.s[j])
		r.floats32Into(b.y[j])
		b.rho[j] = r.float()
	}
	if err := r.finish(); err != nil {
		return fmt.Errorf("restore lbfgs: %w", err)
	}
	*o = *b
	return nil
}
