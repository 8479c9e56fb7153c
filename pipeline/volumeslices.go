package pipeline

import (
	"fmt"
	"image"
	"image/color"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/volume"
)

// Slice-wise volume runs: a volume styled by a 2-D backbone (builtin:vgg19,
// a zoo: model, any image ONNX file) through its axis-aligned slices, as
// materials scientists grow 3-D microstructures from 2-D exemplars.
//
// The network sees one RGB image, the slice stack: every slice along
// depth (H×W), then along height (D×W), then along width (D×H), one below
// the other, left-aligned, each axis a band; where a band is narrower
// than the stack (a volume that is not a cube) the rest of its rows are
// padding, 0, which is not part of the variable. A grey volume fills all
// three channels. The optimiser's variable stays the volume itself, so the
// slices of the three axes are one and the same voxels: the stack is a
// gather of the variable, and its gradient is scattered back (summed over
// the three places each voxel appears, and the channels a grey voxel
// fills).
//
// Each style applies to the bands of its style[].axis through a guided
// Gram matrix (masks.go): the Gram statistics of that axis's slices, pooled
// over the slices, match the style image's. A style for all axes of a cube
// covers the whole stack, so its Gram matrix pools the slices of all three
// axes; list the style once per axis to match each axis on its own.
// Neighbouring slices touch in the stack, so a convolution near a slice's
// border also sees its neighbour's edge: a thin seam in the statistics.

// Axis names of style[].axis.
const (
	AxisAll    = "all"
	AxisDepth  = "depth"
	AxisHeight = "height"
	AxisWidth  = "width"
)

// sliceAxes maps style[].axis names to volume axes.
var sliceAxes = map[string]volume.Axis{AxisDepth: volume.AxisD, AxisHeight: volume.AxisH, AxisWidth: volume.AxisW}

// sliceStack is the layout of a volume's slices in the image a 2-D
// backbone sees, and the gather from the variable into it.
type sliceStack struct {
	channels      int // the volume's: 1 or 3
	voxels        int // D·H·W
	width, height int // the stack's size
	// src is, for each stack pixel, the voxel index (z·H+y)·W+x it shows,
	// or -1 for padding.
	src []int32
	// band is, for each stack row, the axis whose slices it holds.
	band []volume.Axis
	buf  []float32 // the stack the network sees, [3, height, width]
}

// newSliceStack lays out the slices of a d×h×w volume of c channels.
func newSliceStack(d, h, w, c int) (*sliceStack, error) {
	s := &sliceStack{channels: c, voxels: d * h * w, width: max(w, h), height: d*h + h*d + w*d}
	if int64(s.width)*int64(s.height) > 1<<31 {
		return nil, fmt.Errorf("the slice stack of a %dx%dx%d volume is %dx%d px, too large", d, h, w, s.width, s.height)
	}
	s.src = make([]int32, s.width*s.height)
	for i := range s.src {
		s.src[i] = -1
	}
	row := 0
	put := func(a volume.Axis, n, rows, cols int, voxel func(i, r, col int) int) {
		for i := range n {
			for r := range rows {
				for col := range cols {
					s.src[(row+r)*s.width+col] = int32(voxel(i, r, col))
				}
				s.band = append(s.band, a)
			}
			row += rows
		}
	}
	put(volume.AxisD, d, h, w, func(z, y, x int) int { return (z*h+y)*w + x })
	put(volume.AxisH, h, d, w, func(y, z, x int) int { return (z*h+y)*w + x })
	put(volume.AxisW, w, d, h, func(x, z, y int) int { return (z*h+y)*w + x })
	s.buf = make([]float32, 3*len(s.src))
	return s, nil
}

// stack gathers the volume x, [C,D,H,W], into the stack the network sees;
// the result is reused by the next call.
func (s *sliceStack) stack(x []float32) []float32 {
	plane := len(s.src)
	for ch := range 3 {
		c := min(ch, s.channels-1)
		vol := x[c*s.voxels : (c+1)*s.voxels]
		out := s.buf[ch*plane : (ch+1)*plane]
		for p, v := range s.src {
			if v >= 0 {
				out[p] = vol[v]
			} else {
				out[p] = 0
			}
		}
	}
	return s.buf
}

