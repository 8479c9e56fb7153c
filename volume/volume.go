// Package volume holds the data side of volumetric style transfer: 3-D
// arrays of voxels read from and written to NumPy .npy files, cut into 2-D
// slices along any axis for a 2-D backbone and put back together, and
// drawn as a montage of slices for a quick look.
//
// A Volume's values are float32 in [0, 1] like the images nst works on
// (uint8 files are scaled by 1/255 on reading), with 1 (grey) or 3 (RGB)
// channels.
package volume

import (
	"fmt"
)

// Volume is a D×H×W grid of voxels with C channels each, in C order: channel
// c of the voxel at depth z, row y, column x is Data[((z*H+y)*W+x)*C+c].
type Volume struct {
	D, H, W, C int
	Data       []float32
}

// New returns a zero volume of the given shape; every dimension must be
// positive and c must be 1 or 3.
func New(d, h, w, c int) (*Volume, error) {
	if d < 1 || h < 1 || w < 1 || (c != 1 && c != 3) {
		return nil, fmt.Errorf("new volume: shape %d×%d×%d with %d channels; want positive sizes and 1 or 3 channels", d, h, w, c)
	}
	if int64(d)*int64(h)*int64(w)*int64(c) > int64(^uint(0)>>1)/4 {
		return nil, fmt.Errorf("new volume: shape %d×%d×%d×%d is too large", d, h, w, c)
	}
	return &Volume{D: d, H: h, W: w, C: c, Data: make([]float32, d*h*w*c)}, nil
}

// Voxels returns D·H·W.
func (v *Volume) Voxels() int { return v.D * v.H * v.W }

// Index returns the position in Data of channel c of voxel (z, y, x).
func (v *Volume) Index(z, y, x, c int) int { return ((z*v.H+y)*v.W+x)*v.C + c }

// At returns channel c of voxel (z, y, x).
func (v *Volume) At(z, y, x, c int) float32 { return v.Data[v.Index(z, y, x, c)] }

// Axis names one of a volume's three spatial axes.
type Axis int

// The axes, in the order of a Volume's dimensions.
const (
	AxisD Axis = iota // depth: slices are H×W
	AxisH             // height: slices are D×W
	AxisW             // width: slices are D×H
)

// String returns "depth", "height" or "width".
func (a Axis) String() string {
	switch a {
	case AxisD:
		return "depth"
	case AxisH:
		return "height"
	case AxisW:
		return "width"
	}
	return fmt.Sprintf("Axis(%d)", int(a))
}

// Len returns the number of slices along axis a (0 for an invalid axis).
func (v *Volume) Len(a Axis) int {
	switch a {
	case AxisD:
		return v.D
	case AxisH:
		return v.H
	case AxisW:
		return v.W
	}
	return 0
}

// SliceShape returns the rows and columns of a slice along axis a: the two
// other dimensions in their order in the volume (H×W, D×W or D×H).
func (v *Volume) SliceShape(a Axis) (rows, cols int) {
	switch a {
	case AxisD:
		return v.H, v.W
	case AxisH:
		return v.D, v.W
	case AxisW:
		return v.D, v.H
	}
	return 0, 0
}

// sliceIndex returns the Data position of channel 0 of the voxel at (row,
// col) of slice i along axis a.
func (v *Volume) sliceIndex(a Axis, i, row, col int) int {
	switch a {
	case AxisD:
		return v.Index(i, row, col, 0)
	case AxisH:
		return v.Index(row, i, col, 0)
	default:
		return v.Index(row, col, i, 0)
	}
}

func (v *Volume) checkSlice(a Axis, i int) error {
	if a < AxisD || a > AxisW {
		return fmt.Errorf("axis %d: want 0 (depth), 1 (height) or 2 (width)", int(a))
	}
	if i < 0 || i >= v.Len(a) {
		return fmt.Errorf("slice %d along %s: the volume has %d", i, a, v.Len(a))
	}
	return nil
}

// Slice returns a copy of slice i along axis a as a [C, rows, cols] plane in
// channel-planar (NCHW, N = 1) order, the layout of imageio.ToTensor: a
// 2-D backbone can take a 3-channel slice as it is.
func (v *Volume) Slice(a Axis, i int) ([]float32, error) {
	if err := v.checkSlice(a, i); err != nil {
		return nil, fmt.Errorf("volume slice: %w", err)
	}
	rows, cols := v.SliceShape(a)
	plane := rows * cols
	out := make([]float32, v.C*plane)
	for r := range rows {
		for col := range cols {
			p := v.sliceIndex(a, i, r, col)
			for c := range v.C {
				out[c*plane+r*cols+col] = v.Data[p+c]
			}
		}
	}
	return out, nil
}

// SetSlice writes a [C, rows, cols] plane, as Slice returns it, into slice
// i along axis a: SetSlice(a, i, Slice(a, i)) changes nothing.
func (v *Volume) SetSlice(a Axis, i int, plane []float32) error {
	if err := v.checkSlice(a, i); err != nil {
		return fmt.Errorf("volume set slice: %w", err)
	}
	rows, cols := v.SliceShape(a)
	n := rows * cols
	if len(plane) != v.C*n {
		return fmt.Errorf("volume set slice: %d values for a %d×%d slice of %d channels, want %d", len(plane), rows, cols, v.C, v.C*n)
	}
	for r := range rows {
		for col := range cols {
			p := v.sliceIndex(a, i, r, col)
			for c := range v.C {
				v.Data[p+c] = plane[c*n+r*cols+col]
			}
		}
	}
	return nil
}

// ToRGB returns a 3-channel copy of v: grey voxels repeated in all three
// channels (what an ImageNet backbone expects), RGB ones copied.
func (v *Volume) ToRGB() *Volume {
	out := &Volume{D: v.D, H: v.H, W: v.W, C: 3, Data: make([]float32, 3*v.Voxels())}
	if v.C == 3 {
		copy(out.Data, v.Data)
		return out
	}
	for i, g := range v.Data {
		out.Data[3*i], out.Data[3*i+1], out.Data[3*i+2] = g, g, g
	}
	return out
}

// ToGrey returns a 1-channel copy of v: RGB voxels become the mean of their
// channels, computed in float64 so that ToGrey(ToRGB(v)) is v exactly;
// grey ones are copied.
func (v *Volume) ToGrey() *Volume {
	out := &Volume{D: v.D, H: v.H, W: v.W, C: 1, Data: make([]float32, v.Voxels())}
	if v.C == 1 {
		copy(out.Data, v.Data)
		return out
	}
	for i := range out.Data {
		p := v.Data[3*i : 3*i+3 : 3*i+3]
		out.Data[i] = float32((float64(p[0]) + float64(p[1]) + float64(p[2])) / 3)
	}
	return out
}
