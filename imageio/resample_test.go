package imageio

import (
	"math"
	"strings"
	"testing"
)

func TestResizeBilinear(t *testing.T) {
	tests := []struct {
		name            string
		src             []float32
		c, h, w, oh, ow int
		want            []float32
	}{
		{
			name: "2x2 to 4x4, hand computed",
			src:  []float32{0, 1, 2, 3},
			c:    1, h: 2, w: 2, oh: 4, ow: 4,
			want: []float32{
				0, 0.25, 0.75, 1,
				0.5, 0.75, 1.25, 1.5,
				1.5, 1.75, 2.25, 2.5,
				2, 2.25, 2.75, 3,
			},
		},
		{
			name: "same size is a copy",
			src:  []float32{1, -2, 3, 4, 5, 6.5},
			c:    2, h: 1, w: 3, oh: 1, ow: 3,
			want: []float32{1, -2, 3, 4, 5, 6.5},
		},
		{
			name: "planes are independent, values not clamped",
			src:  []float32{-1, -1, 2, 2},
			c:    2, h: 1, w: 2, oh: 1, ow: 4,
			want: []float32{-1, -1, -1, -1, 2, 2, 2, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float32, tt.c*tt.oh*tt.ow)
			if err := ResizeBilinear(dst, tt.src, tt.c, tt.h, tt.w, tt.oh, tt.ow); err != nil {
				t.Fatal(err)
			}
			for i := range dst {
				if math.Abs(float64(dst[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", dst, tt.want)
				}
			}
		})
	}
}

// TestResizeBilinearReproducesLinearImages: bilinear interpolation is exact
// on an image linear in x and y, away from the clamped border.
func TestResizeBilinearReproducesLinearImages(t *testing.T) {
	const h, w, oh, ow = 7, 9, 18, 20
	f := func(y, x float64) float64 { return 0.3*x - 0.2*y + 1 }
	src := make([]float32, h*w)
	for y := range h {
		for x := range w {
			src[y*w+x] = float32(f(float64(y), float64(x)))
		}
	}
	dst := make([]float32, oh*ow)
	if err := ResizeBilinear(dst, src, 1, h, w, oh, ow); err != nil {
		t.Fatal(err)
	}
	for oy := range oh {
		for ox := range ow {
			sy := (float64(oy)+0.5)*h/oh - 0.5
			sx := (float64(ox)+0.5)*w/ow - 0.5
			if sy < 0 || sx < 0 || sy > h-1 || sx > w-1 {
				continue
			}
			if got, want := float64(dst[oy*ow+ox]), f(sy, sx); math.Abs(got-want) > 1e-5 {
				t.Errorf("(%d,%d) = %v, want %v", oy, ox, got, want)
			}
		}
	}
}

func TestResizeBilinearErrors(t *testing.T) {
	tests := []struct {
		name            string
		src, dst        int
		c, h, w, oh, ow int
		want            string
	}{
		{"zero size", 0, 4, 1, 0, 2, 2, 2, "sizes must be positive"},
		{"short src", 3, 4, 1, 2, 2, 2, 2, "src has 3 values, dst 4"},
		{"short dst", 4, 3, 1, 2, 2, 2, 2, "src has 4 values, dst 3"},
	}
	for _, tt := range tests {
		err := ResizeBilinear(make([]float32, tt.dst), make([]float32, tt.src), tt.c, tt.h, tt.w, tt.oh, tt.ow)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}
