package imageio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// colourImage returns a [1, 3, h, w] tensor whose channels mix three random
// fields through mix, so that they correlate like a real image's; values are
// about in [0, 1].
func colourImage(seed uint64, h, w int, mix [3][3]float64, offset [3]float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := h * w
	t := make([]float32, 3*n)
	for i := range n {
		// Smooth structure plus noise, so the image is not white noise.
		y, x := float64(i/w)/float64(h), float64(i%w)/float64(w)
		f := [3]float64{math.Sin(3*x+y) + 0.3*rng.NormFloat64(), math.Cos(5*y) + 0.3*rng.NormFloat64(), x*y + 0.3*rng.NormFloat64()}
		for c := range 3 {
			t[c*n+i] = float32(offset[c] + 0.15*(mix[c][0]*f[0]+mix[c][1]*f[1]+mix[c][2]*f[2]))
		}
	}
	return t
}

// statsWithin reports whether got's mean is within tol of want's,
// relative to each mean, and every covariance entry within tol of the
// largest of want's.
func statsWithin(got, want ColorStats, tol float64) bool {
	var scale float64
	for i := range 3 {
		for j := range 3 {
			scale = math.Max(scale, math.Abs(want.Cov[i][j]))
		}
	}
	for i := range 3 {
		if math.Abs(got.Mean[i]-want.Mean[i]) > tol*math.Abs(want.Mean[i]) {
			return false
		}
		for j := range 3 {
			if math.Abs(got.Cov[i][j]-want.Cov[i][j]) > tol*scale {
				return false
			}
		}
	}
	return true
}

func TestMatchColorMatchesMeanAndCovariance(t *testing.T) {
	identity := [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	warm := [3][3]float64{{1, 0.5, 0.2}, {0.6, 0.8, 0.1}, {0.1, 0.2, 0.4}}
	cool := [3][3]float64{{0.2, 0.1, 0.3}, {0.3, 0.6, 0.5}, {0.9, 0.4, 1.2}}
	nearGrey := [3][3]float64{{0.3, 0.1, 0.05}, {0.3, 0.05, 0.05}, {0.3, 0.05, 0.12}}
	tests := []struct {
		name           string
		content, style []float32
		inPlace        bool
	}{
		{"warm content, cool style", colourImage(1, 40, 30, warm, [3]float64{0.6, 0.45, 0.3}), colourImage(2, 25, 35, cool, [3]float64{0.2, 0.35, 0.7}), false},
		{"cool content, warm style", colourImage(3, 32, 32, cool, [3]float64{0.3, 0.4, 0.6}), colourImage(4, 50, 20, warm, [3]float64{0.7, 0.5, 0.2}), false},
		{"nearly grey style", colourImage(5, 30, 30, warm, [3]float64{0.5, 0.4, 0.3}), colourImage(6, 30, 30, nearGrey, [3]float64{0.5, 0.5, 0.5}), false},
		{"in place", colourImage(7, 20, 20, identity, [3]float64{0.4, 0.5, 0.6}), colourImage(8, 20, 20, cool, [3]float64{0.3, 0.3, 0.3}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := MeasureColor(tt.content)
			if err != nil {
				t.Fatal(err)
			}
			before, err := MeasureColor(tt.style)
			if err != nil {
				t.Fatal(err)
			}
			if statsWithin(before, target, 0.01) {
				t.Fatal("the style already has the content's statistics; the test proves nothing")
			}
			dst := make([]float32, len(tt.style))
			if tt.inPlace {
				dst = tt.style
			}
			if err := MatchColor(dst, tt.style, target); err != nil {
				t.Fatal(err)
			}
			got, err := MeasureColor(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !statsWithin(got, target, 0.01) {
				t.Errorf("adjusted style: mean %v cov %v; want the content's mean %v cov %v within 1%%", got.Mean, got.Cov, target.Mean, target.Cov)
			}
			// The match is exact up to float32 rounding of the pixels.
			if !statsWithin(got, target, 1e-5) {
				t.Errorf("adjusted style: mean %v cov %v; want %v %v within 1e-5", got.Mean, got.Cov, target.Mean, target.Cov)
			}
		})
	}
}

// TestMatchColorIgnoresChannelOrder tells the symmetric square roots from
// the Cholesky variant, whose result depends on which channel comes first:
// permuting the channels of both images must permute the result.
func TestMatchColorIgnoresChannelOrder(t *testing.T) {
	content := colourImage(1, 20, 24, [3][3]float64{{1, 0.5, 0.2}, {0.6, 0.8, 0.1}, {0.1, 0.2, 0.4}}, [3]float64{0.6, 0.45, 0.3})
	style := colourImage(2, 24, 20, [3][3]float64{{0.2, 0.1, 0.3}, {0.3, 0.6, 0.5}, {0.9, 0.4, 1.2}}, [3]float64{0.2, 0.35, 0.7})
	perm := [3]int{2, 0, 1}
	permute := func(t []float32) []float32 {
		n := len(t) / 3
		out := make([]float32, len(t))
		for c := range 3 {
			copy(out[c*n:(c+1)*n], t[perm[c]*n:(perm[c]+1)*n])
		}
		return out
	}
	match := func(content, style []float32) []float32 {
		target, err := MeasureColor(content)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(style))
		if err := MatchColor(out, style, target); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := permute(match(content, style))
	got := match(permute(content), permute(style))
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("value %d: %v with permuted channels, %v permuted afterwards", i, got[i], want[i])
		}
	}
}

