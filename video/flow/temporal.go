package flow

import (
	"fmt"
	"math"
)

// Temporal returns Ruder et al.'s short-term temporal cost of the generated
// image x against the previous stylised frame warped into the current one,
// with per-pixel weights c (from Weights, or one of LongTermWeights'
// results):
//
//	J_temporal = 1/D · Σ_k Σ_p c[p] · (x[k,p] − warped[k,p])²
//
// where x and warped hold ch planes of h×w values (channel-major, as the
// run loop's image tensor), c holds one weight per pixel shared by all
// planes, and D = ch·h·w is the number of values. Dividing by D, as Ruder et
// al. do, keeps a temporal weight meaning the same at every resolution.
//
// When grad is not nil, Temporal adds weight·dJ_temporal/dx =
// weight·2/D·c·(x − warped) to it (it does not overwrite: grad is normally
// the image gradient of the other costs). It returns J_temporal without the
// weight, as losses.TotalVariation does, so the caller can report each term
// and sum weight·J itself.
func Temporal(x, warped, c []float32, ch, h, w int, weight float64, grad []float32) (float64, error) {
	if ch <= 0 || ch > 64 {
		return 0, fmt.Errorf("temporal cost: %d channels, want 1 to 64", ch)
	}
	if err := checkSize(w, h); err != nil {
		return 0, fmt.Errorf("temporal cost: %w", err)
	}
	n := w * h
	d := ch * n
	switch {
	case len(x) != d:
		return 0, fmt.Errorf("temporal cost: image has %d values, want %d (%d planes of %dx%d)", len(x), d, ch, w, h)
	case len(warped) != d:
		return 0, fmt.Errorf("temporal cost: warped previous frame has %d values, want %d", len(warped), d)
	case len(c) != n:
		return 0, fmt.Errorf("temporal cost: %d weights, want one per pixel (%d)", len(c), n)
	case grad != nil && len(grad) != d:
		return 0, fmt.Errorf("temporal cost: gradient has %d values, want %d", len(grad), d)
	case math.IsNaN(weight) || math.IsInf(weight, 0):
		return 0, fmt.Errorf("temporal cost: weight %v, want finite", weight)
	}
	var sum float64
	scale := 2 * weight / float64(d)
	for k := 0; k < ch; k++ {
		xs, ws := x[k*n:(k+1)*n], warped[k*n:(k+1)*n]
		var gs []float32
		if grad != nil && weight != 0 {
			gs = grad[k*n : (k+1)*n]
		}
		for p, cp := range c {
			if cp == 0 {
				continue
			}
			diff := float64(xs[p]) - float64(ws[p])
			sum += float64(cp) * diff * diff
			if gs != nil {
				gs[p] += float32(scale * float64(cp) * diff)
			}
		}
	}
	return sum / float64(d), nil
}
