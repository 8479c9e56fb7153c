package volume

import (
	"slices"
	"strings"
	"testing"
)

// iota returns a d×h×w×c volume whose values are their own Data index.
func iotaVolume(t *testing.T, d, h, w, c int) *Volume {
	t.Helper()
	v, err := New(d, h, w, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Data {
		v.Data[i] = float32(i)
	}
	return v
}

func TestSlice(t *testing.T) {
	grey := iotaVolume(t, 2, 3, 4, 1) // value (z·3+y)·4+x
	rgb := iotaVolume(t, 1, 2, 2, 3)
	tests := []struct {
		v          *Volume
		axis       Axis
		i          int
		rows, cols int
		want       []float32
	}{
		{grey, AxisD, 1, 3, 4, []float32{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
		{grey, AxisH, 2, 2, 4, []float32{8, 9, 10, 11, 20, 21, 22, 23}},
		{grey, AxisW, 3, 2, 3, []float32{3, 7, 11, 15, 19, 23}},
		{grey, AxisW, 0, 2, 3, []float32{0, 4, 8, 12, 16, 20}},
		// Three channels come out planar: all red, then green, then blue.
		{rgb, AxisD, 0, 2, 2, []float32{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11}},
		{rgb, AxisW, 1, 1, 2, []float32{3, 9, 4, 10, 5, 11}},
	}
	for _, tc := range tests {
		rows, cols := tc.v.SliceShape(tc.axis)
		got, err := tc.v.Slice(tc.axis, tc.i)
		if err != nil {
			t.Fatal(err)
		}
		if rows != tc.rows || cols != tc.cols || !slices.Equal(got, tc.want) {
			t.Errorf("%d channels, %s slice %d: %d×%d %v, want %d×%d %v", tc.v.C, tc.axis, tc.i, rows, cols, got, tc.rows, tc.cols, tc.want)
		}
	}
	if grey.At(1, 2, 3, 0) != 23 || rgb.At(0, 1, 0, 2) != 8 || grey.Voxels() != 24 || grey.Len(AxisH) != 3 {
		t.Error("At, Voxels or Len disagree with the layout")
	}
}

// TestSetSliceRebuilds takes every slice along each axis out of a volume
// and puts it into a fresh one, which must come out identical: the round
// trip a 2-D backbone applied slice by slice relies on.
func TestSetSliceRebuilds(t *testing.T) {
	for _, c := range []int{1, 3} {
		v := iotaVolume(t, 3, 4, 5, c)
		for _, a := range []Axis{AxisD, AxisH, AxisW} {
			out, _ := New(3, 4, 5, c)
			for i := range v.Len(a) {
				p, err := v.Slice(a, i)
				if err != nil {
					t.Fatal(err)
				}
				if err := out.SetSlice(a, i, p); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(out.Data, v.Data) {
				t.Errorf("%d channels, along %s: rebuilt volume differs", c, a)
			}
		}
	}
}

func TestSliceErrors(t *testing.T) {
	v := iotaVolume(t, 2, 3, 4, 1)
	for _, tc := range []struct {
		axis Axis
		i    int
		want string
	}{
		{Axis(3), 0, "axis 3: want 0 (depth), 1 (height) or 2 (width)"},
		{Axis(-1), 0, "axis -1"},
		{AxisD, 2, "slice 2 along depth: the volume has 2"},
		{AxisW, -1, "slice -1 along width"},
	} {
		if _, err := v.Slice(tc.axis, tc.i); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Slice: error %v, want %q", err, tc.want)
		}
		if err := v.SetSlice(tc.axis, tc.i, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetSlice: error %v, want %q", err, tc.want)
		}
	}
	if err := v.SetSlice(AxisH, 0, make([]float32, 7)); err == nil || !strings.Contains(err.Error(), "7 values for a 2×4 slice of 1 channels, want 8") {
		t.Errorf("short plane: %v", err)
	}
	for _, s := range [][4]int{{0, 1, 1, 1}, {1, 1, 1, 2}, {1, -1, 1, 3}} {
		if _, err := New(s[0], s[1], s[2], s[3]); err == nil {
			t.Errorf("New%v succeeded", s)
		}
	}
}

func TestChannels(t *testing.T) {
	g := &Volume{D: 1, H: 1, W: 2, C: 1, Data: []float32{0.1, 0.7}}
	rgb := g.ToRGB()
	if rgb.C != 3 || !slices.Equal(rgb.Data, []float32{0.1, 0.1, 0.1, 0.7, 0.7, 0.7}) {
		t.Errorf("ToRGB: %+v", rgb)
	}
	if back := rgb.ToGrey(); back.C != 1 || !slices.Equal(back.Data, g.Data) {
		t.Errorf("ToGrey(ToRGB) = %v, want %v", back.Data, g.Data)
	}
	c := &Volume{D: 1, H: 1, W: 1, C: 3, Data: []float32{0.3, 0.6, 0.9}}
	if m := c.ToGrey(); m.Data[0] != 0.6 {
		t.Errorf("mean of 0.3, 0.6, 0.9 = %v", m.Data[0])
	}
	if cp := c.ToRGB(); &cp.Data[0] == &c.Data[0] || !slices.Equal(cp.Data, c.Data) {
		t.Error("ToRGB of an RGB volume is not a copy")
	}
	if cp := g.ToGrey(); &cp.Data[0] == &g.Data[0] || !slices.Equal(cp.Data, g.Data) {
		t.Error("ToGrey of a grey volume is not a copy")
	}
	if AxisW.String() != "width" || Axis(7).String() != "Axis(7)" {
		t.Error("Axis.String")
	}
}
