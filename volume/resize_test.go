package volume

import (
	"math"
	"slices"
	"testing"
)

// TestResize checks shapes, a linear ramp kept linear, and the planar
// round trip.
func TestResize(t *testing.T) {
	for _, tc := range []struct {
		d, h, w, long int
		wd, wh, ww    int
	}{
		{32, 32, 32, 64, 64, 64, 64},
		{8, 16, 4, 32, 16, 32, 8},
		{3, 100, 1, 10, 1, 10, 1},
	} {
		d, h, w := LongSideShape(tc.d, tc.h, tc.w, tc.long)
		if d != tc.wd || h != tc.wh || w != tc.ww {
			t.Errorf("LongSideShape(%d,%d,%d,%d) = %d,%d,%d; want %d,%d,%d", tc.d, tc.h, tc.w, tc.long, d, h, w, tc.wd, tc.wh, tc.ww)
		}
	}
	v, _ := New(4, 4, 4, 1)
	for z := range 4 {
		for y := range 4 {
			for x := range 4 {
				v.Data[v.Index(z, y, x, 0)] = float32(x)
			}
		}
	}
	r, err := Resize(v, 4, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	// Centres aligned: output column x samples input column (x+0.5)/2-0.5,
	// clamped at the borders.
	for x, want := range []float32{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3} {
		if got := r.At(2, 1, x, 0); math.Abs(float64(got-want)) > 1e-6 {
			t.Errorf("column %d: %v; want %v", x, got, want)
		}
	}
	rgb := v.ToRGB()
	for i := range rgb.Data {
		rgb.Data[i] = float32(i)
	}
	back, err := FromPlanar(rgb.Planar(), 4, 4, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Data, rgb.Data) {
		t.Error("FromPlanar(Planar()) differs from the volume")
	}
	if p := rgb.Planar(); p[1] != 3 || p[64] != 1 {
		t.Errorf("planar [1] = %v, [64] = %v; want 3 and 1", p[1], p[64])
	}
}
