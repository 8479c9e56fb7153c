package pipeline

import (
	"fmt"
	"slices"

	"github.com/nst-project/nst/imageio"
)

// Colour control (the color key; Gatys et al., "Controlling Perceptual
// Factors in Neural Style Transfer", 2017):
//
//   - luminance: the optimiser's variable is the luminance Y of the output
//     (1×H×W). The network sees it in all three channels, grey; the content
//     target is the content's luminance, the style targets each style's
//     luminance shifted and scaled to the content luminance's mean and
//     standard deviation. The image gradient of the three grey channels is
//     summed into Y's (the chain rule through the copy). Every saved image
//     is Y recombined with the content's chroma.
//   - histogram: before the style targets are computed, each style image's
//     colours are transformed to the content's mean and covariance
//     (imageio.MatchColor, symmetric matrix square roots).
//   - after: the optimisation runs in RGB as usual; the final image keeps
//     its luminance and takes the content's chroma.
//
// Recombining keeps the chroma exactly (imageio.WithChroma clamps the
// luminance, not the colour, into gamut), so a saved image's I and Q differ
// from the content's only by 8-bit rounding.

// prepareColor readies the colour mode's buffers for the content image of
// the current scale.
func (e *experiment) prepareColor() {
	if e.cfg.Color != ColorLuminance {
		e.grey, e.contentY = nil, nil
		return
	}
	plane := e.width * e.height
	e.contentY = make([]float32, plane)
	imageio.Luminance(e.contentY, e.content)
	e.grey = make([]float32, 3*plane)
}

// channels is the number of channel planes of the optimiser's variable.
func (e *experiment) channels() int {
	if e.audio != nil {
		return e.audio.content.Bins
	}
	if e.cfg.Color == ColorLuminance {
		return 1
	}
	return 3
}

// variable converts an RGB image of the current size to the optimiser's
// variable: its luminance in luminance mode, else the image itself.
func (e *experiment) variable(rgb []float32) []float32 {
	if e.cfg.Color != ColorLuminance {
		return rgb
	}
	y := make([]float32, len(rgb)/3)
	imageio.Luminance(y, rgb)
	return y
}

// netInput returns the RGB image the network sees for the variable x: x
// itself, or in luminance mode x copied into all three channels of a
// buffer reused from call to call.
func (e *experiment) netInput(x []float32) []float32 {
	if e.cfg.Color != ColorLuminance {
		return x
	}
	expandGrey(e.grey, x)
	return e.grey
}

// expandGrey copies the plane y into each of dst's three channel planes.
func expandGrey(dst, y []float32) {
	n := len(y)
	copy(dst[:n], y)
	copy(dst[n:2*n], y)
	copy(dst[2*n:], y)
}

// gradToVariable writes dJ/dx into grad from dx, the gradient with respect
// to the network's RGB input: a copy, or in luminance mode the sum of the
// three channels' gradients, as each channel is a copy of Y.
func (e *experiment) gradToVariable(grad, dx []float32) {
	if e.cfg.Color != ColorLuminance {
		copy(grad, dx)
		return
	}
	n := len(grad)
	r, g, b := dx[:n:n], dx[n:2*n:2*n], dx[2*n:]
	for i := range grad {
		grad[i] = r[i] + g[i] + b[i]
	}
}

// rgb renders the variable x as the RGB image to save: in luminance mode
// x's luminance with the content's chroma, else x itself.
func (e *experiment) rgb(x []float32) []float32 {
	if e.cfg.Color != ColorLuminance {
		return x
	}
	out := make([]float32, 3*len(x))
	imageio.WithChroma(out, x, e.content)
	return out
}

// result renders the run's result: rgb(x), and with color: after the
// luminance of x clamped to [0, 1] (the image the run would otherwise
// save) with the content's chroma.
func (e *experiment) result(x []float32) []float32 {
	if e.cfg.Color != ColorAfter {
		return e.rgb(x)
	}
	clamped := slices.Clone(x)
	for i, v := range clamped {
		clamped[i] = min(max(v, 0), 1)
	}
	y := make([]float32, len(x)/3)
	imageio.Luminance(y, clamped)
	imageio.WithChroma(clamped, y, e.content)
	return clamped
}

// contentInput is the content image as the network sees it: grey with its
// own luminance in luminance mode.
func (e *experiment) contentInput() []float32 {
	if e.cfg.Color != ColorLuminance {
		return e.content
	}
	grey := make([]float32, len(e.content))
	expandGrey(grey, e.contentY)
	return grey
}

// styleInput transforms a style image tensor, in place where it can, into
// what the network sees under the colour mode: with histogram its colours
// matched to the content's, with luminance its luminance matched to the
// content's in mean and spread, grey.
func (e *experiment) styleInput(style []float32) ([]float32, error) {
	switch e.cfg.Color {
	case ColorHistogram:
		stats, err := imageio.MeasureColor(e.content)
		if err != nil {
			return nil, fmt.Errorf("content colours: %w", err)
		}
		if err := imageio.MatchColor(style, style, stats); err != nil {
			return nil, err
		}
	case ColorLuminance:
		y := make([]float32, len(style)/3)
		imageio.Luminance(y, style)
		mean, std := imageio.MeanStd(e.contentY)
		imageio.MatchMoments(y, mean, std)
		expandGrey(style, y)
	}
	return style, nil
}
