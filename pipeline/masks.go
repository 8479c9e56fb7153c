package pipeline

import (
	"fmt"
	"image"
	"log/slog"
	"math"

	"github.com/disintegration/imaging"

	"github.com/nst-project/nst/losses"
)

// Spatial control (style[].mask). A mask is a greyscale image, white where
// its style applies; a colour image counts by its luminance, and
// transparency is white (imageio.Load composites over white). At each scale
// the mask is resized to the output's size with a linear filter (no ringing,
// so values stay in [0, 1]), then to each style layer's activation size by
// an area average: every activation cell takes the mean of the mask over
// the H/h × W/w image pixels it spans, with fractional pixels at its edges
// weighted by their overlap. For VGG's stride-2 poolings this is the
// average pooling of the mask. The style cost then uses guided Grams
// (losses.SetGuidedStyleTargets).

// styleMasks are the styles' masks as loaded, one per style, nil for a
// style without one: with the schedule and the colour control, part of the
// run's plan.
type styleMasks []*image.NRGBA

// any reports whether any style has a mask.
func (m styleMasks) any() bool {
	for _, img := range m {
		if img != nil {
			return true
		}
	}
	return false
}

// forLayers returns each style's masks at the activation sizes of layers
// (the generated image's, for an output of width×height), or nil when no
// style has a mask. A style without a mask gets nil: it applies everywhere.
func (m styleMasks) forLayers(layers []losses.Activation, width, height int) [][]losses.Mask {
	if !m.any() {
		return nil
	}
	out := make([][]losses.Mask, len(m))
	for i, img := range m {
		if img == nil {
			continue
		}
		plane := maskPlane(img, width, height)
		warnBlackMask(i, plane, width, height)
		for _, l := range layers {
			out[i] = append(out[i], losses.Mask{Name: l.Name, H: l.H, W: l.W, Data: areaResize(plane, height, width, l.H, l.W)})
		}
	}
	return out
}

// warnMaskAspect logs when a mask's aspect ratio differs from the
// content's: the mask is stretched to the output, which is seldom meant.
func warnMaskAspect(role string, mask, content image.Rectangle) {
	ratio := func(r image.Rectangle) float64 { return float64(r.Dx()) / float64(r.Dy()) }
	if math.Abs(ratio(mask)/ratio(content)-1) > 0.01 {
		slog.Warn(role+" has another aspect ratio than the content; it is stretched to the output", "mask", mask.Size(), "content", content.Size())
	}
}

// warnBlackMask logs when style i's mask, at the output size width×height,
// is black everywhere: its style then applies nowhere, and only costs
// time, which is seldom what the mask was meant to do (an inverted mask,
// or the wrong file).
func warnBlackMask(i int, plane []float32, width, height int) {
	for _, v := range plane {
		if v > 0 {
			return
		}
	}
	slog.Warn(fmt.Sprintf("style[%d].mask is black everywhere: style[%d] applies nowhere; white is where a style applies (check the file, or invert it)", i, i), "size", fmt.Sprintf("%dx%d", width, height))
}

// maskPlane resizes img to w×h and returns its luminance per pixel, in
// [0, 1], row-major.
func maskPlane(img *image.NRGBA, w, h int) []float32 {
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		img = imaging.Resize(img, w, h, imaging.Linear)
	}
	plane := make([]float32, w*h)
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			p := row[4*x : 4*x+3]
			plane[y*w+x] = float32((0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])) / 255)
		}
	}
	return plane
}

// areaResize resizes an h×w plane to oh×ow by area averaging: output cell
// (i, j) is the mean of the plane over the rectangle [i·h/oh, (i+1)·h/oh) ×
// [j·w/ow, (j+1)·w/ow), pixels cut by its edges weighted by their overlap.
func areaResize(plane []float32, h, w, oh, ow int) []float32 {
	ys, xs := areaTaps(h, oh), areaTaps(w, ow)
	out := make([]float32, oh*ow)
	row := make([]float64, w)
	for i, ty := range ys {
		clear(row)
		for _, t := range ty {
			src := plane[t.index*w : (t.index+1)*w]
			for x, v := range src {
				row[x] += t.weight * float64(v)
			}
		}
		for j, tx := range xs {
			var s float64
			for _, t := range tx {
				s += t.weight * row[t.index]
			}
			out[i*ow+j] = float32(s)
		}
	}
	return out
}

// areaTap is one source pixel's share of an output cell.
type areaTap struct {
	index  int
	weight float64
}

// areaTaps returns, for each of the n output cells along an axis of in
// pixels, the pixels it spans and their overlap, normalised to sum 1.
func areaTaps(in, n int) [][]areaTap {
	taps := make([][]areaTap, n)
	step := float64(in) / float64(n)
	for o := range taps {
		lo, hi := float64(o)*step, float64(o+1)*step
		for p := int(lo); p < in && float64(p) < hi; p++ {
			overlap := math.Min(hi, float64(p+1)) - math.Max(lo, float64(p))
			if overlap > 0 {
				taps[o] = append(taps[o], areaTap{p, overlap / step})
			}
		}
	}
	return taps
}
