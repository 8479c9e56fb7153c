// Package optim holds the pixel optimisers of nst: Adam and L-BFGS over a
// []float32 image (RGB, [1,3,H,W] layout) whose objective is evaluated by a
// caller-supplied function.
//
// An objective evaluation is a forward and backward pass through a ConvNet and
// costs seconds, so the optimisers are built to reach a low cost in few
// evaluations and to spend next to nothing themselves: every buffer is
// allocated on the first Step (or by UnmarshalBinary) and reused, and vector
// work runs on gonum's assembly kernels or in fused single passes.
//
// Results are deterministic: a given binary produces bit-identical pixels for
// the same inputs on every run and with any GOMAXPROCS, because the optimisers
// are single-threaded and every reduction runs in a fixed order (dot products
// accumulate in float64, over vectors aligned so that gonum's kernels always
// sum in the same order). The state of an optimiser can be saved with
// MarshalBinary and restored with UnmarshalBinary so that a run resumed from a
// checkpoint continues bit for bit like an uninterrupted one, provided the
// caller also restores x exactly (as float32, not through an 8-bit image).
package optim

import (
	"context"
	"encoding"
	"errors"
	"fmt"
)

// Objective evaluates the cost at x and writes dJ/dx into grad
// (len(grad) == len(x)). It must not retain or modify x, and it must be
// deterministic for the optimisers' results to be. Errors it returns,
// including ctx's, abort the Step that called it.
type Objective func(ctx context.Context, x, grad []float32) (float64, error)

// Optimizer minimises an Objective over x, one iteration per Step.
type Optimizer interface {
	// Step performs one iteration and updates x in place.
	//
	// Which x the returned cost belongs to depends on the method and is
	// documented by each implementation: Adam reports the cost at x as it
	// was when Step was called (the point its gradient was taken at, so
	// that a step costs exactly one evaluation), L-BFGS reports the cost at
	// the updated x. StepResult.Evals says how many evaluations the step
	// used.
	//
	// On any error x is left as it was before the call. After a failing
	// objective or a cancelled ctx the optimiser's state still describes
	// that x, so a checkpoint taken then is consistent, and retrying the
	// Step gives the same x as an uninterrupted run (only the evaluation
	// counters record the wasted work). The first Step fixes len(x); later
	// calls must pass the same length.
	Step(ctx context.Context, x []float32, f Objective) (StepResult, error)

	// Name identifies the method ("adam", "lbfgs").
	Name() string

	// MarshalBinary encodes the optimiser's complete state: its settings,
	// counters, moments or curvature history and, for L-BFGS, the cost and
	// gradient at the current x. x itself is not included.
	encoding.BinaryMarshaler
	// UnmarshalBinary replaces the optimiser's state, settings included,
	// with one written by MarshalBinary of the same method.
	encoding.BinaryUnmarshaler
}

// StepResult describes one Step.
type StepResult struct {
	// Cost is the objective's value at the point documented by the
	// method's Step.
	Cost float64
	// GradNorm is the Euclidean norm of the gradient at that same point.
	GradNorm float64
	// StepSize is the step taken: Adam's bias-corrected learning rate,
	// L-BFGS's accepted line-search step along its search direction.
	StepSize float64
	// Evals is the number of objective evaluations this Step made.
	Evals int
	// TotalEvals is the number of evaluations since the optimiser was
	// created, carried through MarshalBinary.
	TotalEvals int
	// Iter is the number of completed steps, this one included.
	Iter int
}

// ErrConverged is returned by Step when there is nothing left to gain: the
// gradient vanished, the last step changed the cost or x by less than the
// configured tolerances, or (see ErrNoProgress) no step decreases the cost.
// x is left unchanged by such a Step; callers end the run.
var ErrConverged = errors.New("optimiser converged")

// ErrNoProgress is returned by L-BFGS when its line search finds no step
// that decreases the cost, even along the steepest descent direction. It
// means the cost is at a minimum to working precision, or that the gradient
// does not match the cost. errors.Is(err, ErrConverged) holds for it too.
var ErrNoProgress = fmt.Errorf("%w: no step along the descent direction decreases the cost", ErrConverged)

// checkLen enforces the length fixed by the first Step.
func checkLen(method string, n, got int) error {
	if n != got {
		return fmt.Errorf("%s: x has %d values, the optimiser was started with %d", method, got, n)
	}
	return nil
}
