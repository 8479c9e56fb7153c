package unitviz

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomImage returns an RGB image with values in [0.1, 0.9].
func randomImage(h, w int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	img := make([]float32, 3*h*w)
	for i := range img {
		img[i] = 0.1 + 0.8*rng.Float32()
	}
	return img
}

// rollRef shifts the planes of x with wrap-around by index arithmetic, the
// definition roll must meet.
func rollRef(x []float64, c, h, w, dy, dx int) []float64 {
	out := make([]float64, len(x))
	for ch := range c {
		for y := range h {
			for xx := range w {
				ty, tx := ((y+dy)%h+h)%h, ((xx+dx)%w+w)%w
				out[(ch*h+ty)*w+tx] = x[(ch*h+y)*w+xx]
			}
		}
	}
	return out
}

// tvRef is losses.TotalVariation's definition, in float64.
func tvRef(x []float64, c, h, w int) float64 {
	var s float64
	for ch := range c {
		for y := range h {
			for xx := range w {
				v := x[(ch*h+y)*w+xx]
				if xx+1 < w {
					d := x[(ch*h+y)*w+xx+1] - v
					s += d * d
				}
				if y+1 < h {
					d := x[(ch*h+y+1)*w+xx] - v
					s += d * d
				}
			}
		}
	}
	return s / float64(len(x))
}

func TestPreActivation(t *testing.T) {
	d := newDetector(t)
	for layer, want := range map[string]string{"relu1_1": "conv1_1", "relu2_1": "conv2_1", "conv2_1": "", "pool1": "", "relu9_9": ""} {
		if got, _ := preActivation(d.b, layer); got != want {
			t.Errorf("%s: %q, want %q", layer, got, want)
		}
	}
}

func TestDreamGradientMatchesFiniteDifferences(t *testing.T) {
	d := newDetector(t)
	const h, w = 16, 20
	for _, tc := range []struct {
		layer  string
		unit   int
		neuron bool
		dy, dx int
		tv     float64
	}{
		{layer: "conv1_1", unit: 2},
		{layer: "relu1_1", unit: 3, neuron: true, dy: 1, dx: -2},
		{layer: "relu2_1", unit: 0, dy: -3, dx: 5},
		{layer: "relu2_1", unit: 2, neuron: true, dy: 2, dx: 2, tv: 0.5},
		{layer: "pool1", unit: 1, dy: 7, dx: -9, tv: 2},
	} {
		t.Run(fmt.Sprintf("%s/%d/neuron=%v/shift=%d,%d/tv=%g", tc.layer, tc.unit, tc.neuron, tc.dy, tc.dx, tc.tv), func(t *testing.T) {
			objective := tc.layer
			layers := []string{tc.layer}
			if pre, ok := preActivation(d.b, tc.layer); ok {
				objective, layers = pre, []string{pre, tc.layer}
			}
			net, err := d.network().prepare(layers, w, h, false)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			x := randomImage(h, w, 7)
			o := DreamOptions{Layer: tc.layer, Unit: tc.unit, Neuron: tc.neuron, Width: w, Height: h, TV: tc.tv}
			dr, err := newDreamer(net, o, x)
			if err != nil {
				t.Fatal(err)
			}
			grad := make([]float32, len(x))
			cost, err := dr.eval(x, grad, tc.dy, tc.dx)
			if err != nil {
				t.Fatal(err)
			}

			reference := func(x []float64) float64 {
				a := d.reference(rollRef(x, 3, h, w, tc.dy, tc.dx), h, w)[objective]
				plane := a.d[tc.unit*a.h*a.w : (tc.unit+1)*a.h*a.w]
				act := 0.0
				if tc.neuron {
					act = plane[(a.h/2)*a.w+a.w/2]
				} else {
					for _, v := range plane {
						act += v
					}
					act /= float64(len(plane))
				}
				return -act + tc.tv*tvRef(x, 3, h, w)
			}
			x64 := float64sOf(x)
			if want := reference(x64); math.Abs(cost-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("cost %.8g, reference %.8g", cost, want)
			}
			rng := rand.New(rand.NewPCG(8, 9))
			const eps = 1e-6
			for dir := range 3 {
				dv := make([]float64, len(x))
				var norm float64
				for i := range dv {
					dv[i] = rng.NormFloat64()
					norm += dv[i] * dv[i]
				}
				var analytic float64
				plus, minus := make([]float64, len(x)), make([]float64, len(x))
				for i := range dv {
					dv[i] /= math.Sqrt(norm)
					analytic += float64(grad[i]) * dv[i]
					plus[i], minus[i] = x64[i]+eps*dv[i], x64[i]-eps*dv[i]
				}
				numeric := (reference(plus) - reference(minus)) / (2 * eps)
				scale := math.Max(math.Abs(numeric), math.Abs(analytic))
				if math.Abs(numeric-analytic) > 1e-3*scale || scale == 0 {
					t.Errorf("direction %d: finite differences %.8g, gradient %.8g", dir, numeric, analytic)
				}
			}
		})
	}
}