func TestMatchColorFlatStyle(t *testing.T) {
	content := colourImage(1, 10, 10, [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, [3]float64{0.6, 0.45, 0.3})
	target, err := MeasureColor(content)
	if err != nil {
		t.Fatal(err)
	}
	flat := make([]float32, 3*64)
	for i := range flat {
		flat[i] = 0.5
	}
	if err := MatchColor(flat, flat, target); err != nil {
		t.Fatal(err)
	}
	for i, v := range flat {
		if want := target.Mean[i/64]; math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("value %d = %v, want the content's mean %v: a flat image has no colour to stretch", i, v, want)
		}
	}
}

func TestMatchColorErrors(t *testing.T) {
	var target ColorStats
	target.Cov = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if err := MatchColor(make([]float32, 6), make([]float32, 9), target); err == nil {
		t.Error("lengths 6 and 9 accepted")
	}
	if err := MatchColor(make([]float32, 4), make([]float32, 4), target); err == nil {
		t.Error("4 values accepted")
	}
	target.Cov[1][1] = math.NaN()
	if err := MatchColor(make([]float32, 6), make([]float32, 6), target); err == nil {
		t.Error("NaN covariance accepted")
	}
}

func TestMeasureColorHandComputed(t *testing.T) {
	// Two pixels: (0, 0, 1) and (1, 0.5, 0).
	s, err := MeasureColor([]float32{0, 1, 0, 0.5, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	want := ColorStats{
		Mean: [3]float64{0.5, 0.25, 0.5},
		Cov:  [3][3]float64{{0.25, 0.125, -0.25}, {0.125, 0.0625, -0.125}, {-0.25, -0.125, 0.25}},
	}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

func TestLuminanceIsYIQsY(t *testing.T) {
	rgb := colourImage(1, 6, 7, [3][3]float64{{1, 0.5, 0.2}, {0.6, 0.8, 0.1}, {0.1, 0.2, 0.4}}, [3]float64{0.5, 0.5, 0.5})
	yiq := make([]float32, len(rgb))
	RGBToYIQ(yiq, rgb)
	y := make([]float32, 42)
	Luminance(y, rgb)
	for i, v := range y {
		if v != yiq[i] {
			t.Fatalf("Y[%d] = %v, RGBToYIQ gives %v", i, v, yiq[i])
		}
	}
}

func TestMatchMoments(t *testing.T) {
	tests := []struct {
		name      string
		v         []float32
		mean, std float64
		want      []float32
	}{
		{"shift and scale", []float32{0, 1, 2, 3}, 10, 2 * math.Sqrt(1.25), []float32{7, 9, 11, 13}},
		{"constant becomes the mean", []float32{4, 4, 4}, 0.5, 0.2, []float32{0.5, 0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MatchMoments(tt.v, tt.mean, tt.std)
			for i, v := range tt.v {
				if math.Abs(float64(v-tt.want[i])) > 1e-5 {
					t.Errorf("v = %v, want %v", tt.v, tt.want)
					break
				}
			}
		})
	}
}

// TestWithChromaKeepsChroma checks the colour-preserving recombination: the
// result is in [0, 1], has the reference's I and Q, and the given luminance
// wherever that luminance is in gamut for the reference's chroma.
func TestWithChromaKeepsChroma(t *testing.T) {
	const h, w = 20, 30
	n := h * w
	rng := rand.New(rand.NewPCG(5, 6))
	ref := make([]float32, 3*n)
	for i := range ref {
		ref[i] = float32(rng.IntN(256)) / 255
	}
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(1.6*rng.Float64() - 0.3) // a third out of [0, 1]
	}
	y[7] = float32(math.NaN())
	dst := make([]float32, 3*n)
	WithChroma(dst, y, ref)
	got, want := make([]float32, 3*n), make([]float32, 3*n)
	RGBToYIQ(got, dst)
	RGBToYIQ(want, ref)
	inGamut := 0
	for i := range n {
		for c := range 3 {
			if v := dst[c*n+i]; !(v >= 0 && v <= 1) {
				t.Fatalf("pixel %d channel %d = %v, outside [0, 1]", i, c, v)
			}
		}
		for c := 1; c < 3; c++ {
			if d := math.Abs(float64(got[c*n+i] - want[c*n+i])); d > 1e-6 {
				t.Fatalf("pixel %d: chroma channel %d = %v, reference %v", i, c, got[c*n+i], want[c*n+i])
			}
		}
		r, g, b := float64(ref[i]), float64(ref[n+i]), float64(ref[2*n+i])
		luma := float64(want[i])
		lo, hi := luma-min(r, g, b), luma+1-max(r, g, b)
		switch v := float64(y[i]); {
		case math.IsNaN(v):
			if math.Abs(float64(got[i])-luma) > 1e-6 {
				t.Errorf("pixel %d: NaN luminance gave Y %v, want the reference's %v", i, got[i], luma)
			}
		case v >= lo && v <= hi:
			inGamut++
			if math.Abs(float64(got[i])-v) > 1e-6 {
				t.Errorf("pixel %d: Y = %v, want %v", i, got[i], v)
			}
		default:
			if want := math.Max(lo, math.Min(v, hi)); math.Abs(float64(got[i])-want) > 1e-6 {
				t.Errorf("pixel %d: Y = %v, want %v clamped to [%v, %v]", i, got[i], v, lo, hi)
			}
		}
	}
	if inGamut < n/4 || inGamut > 3*n/4 {
		t.Errorf("%d of %d luminances in gamut; the test wants both cases well represented", inGamut, n)
	}
}
