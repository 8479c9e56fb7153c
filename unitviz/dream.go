package unitviz

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// DreamOptions say which unit Dream excites and how.
type DreamOptions struct {
	Network
	// Layer names the layer, as a config would (relu4_2, ...).
	Layer string
	// Unit is the channel of Layer to excite.
	Unit int
	// Neuron excites the unit at the centre of the activation grid alone,
	// which paints one instance of its pattern, the size of its receptive
	// field. Otherwise the mean over every position (the whole channel) is
	// raised, which tiles the image with the pattern.
	Neuron bool
	// Width and Height are the image size in pixels.
	Width, Height int
	// Steps is the number of gradient steps.
	Steps int
	// LR is Adam's step size, in pixel values (0 to 1).
	LR float64
	// Jitter shifts the image by up to this many pixels along each axis
	// (with wrap-around) before each step, a new random shift every step:
	// patterns that only excite the unit at one exact pixel alignment, the
	// high-frequency noise gradient ascent otherwise produces, average out.
	Jitter int
	// BlurEvery blurs the image every this many steps with a Gaussian of
	// standard deviation BlurSigma pixels, damping the highest frequencies
	// (Yosinski et al.); 0 never blurs.
	BlurEvery int
	BlurSigma float64
	// TV weights a total variation penalty (losses.TotalVariation, 1/3 for
	// uniform noise) against the activation; 0 turns it off. Its useful
	// size depends on the layer's activation scale.
	TV float64
	// Seed fixes the starting noise and the jitter: the same options give
	// the same image.
	Seed int64
	// Progress, when not nil, receives every step with its cost: minus the
	// unit's value ascended (see Dream), plus the TV penalty.
	Progress record.Progress
}

// DefaultDreamOptions returns settings that give readable images for VGG
// layers at a few hundred pixels; the caller sets the network, layer, unit
// and size.
func DefaultDreamOptions() DreamOptions {
	return DreamOptions{Steps: 200, LR: 0.05, Jitter: 8, BlurEvery: 4, BlurSigma: 0.5}
}

// DreamResult is the image Dream made.
type DreamResult struct {
	// Image is the image, [1,3,Height,Width] RGB in [0,1].
	Image         []float32
	Width, Height int
	// Steps is how many steps were taken.
	Steps int
	// Start and Final are the unit's activation in the layer asked for
	// (the centre value for Neuron, else the channel mean), without
	// jitter, on the starting noise and on Image.
	Start, Final float64
}

// noiseAmplitude is the spread of the starting noise around mid grey:
// low, so that the unit's pattern, not the noise, ends up in the image.
const noiseAmplitude = 0.2

// dreamStream is the PCG stream of Dream's random numbers ("dream").
const dreamStream = 0x647265616d

// Dream paints an image that excites one unit: gradient ascent on its
// activation with Adam, starting from low-amplitude noise, with pixels kept
// in [0,1] and the regularisers of o. For a ReLU layer of a structurally
// named backbone (relu4_2) the ascent is on the unit's value before the
// ReLU (conv4_2), which raises it where the ReLU would block the gradient.
// When ctx is cancelled or a step fails, it returns the image reached so
// far with the error.
func Dream(ctx context.Context, o DreamOptions) (*DreamResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	layers := []string{o.Layer}
	if pre, ok := preActivation(o.Backbone, o.Layer); ok {
		layers = []string{pre, o.Layer}
	}
	net, err := o.prepare(layers, o.Width, o.Height, false)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	rng := rand.New(rand.NewPCG(uint64(o.Seed), dreamStream))
	x := make([]float32, 3*o.Width*o.Height)
	for i := range x {
		x[i] = 0.5 + noiseAmplitude*(rng.Float32()-0.5)
	}
	d, err := newDreamer(net, o, x)
	if err != nil {
		return nil, err
	}
	res := &DreamResult{Image: x, Width: o.Width, Height: o.Height}
	if res.Start, err = d.activation(x); err != nil {
		return nil, err
	}
	adam, err := optim.NewAdam(optim.AdamConfig{LR: o.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Lo: 0, Hi: 1})
	if err != nil {
		return nil, err
	}
	var blur *gaussianBlur
	if o.BlurEvery > 0 && o.BlurSigma > 0 {
		blur = newGaussianBlur(o.BlurSigma, len(x))
	}
	objective := func(_ context.Context, x, grad []float32) (float64, error) {
		dy, dx := rng.IntN(2*o.Jitter+1)-o.Jitter, rng.IntN(2*o.Jitter+1)-o.Jitter
		return d.eval(x, grad, dy, dx)
	}
	var runErr error
	for step := 1; step <= o.Steps; step++ {
		s, err := adam.Step(ctx, x, objective)
		if err != nil {
			runErr = fmt.Errorf("dream %s unit %d: %w", o.Layer, o.Unit, err)
			break
		}
		if blur != nil && step%o.BlurEvery == 0 {
			blur.apply(x, 3, o.Height, o.Width)
		}
		res.Steps = step
		if o.Progress != nil {
			o.Progress.Update(step, s.Cost)
		}
	}
	if o.Progress != nil {
		o.Progress.Finish()
	}
	final, err := d.activation(x)
	res.Final = final
	return res, errors.Join(runErr, err)
}