// unitOnNoise is the detector unit's mean over positions on full-range
// uniform noise, an image that shows nothing in particular. Weights are
// shared across positions, so it is also what one position (a neuron)
// gives noise on average.
func unitOnNoise(t *testing.T, d *detector, layer string, unit, w, h int) float64 {
	t.Helper()
	net, err := d.network().prepare([]string{layer}, w, h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 3*w*h)
	for i := range x {
		x[i] = rng.Float32()
	}
	acts, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	a := acts[0]
	var sum float64
	for _, v := range a.Data[unit*a.H*a.W : (unit+1)*a.H*a.W] {
		sum += float64(v)
	}
	return sum / float64(a.H*a.W)
}

func TestDreamExcitesTheUnit(t *testing.T) {
	d := newDetector(t)
	const w, h = 32, 32
	noise := unitOnNoise(t, d, "relu2_1", 0, w, h)
	for _, neuron := range []bool{false, true} {
		t.Run(fmt.Sprintf("neuron=%v", neuron), func(t *testing.T) {
			o := DefaultDreamOptions()
			o.Network, o.Layer, o.Unit, o.Neuron, o.Width, o.Height = d.network(), "relu2_1", 0, neuron, w, h
			o.Steps, o.Jitter = 150, 2
			res, err := Dream(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("activation: %.3g on the starting noise, %.3g on uniform noise, %.3g dreamt", res.Start, noise, res.Final)
			if res.Steps != o.Steps {
				t.Errorf("%d steps taken, want %d", res.Steps, o.Steps)
			}
			// Full-range noise is full of edges; the ceiling, a square
			// wave of period 4 in pure black and white, is about 4.4.
			if !(res.Final > 10*res.Start && res.Final > 4*noise) {
				t.Errorf("dreamt activation %.3g; want ten times that on the starting noise (%.3g) and four times that on uniform noise (%.3g)", res.Final, res.Start, noise)
			}
			// The unit detects vertical edges: the image must be made of them.
			region := image.Rect(0, 0, w, h)
			if neuron {
				f, err := d.b.ReceptiveField("relu2_1")
				if err != nil {
					t.Fatal(err)
				}
				region = f.Box(h/2/f.StrideY, w/2/f.StrideX).Intersect(region)
			}
			across, along := gradientEnergy(res.Image, w, h, region)
			if !(across > 2*along) {
				t.Errorf("contrast %.3g across columns, %.3g along them; want vertical edges", across, along)
			}
			for i, v := range res.Image {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("pixel value %d is %g, outside [0,1]", i, v)
				}
			}
		})
	}
}

