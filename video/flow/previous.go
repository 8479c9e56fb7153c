package flow

import (
	"context"
	"fmt"
)

// Previous is what the temporal cost of the current frame needs from one
// earlier frame: that frame's stylised result warped into the current
// frame, and the per-pixel weights saying where the warp can be trusted.
type Previous struct {
	// Warped holds ch planes of h×w values, the stylised earlier frame
	// sampled along the flow; also the natural initialisation of the
	// current frame's optimisation.
	Warped []float32
	// Weights holds one value per pixel: Ruder et al.'s c, 1 where the
	// pixel is reliable and 0 where it is disoccluded, on a motion
	// boundary or carried out of the frame.
	Weights []float32
	// Classes says, per pixel, why its weight is what it is.
	Classes []Class
	// Forward and Backward are the flows from the current frame to the
	// earlier one and back, for saving with SaveFlo.
	Forward, Backward Field
}

// Prepare computes the flows between the current and an earlier content
// frame, warps the earlier frame's stylised result (ch planes of the same
// size, channel-major) into the current frame and runs the consistency
// check. For Ruder et al.'s long-term cost, call it once per earlier frame
// and pass the Weights, closest frame first, to LongTermWeights.
func Prepare(ctx context.Context, cur, prev Image, prevStylised []float32, ch int, o Options) (Previous, error) {
	fwd, back, err := Bidirectional(ctx, cur, prev, o)
	if err != nil {
		return Previous{}, err
	}
	warped := make([]float32, len(prevStylised))
	if err := Warp(warped, prevStylised, ch, fwd); err != nil {
		return Previous{}, fmt.Errorf("prepare temporal target: %w", err)
	}
	cls, err := Classify(fwd, back)
	if err != nil {
		return Previous{}, fmt.Errorf("prepare temporal target: %w", err)
	}
	return Previous{Warped: warped, Weights: WeightsOf(cls), Classes: cls, Forward: fwd, Backward: back}, nil
}
