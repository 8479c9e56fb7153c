package imageio

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestYIQMatricesAreInverses(t *testing.T) {
	for i := range 3 {
		for j := range 3 {
			var s float64
			for k := range 3 {
				s += rgbToYIQ[i][k] * yiqToRGB[k][j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-14 {
				t.Errorf("(M*inv(M))[%d][%d] = %v, want %v", i, j, s, want)
			}
		}
	}
}

func TestRGBToYIQKnownColours(t *testing.T) {
	tests := []struct {
		name string
		rgb  [3]float32
		yiq  [3]float32
	}{
		{"black", [3]float32{0, 0, 0}, [3]float32{0, 0, 0}},
		{"white has no chroma", [3]float32{1, 1, 1}, [3]float32{1, 0, 0}},
		{"grey has no chroma", [3]float32{0.25, 0.25, 0.25}, [3]float32{0.25, 0, 0}},
		{"red", [3]float32{1, 0, 0}, [3]float32{0.299, 0.5959, 0.2115}},
		{"blue", [3]float32{0, 0, 1}, [3]float32{0.114, -0.3213, 0.3112}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float32, 3)
			RGBToYIQ(got, tc.rgb[:])
			for c := range 3 {
				if math.Abs(float64(got[c]-tc.yiq[c])) > 1e-6 {
					t.Errorf("channel %d = %v, want %v", c, got[c], tc.yiq[c])
				}
			}
		})
	}
}

func TestYIQRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3 * 40 * 30
	src := make([]float32, n)
	for i := range src {
		src[i] = rng.Float32()
	}
	tests := []struct {
		name    string
		inPlace bool
	}{
		{"separate buffers", false},
		{"in place", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := append([]float32(nil), src...)
			dst := work
			if !tc.inPlace {
				dst = make([]float32, n)
			}
			RGBToYIQ(dst, work)
			YIQToRGB(dst, dst)
			var maxErr float64
			for i := range src {
				maxErr = max(maxErr, math.Abs(float64(dst[i]-src[i])))
			}
			// Two float32 roundings of values of order 1.
			if maxErr > 3e-7 {
				t.Errorf("max round-trip error %g, want <= 3e-7", maxErr)
			}
		})
	}
}

func TestYIQPanicsOnBadLengths(t *testing.T) {
	for _, lens := range [][2]int{{3, 6}, {4, 4}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RGBToYIQ accepted lengths %v", lens)
				}
			}()
			RGBToYIQ(make([]float32, lens[0]), make([]float32, lens[1]))
		}()
	}
}
