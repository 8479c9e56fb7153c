package imageio

import (
	"math"
	"testing"
)

// TestMatchColorEigenvalueFloor checks the floor MatchColor puts under the
// style covariance's eigenvalues: 8-bit quantisation noise, (1/255)²/12,
// written out here rather than taken from the package's constant.
//
// The style is grey (R = G = B) and varies only along the grey axis, so
// its covariance has one eigenvalue λ (the sum of the channel variances)
// and two zeros; the content's covariance is σ²·I. A direction above the
// floor is stretched to the content's spread, so the result's covariance
// has trace σ²; one below the floor is stretched only by σ/√floor, which
// leaves trace σ²·λ/floor. Removing the floor, or moving it, changes the
// second case (a flat style, whose deviations are all zero, cannot tell).
func TestMatchColorEigenvalueFloor(t *testing.T) {
	const floor = 1.0 / 255 / 255 / 12
	const sigma = 0.1
	// The content: the 8 corners of a cube around its mean, whose
	// population covariance is exactly σ²·I.
	var content []float32
	mean := [3]float32{0.4, 0.5, 0.6}
	planes := [3][]float32{}
	for corner := range 8 {
		for c := range 3 {
			sign := float32(1)
			if corner>>c&1 == 1 {
				sign = -1
			}
			planes[c] = append(planes[c], mean[c]+sign*sigma)
		}
	}
	for _, p := range planes {
		content = append(content, p...)
	}
	target, err := MeasureColor(content)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		overFloor float64 // λ / floor
		wantRatio float64 // trace of the result's covariance / σ²
	}{
		{"well above the floor", 100, 1},
		{"just above the floor", 1.5, 1},
		{"below the floor", 0.1, 0.1},
		{"far below the floor", 0.001, 0.001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 64 grey pixels alternating 0.5 ± δ: per-channel variance δ²,
			// covariance δ²·11ᵀ, eigenvalue 3δ² along the grey axis.
			const n = 64
			delta := math.Sqrt(tc.overFloor * floor / 3)
			style := make([]float32, 3*n)
			for i := range n {
				v := float32(0.5 + delta)
				if i%2 == 1 {
					v = float32(0.5 - delta)
				}
				style[i], style[n+i], style[2*n+i] = v, v, v
			}
			src, err := MeasureColor(style)
			if err != nil {
				t.Fatal(err)
			}
			lambda := src.Cov[0][0] + src.Cov[1][1] + src.Cov[2][2]
			// float32 rounds δ; the expectation follows the λ the image has.
			want := sigma * sigma * lambda / math.Max(lambda, floor)
			if math.Abs(lambda/floor-tc.overFloor) > 0.01*tc.overFloor {
				t.Fatalf("style eigenvalue %g is %g floors, want %g", lambda, lambda/floor, tc.overFloor)
			}
			if math.Abs(want/(sigma*sigma)-tc.wantRatio) > 0.01*tc.wantRatio {
				t.Fatalf("expectation %g σ², want %g σ² (test set-up)", want/(sigma*sigma), tc.wantRatio)
			}

			out := make([]float32, len(style))
			if err := MatchColor(out, style, target); err != nil {
				t.Fatal(err)
			}
			got, err := MeasureColor(out)
			if err != nil {
				t.Fatal(err)
			}
			trace := got.Cov[0][0] + got.Cov[1][1] + got.Cov[2][2]
			if math.Abs(trace-want) > 1e-3*want {
				t.Errorf("result covariance trace %.6g (%.4g σ²), want %.6g (%.4g σ²)", trace, trace/(sigma*sigma), want, want/(sigma*sigma))
			}
			for c := range 3 {
				if math.Abs(got.Mean[c]-target.Mean[c]) > 1e-6 {
					t.Errorf("channel %d mean %v, want the content's %v", c, got.Mean[c], target.Mean[c])
				}
			}
			// The stretch is along Σ_content^½ times the grey axis, the grey
			// axis itself: every pixel moves by the same amount in R, G and B.
			for i := range n {
				r, g, b := out[i]-float32(target.Mean[0]), out[n+i]-float32(target.Mean[1]), out[2*n+i]-float32(target.Mean[2])
				if math.Abs(float64(r-g)) > 1e-6 || math.Abs(float64(g-b)) > 1e-6 {
					t.Fatalf("pixel %d moved by (%v, %v, %v), want the same in every channel", i, r, g, b)
				}
			}
		})
	}
}
