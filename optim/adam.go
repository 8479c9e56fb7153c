package optim

import (
	"context"
	"fmt"
	"math"
)

// AdamConfig holds Adam's settings.
type AdamConfig struct {
	// LR is the step size α: with bias correction, the first steps move
	// each value by about LR.
	LR float64
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates, in [0, 1).
	Beta1, Beta2 float64
	// Eps is added to the square root of the second moment to keep the
	// update finite where the gradient is zero.
	Eps float64
	// Lo and Hi bound every value of x: after each update x is projected
	// onto [Lo, Hi]. Use ±Inf to leave a side open.
	Lo, Hi float32
}

// DefaultAdamConfig returns Kingma and Ba's settings (β1 0.9, β2 0.999,
// ε 1e-8) with LR 0.01 and pixels kept in [0, 1].
func DefaultAdamConfig() AdamConfig {
	return AdamConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Lo: 0, Hi: 1}
}

func (c AdamConfig) validate() error {
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 1):
		return fmt.Errorf("adam: learning rate %g must be positive and finite", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("adam: beta1 %g must be in [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("adam: beta2 %g must be in [0, 1)", c.Beta2)
	case !(c.Eps > 0) || math.IsInf(c.Eps, 1):
		return fmt.Errorf("adam: eps %g must be positive and finite", c.Eps)
	case !(c.Lo < c.Hi):
		return fmt.Errorf("adam: bounds [%g, %g] are empty", c.Lo, c.Hi)
	}
	return nil
}

// Adam is the optimiser of Kingma and Ba (2015, Algorithm 1) with a
// projection onto [Lo, Hi] after each update. Its moments are kept in
// float32 like x; each value's update is computed in float64.
type Adam struct {
	cfg   AdamConfig
	n     int // len(x), fixed by the first Step; 0 before it
	t     int // completed steps
	evals int
	m, v  []float32 // first and second moment estimates
	grad  []float32 // scratch for the objective's gradient
}

// NewAdam returns an Adam optimiser, or an error for invalid settings.
func NewAdam(cfg AdamConfig) (*Adam, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Adam{cfg: cfg}, nil
}

// Name returns "adam".
func (*Adam) Name() string { return "adam" }

// Step evaluates the objective once, at x as passed in, then updates x with
// the bias-corrected Adam step and projects it onto [Lo, Hi]. The returned
// Cost and GradNorm belong to x as it was before the update; the cost of the
// updated x is only known after the next Step's evaluation. If the objective
// fails, or returns a cost or gradient that is not finite, x and the moments
// are left untouched.
func (a *Adam) Step(ctx context.Context, x []float32, f Objective) (StepResult, error) {
	if a.n == 0 {
		if len(x) == 0 {
			return StepResult{}, fmt.Errorf("adam: x is empty")
		}
		a.alloc(len(x))
	}
	if err := checkLen("adam", a.n, len(x)); err != nil {
		return StepResult{}, err
	}
	res := StepResult{TotalEvals: a.evals, Iter: a.t}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("adam step %d: %w", a.t+1, err)
	}
	cost, err := f(ctx, x, a.grad)
	a.evals++
	res.Evals, res.TotalEvals = 1, a.evals
	if err != nil {
		return res, fmt.Errorf("adam step %d: evaluate objective: %w", a.t+1, err)
	}
	gnorm, _ := norms(a.grad)
	res.Cost, res.GradNorm = cost, gnorm
	if math.IsNaN(cost) || math.IsInf(cost, 0) || math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
		return res, fmt.Errorf("adam step %d: objective returned cost %g with gradient norm %g", a.t+1, cost, gnorm)
	}

	a.t++
	c := a.cfg
	// Algorithm 1: m̂ = m/(1-β1^t), v̂ = v/(1-β2^t), x -= α·m̂/(√v̂+ε).
	c1 := 1 / (1 - math.Pow(c.Beta1, float64(a.t)))
	c2 := 1 / math.Sqrt(1-math.Pow(c.Beta2, float64(a.t)))
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	d1, d2 := float32(1-c.Beta1), float32(1-c.Beta2)
	lr, eps := c.LR, c.Eps
	lo, hi := c.Lo, c.Hi
	m, v, g := a.m[:len(x)], a.v[:len(x)], a.grad[:len(x)]
	for i, xi := range x {
		gi := g[i]
		mi := b1*m[i] + d1*gi
		vi := b2*v[i] + d2*gi*gi
		m[i], v[i] = mi, vi
		upd := lr * (float64(mi) * c1) / (math.Sqrt(float64(vi))*c2 + eps)
		// Comparisons rather than min/max: the values are finite, and Go's
		// NaN-aware float min/max made this loop slower.
		nx := float32(float64(xi) - upd)
		if nx < lo {
			nx = lo
		}
		if nx > hi {
			nx = hi
		}
		x[i] = nx
	}
	res.Iter = a.t
	res.StepSize = lr * c1 / c2
	return res, nil
}

func (a *Adam) alloc(n int) {
	a.n = n
	a.m = newVector(n)
	a.v = newVector(n)
	a.grad = newVector(n)
}

const adamStateVersion = 1

// MarshalBinary encodes the settings, the step and evaluation counters and
// both moment vectors.
func (a *Adam) MarshalBinary() ([]byte, error) {
	w := newStateWriter(a.Name(), adamStateVersion, 8*a.n+128)
	c := a.cfg
	w.float(c.LR)
	w.float(c.Beta1)
	w.float(c.Beta2)
	w.float(c.Eps)
	w.float(float64(c.Lo))
	w.float(float64(c.Hi))
	w.int(a.t)
	w.int(a.evals)
	w.int(a.n)
	w.floats32(a.m)
	w.floats32(a.v)
	return w.buf, nil
}

// UnmarshalBinary restores a state written by MarshalBinary, settings
// included. On error the optimiser is unchanged.
func (a *Adam) UnmarshalBinary(data []byte) error {
	r, version, err := newStateReader(data, a.Name())
	if err != nil {
		return fmt.Errorf("restore adam: %w", err)
	}
	if version != adamStateVersion {
		return fmt.Errorf("restore adam: state format %d, this build reads %d", version, adamStateVersion)
	}
	var c AdamConfig
	c.LR, c.Beta1, c.Beta2, c.Eps = r.float(), r.float(), r.float(), r.float()
	c.Lo, c.Hi = float32(r.float()), float32(r.float())
	t, evals := r.int(), r.int()
	n := r.vectorLen(2)
	var b Adam
	b.cfg, b.t, b.evals = c, t, evals
	if n > 0 {
		b.alloc(n)
	}
	r.floats32Into(b.m)
	r.floats32Into(b.v)
	if err := r.finish(); err != nil {
		return fmt.Errorf("restore adam: %w", err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("restore adam: %w", err)
	}
	if t < 0 || evals < 0 || (n == 0 && t != 0) {
		return fmt.Errorf("restore adam: %w", errTruncated)
	}
	*a = b
	return nil
}