func TestDreamIsDeterministic(t *testing.T) {
	d := newDetector(t)
	run := func(seed int64) []float32 {
		o := DefaultDreamOptions()
		o.Network, o.Layer, o.Unit, o.Width, o.Height = d.network(), "relu1_1", 0, 24, 16
		o.Steps, o.Jitter, o.TV, o.Seed = 12, 3, 0.1, seed
		res, err := Dream(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return res.Image
	}
	a, b, c := run(4), run(4), run(5)
	if !slices.Equal(a, b) {
		t.Error("two dreams with seed 4 differ")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 4 and 5 give the same dream")
	}
}

// progressLog records what a Progress is told.
type progressLog struct {
	iters    []int
	costs    []float64
	finished int
}

func (p *progressLog) Update(iter int, cost float64) {
	p.iters = append(p.iters, iter)
	p.costs = append(p.costs, cost)
}
func (p *progressLog) Finish() { p.finished++ }

func TestDreamReportsProgressAndStops(t *testing.T) {
	d := newDetector(t)
	base := DefaultDreamOptions()
	base.Network, base.Layer, base.Width, base.Height, base.Steps, base.Jitter = d.network(), "conv1_1", 16, 16, 5, 1

	var log progressLog
	o := base
	o.Progress = &log
	if _, err := Dream(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(log.iters, []int{1, 2, 3, 4, 5}) || log.finished != 1 {
		t.Errorf("progress saw steps %v and %d finishes, want 1 to 5 and one", log.iters, log.finished)
	}
	if log.costs[4] >= log.costs[0] {
		t.Errorf("cost went from %g to %g; gradient ascent on the activation lowers it", log.costs[0], log.costs[4])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Dream(ctx, base)
	if !errors.Is(err, context.Canceled) || res == nil || res.Steps != 0 || len(res.Image) != 3*16*16 {
		t.Errorf("cancelled dream: result %v, error %v; want the starting image and context.Canceled", res, err)
	}
}

func TestDreamRejects(t *testing.T) {
	d := newDetector(t)
	base := DefaultDreamOptions()
	base.Network, base.Layer, base.Width, base.Height = d.network(), "relu2_1", 16, 16
	for _, tc := range []struct {
		name   string
		change func(*DreamOptions)
		msg    string
	}{
		{"unit beyond the layer", func(o *DreamOptions) { o.Unit = 3 }, "units 0 to 2"},
		{"negative unit", func(o *DreamOptions) { o.Unit = -1 }, "unit -1"},
		{"unknown layer", func(o *DreamOptions) { o.Layer = "relu2_2" }, "unknown layer"},
		{"no steps", func(o *DreamOptions) { o.Steps = 0 }, "steps 0"},
		{"no size", func(o *DreamOptions) { o.Width = 0 }, "image size 0x16"},
		{"bad rate", func(o *DreamOptions) { o.LR = math.NaN() }, "learning rate"},
		{"jitter too large", func(o *DreamOptions) { o.Jitter = 16 }, "jitter 16"},
		{"negative tv", func(o *DreamOptions) { o.TV = -1 }, "tv weight -1"},
		{"negative blur", func(o *DreamOptions) { o.BlurSigma = -1 }, "blur"},
		{"no backbone", func(o *DreamOptions) { o.Backbone = nil }, "no backbone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.change(&o)
			res, err := Dream(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || res != nil {
				t.Fatalf("result %v, error %v; want none and an error containing %q", res, err, tc.msg)
			}
		})
	}
}

// TestDreamStepAddsNoAllocations checks that one evaluation of the dream's
// objective allocates nothing beyond what the Net's own Forward and
// Backward do (onnxruntime_go allocates a few small argument slices).
func TestDreamStepAddsNoAllocations(t *testing.T) {
	d := newDetector(t)
	const h, w = 16, 16
	net, err := d.network().prepare([]string{"conv2_1", "relu2_1"}, w, h, false)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x := randomImage(h, w, 2)
	dr, err := newDreamer(net, DreamOptions{Layer: "relu2_1", Width: w, Height: h, TV: 0.1}, x)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float32, len(x))
	netAllocs := testing.AllocsPerRun(20, func() {
		if _, err := net.Forward(x); err != nil {
			t.Fatal(err)
		}
		if _, err := net.Backward(); err != nil {
			t.Fatal(err)
		}
	})
	evalAllocs := testing.AllocsPerRun(20, func() {
		if _, err := dr.eval(x, grad, 3, -2); err != nil {
			t.Fatal(err)
		}
	})
	if evalAllocs > netAllocs {
		t.Errorf("an evaluation allocates %v times, the Net alone %v", evalAllocs, netAllocs)
	}
}