// check validates the options.
func (o *DreamOptions) check() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Backbone == nil {
		bad("no backbone")
	}
	if o.Width < 1 || o.Height < 1 || o.Width > MaxSize || o.Height > MaxSize {
		bad("image size %dx%d; want 1 to %d pixels a side", o.Width, o.Height, MaxSize)
	}
	if o.Steps < 1 {
		bad("steps %d; want at least 1", o.Steps)
	}
	if !(o.LR > 0) || math.IsInf(o.LR, 0) {
		bad("learning rate %v; want a positive number", o.LR)
	}
	if o.Jitter < 0 || o.Jitter >= max(o.Width, o.Height) {
		bad("jitter %d; want 0 up to the image size", o.Jitter)
	}
	if o.BlurEvery < 0 || !(o.BlurSigma >= 0) || math.IsInf(o.BlurSigma, 0) {
		bad("blur every %d steps with sigma %v; want non-negative numbers", o.BlurEvery, o.BlurSigma)
	} else if side := max(o.Width, o.Height); o.BlurSigma > float64(side) {
		// The kernel reaches 3 sigma: a wider blur only flattens the
		// image, at the cost of a kernel as wide as it.
		bad("blur sigma %v; want 0 up to the image's side (%d pixels)", o.BlurSigma, side)
	}
	if !(o.TV >= 0) || math.IsInf(o.TV, 0) {
		bad("tv weight %v; want a finite number >= 0", o.TV)
	}
	if o.Unit < 0 {
		bad("unit %d; want 0 or more", o.Unit)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("units dream: %w", err)
	}
	return nil
}

// preActivation names the layer whose values a ReLU layer clips, for
// structurally named backbones: relu4_2 reads bn4_2 where the model has
// batch normalisation, else conv4_2.
func preActivation(b *models.Backbone, layer string) (string, bool) {
	l, err := b.Lookup(layer)
	suffix, isRelu := strings.CutPrefix(layer, "relu")
	if err != nil || l.Op != "Relu" || !isRelu || b.Naming() == models.NamingONNX {
		return "", false
	}
	for _, prefix := range []string{"bn", "conv"} {
		if _, err := b.Lookup(prefix + suffix); err == nil {
			return prefix + suffix, true
		}
	}
	return "", false
}

// dreamer evaluates Dream's objective: minus the unit's activation at
// the jittered image, plus the TV penalty. The Net returns one or two
// layers: the first is the objective's, the last the one reported. For a
// ReLU layer the objective is the unit before its ReLU: where the unit is
// off, the ReLU passes no gradient, and gradient ascent would only ever
// grow the places where it already fires (lucid's "redirected ReLU" fixes
// the same problem). Its buffers are allocated once.
type dreamer struct {
	net        *models.Net
	h, w       int
	unit, at   int // channel; centre position for Neuron, else -1
	gridPixels int // positions per channel
	tv         float64
	shifted    []float32
}

// newDreamer checks the unit against the layer, at image x, and writes
// the constant output gradient into the Net's first buffer once: minus one
// over the positions averaged, on the unit's plane.
func newDreamer(net *models.Net, o DreamOptions, x []float32) (*dreamer, error) {
	acts, err := net.Forward(x)
	if err != nil {
		return nil, err
	}
	a := acts[0]
	if o.Unit >= a.C {
		return nil, fmt.Errorf("units dream: unit %d: layer %s has units 0 to %d", o.Unit, o.Layer, a.C-1)
	}
	d := &dreamer{net: net, h: o.Height, w: o.Width, unit: o.Unit, at: -1, gridPixels: a.H * a.W, tv: o.TV, shifted: make([]float32, len(x))}
	seed := net.GradBuffers()[0]
	clear(seed)
	plane := seed[d.unit*d.gridPixels : (d.unit+1)*d.gridPixels]
	if o.Neuron {
		d.at = (a.H/2)*a.W + a.W/2
		plane[d.at] = -1
	} else {
		for i := range plane {
			plane[i] = -1 / float32(d.gridPixels)
		}
	}
	return d, nil
}

// read returns the objective's activation from the layer's output.
func (d *dreamer) read(a models.Activation) float64 {
	plane := a.Data[d.unit*d.gridPixels : (d.unit+1)*d.gridPixels]
	if d.at >= 0 {
		return float64(plane[d.at])
	}
	var sum float64
	for _, v := range plane {
		sum += float64(v)
	}
	return sum / float64(len(plane))
}

// activation runs x through the network, unshifted, and reads the unit
// in the layer asked for.
func (d *dreamer) activation(x []float32) (float64, error) {
	acts, err := d.net.Forward(x)
	if err != nil {
		return 0, err
	}
	return d.read(acts[len(acts)-1]), nil
}

// eval writes into grad the gradient of the cost at x shifted by (dy, dx)
// and returns the cost. The shift is part of the function: its gradient
// is the network's, shifted back.
func (d *dreamer) eval(x, grad []float32, dy, dx int) (float64, error) {
	roll(d.shifted, x, 3, d.h, d.w, dy, dx)
	acts, err := d.net.Forward(d.shifted)
	if err != nil {
		return 0, err
	}
	cost := -d.read(acts[0])
	g, err := d.net.Backward()
	if err != nil {
		return 0, err
	}
	roll(grad, g, 3, d.h, d.w, -dy, -dx)
	if d.tv > 0 {
		tv, err := losses.TotalVariation(x, 3, d.h, d.w, d.tv, grad)
		if err != nil {
			return 0, err
		}
		cost += d.tv * tv
	}
	return cost, nil
}