// unstack writes into grad, [C,D,H,W], the gradient of J with respect to
// the volume from dx, its gradient with respect to the stack: each voxel
// sums the pixels that show it.
func (s *sliceStack) unstack(grad, dx []float32) {
	clear(grad)
	plane := len(s.src)
	for ch := range 3 {
		c := min(ch, s.channels-1)
		vol := grad[c*s.voxels : (c+1)*s.voxels]
		in := dx[ch*plane : (ch+1)*plane]
		for p, v := range s.src {
			if v >= 0 {
				vol[v] += in[p]
			}
		}
	}
}

// mask draws where a style for axis (style[].axis) applies: white on the
// real pixels of that axis's band (of every band for all), black on the
// rest. It returns nil, everywhere, for all axes of a cube.
func (s *sliceStack) mask(axis string) *image.NRGBA {
	a, one := sliceAxes[axis]
	img := image.NewNRGBA(image.Rect(0, 0, s.width, s.height))
	everywhere := true
	for p, v := range s.src {
		white := v >= 0 && (!one || s.band[p/s.width] == a)
		everywhere = everywhere && white
		if white {
			img.SetNRGBA(p%s.width, p/s.width, color.NRGBA{255, 255, 255, 255})
		} else {
			img.SetNRGBA(p%s.width, p/s.width, color.NRGBA{0, 0, 0, 255})
		}
	}
	if everywhere {
		return nil
	}
	return img
}

// useSlices readies a volume run for a 2-D backbone: every style must be
// an image, the backbone must take RGB, the volume's and the resized
// styles' shorter sides must reach the deepest layer's stride; it lays out
// the slice stack and each style's mask.
func (e *experiment) useSlices() error {
	for i, s := range e.volume.styles {
		if s != nil {
			return fmt.Errorf("style[%d].path: %q is a volume but model.path %q is a 2-D backbone, which styles a volume's slices from images; give a PNG or JPEG style, or model.path: builtin:volume", i, e.cfg.Style[i].Path, e.cfg.Model.Path)
		}
	}
	if c := e.backbone.InputChannels(); c != 3 {
		return fmt.Errorf("model.path: %q takes %d channels; a 2-D backbone styling a volume's slices takes RGB", e.cfg.Model.Path, c)
	}
	v := e.volume.content
	stride, deepest := e.deepestStride()
	if min(v.D, v.H, v.W) < stride {
		return fmt.Errorf("content is %dx%dx%d, too small for layer %s (stride %d): every side must be at least %d voxels (see volume.size)", v.D, v.H, v.W, deepest, stride, stride)
	}
	for i := range e.volume.styleImgs {
		if s := e.sliceStyleSize(i); min(s[0], s[1]) < stride {
			return fmt.Errorf("style[%d] at %dx%d is too small for layer %s (stride %d): its shorter side must be at least %d px; raise style[%d].scale", i, s[0], s[1], deepest, stride, stride, i)
		}
	}
	stack, err := newSliceStack(v.D, v.H, v.W, v.C)
	if err != nil {
		return err
	}
	e.volume.slices, e.color.slices = stack, stack
	e.masks = make(styleMasks, len(e.cfg.Style))
	for i, s := range e.cfg.Style {
		e.masks[i] = stack.mask(s.Axis)
	}
	return nil
}

// sliceStyleSize is the size style image i is used at on a 2-D backbone:
// its longer side style[i].scale times the volume's longest side.
func (e *experiment) sliceStyleSize(i int) [2]int {
	v, b := e.volume.content, e.volume.styleImgs[i].Bounds()
	w, h := imageio.LongSideSize(b.Dx(), b.Dy(), e.styleLongSide(i, max(v.D, v.H, v.W)))
	return [2]int{w, h}
}

// sliceStyle returns style image i as a 2-D backbone sees it, [3,h,w]
// resized (sliceStyleSize), grey (its luminance in all three channels)
// for a grey volume, and its size.
func (e *experiment) sliceStyle(i int) ([]float32, [2]int, error) {
	size := e.sliceStyleSize(i)
	img, err := imageio.Resize(e.volume.styleImgs[i], size[0], size[1])
	if err != nil {
		return nil, size, err
	}
	x := imageio.ToTensor(img)
	if e.volume.content.C == 1 {
		y := make([]float32, len(x)/3)
		imageio.Luminance(y, x)
		expandGrey(x, y)
	}
	return x, size, nil
}
