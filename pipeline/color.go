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

// colour is a run's colour control: how the optimiser's variable relates
// to the image the network sees and to the image saved, at the current
// scale. It is part of the run's plan, beside the schedule and the masks,
// and knows nothing of the network.
type colour struct {
	mode    string    // the color key
	content []float32 // the content image at the current scale, RGB [0,1]
	// contentY is the content's luminance and grey the RGB buffer the
	// network sees, in luminance mode.
	contentY, grey []float32
	// bins is an audio run's channel count, the spectrogram's bins (0 for
	// images): its variable is the spectrogram, with no colour control;
	// a volume run's, C·D.
	bins int
	// slices, for a volume run on a 2-D backbone, stacks the volume's
	// slices into the image the network sees (volumeslices.go).
	slices *sliceStack
}

// prepare readies the colour mode's buffers for content, the content image
// of the current scale.
func (c *colour) prepare(content []float32) {
	c.content = content
	if c.mode != ColorLuminance {
		c.grey, c.contentY = nil, nil
		return
	}
	plane := len(content) / 3
	c.contentY = make([]float32, plane)
	imageio.Luminance(c.contentY, content)
	c.grey = make([]float32, 3*plane)
}

// channels is the number of channel planes of the optimiser's variable.
func (c *colour) channels() int {
	if c.bins > 0 {
		return c.bins
	}
	if c.mode == ColorLuminance {
		return 1
	}
	return 3
}

// variable converts an RGB image of the current size to the optimiser's
// variable: its luminance in luminance mode, else the image itself.
func (c *colour) variable(rgb []float32) []float32 {
	if c.mode != ColorLuminance {
		return rgb
	}
	y := make([]float32, len(rgb)/3)
	imageio.Luminance(y, rgb)
	return y
}

// netInput returns the RGB image the network sees for the variable x: x
// itself, or in luminance mode x copied into all three channels of a
// buffer reused from call to call.
func (c *colour) netInput(x []float32) []float32 {
	if c.slices != nil {
		return c.slices.stack(x)
	}
	if c.mode != ColorLuminance {
		return x
	}
	expandGrey(c.grey, x)
	return c.grey
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
func (c *colour) gradToVariable(grad, dx []float32) {
	if c.slices != nil {
		c.slices.unstack(grad, dx)
		return
	}
	if c.mode != ColorLuminance {
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
func (c *colour) rgb(x []float32) []float32 {
	if c.mode != ColorLuminance {
		return x
	}
	out := make([]float32, 3*len(x))
	imageio.WithChroma(out, x, c.content)
	return out
}

// result renders the run's result: rgb(x), and with color: after the
// luminance of x clamped to [0, 1] (the image the run would otherwise
// save) with the content's chroma.
func (c *colour) result(x []float32) []float32 {
	if c.mode != ColorAfter {
		return c.rgb(x)
	}
	clamped := slices.Clone(x)
	for i, v := range clamped {
		clamped[i] = min(max(v, 0), 1)
	}
	y := make([]float32, len(x)/3)
	imageio.Luminance(y, clamped)
	imageio.WithChroma(clamped, y, c.content)
	return clamped
}

// contentInput is the content image as the network sees it: grey with its
// own luminance in luminance mode.
func (c *colour) contentInput() []float32 {
	if c.slices != nil {
		return c.slices.stack(c.content)
	}
	if c.mode != ColorLuminance {
		return c.content
	}
	grey := make([]float32, len(c.content))
	expandGrey(grey, c.contentY)
	return grey
}

// styleInput transforms a style image tensor, in place where it can, into
// what the network sees under the colour mode: with histogram its colours
// matched to the content's, with luminance its luminance matched to the
// content's in mean and spread, grey.
func (c *colour) styleInput(style []float32) ([]float32, error) {
	switch c.mode {
	case ColorHistogram:
		stats, err := imageio.MeasureColor(c.content)
		if err != nil {
			return nil, fmt.Errorf("content colours: %w", err)
		}
		if err := imageio.MatchColor(style, style, stats); err != nil {
			return nil, err
		}
	case ColorLuminance:
		y := make([]float32, len(style)/3)
		imageio.Luminance(y, style)
		mean, std := imageio.MeanStd(c.contentY)
		imageio.MatchMoments(y, mean, std)
		expandGrey(style, y)
	}
	return style, nil
}
