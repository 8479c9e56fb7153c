package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/models"
)

// tinySpec is a three-block VGG with 4, 8 and 8 channels: every code path
// of a real VGG (convolutions, ReLU, pooling swapped to average) at a
// cost small enough for many runs on two shared cores.
var tinySpec = models.SynthSpec{Blocks: [][]int{{4}, {8}, {8}}}

// writeTinyModel writes the tiny backbone into a folder of the test's; it
// takes microseconds, and a file per test keeps tests independent.
func writeTinyModel(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	if err := models.WriteSynthFrom(&buf, tinySpec, 7); err != nil {
		t.Fatalf("write tiny backbone: %v", err)
	}
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyYAML is an experiment on the tiny backbone at 32 pixels, one ONNX
// Runtime thread (the thread count is part of what makes runs
// byte-reproducible), with extra appended as further top-level YAML.
func tinyYAML(t testing.TB, outDir, extra string) string {
	t.Helper()
	return fmt.Sprintf(`content: builtin:village
style:
  - {path: builtin:swirls, weight: 1}
size: 32
model: {path: %q, arch: auto, pooling: avg}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.3, relu3_1: 0.2}
weights: {content: 10, style: 40, tv: 0.5}
optimizer: {name: lbfgs, iterations: 8}
output: {dir: %q, save_every: 3}
runtime: {threads: 1}
%s`, writeTinyModel(t), filepath.Join(outDir, "run"), extra)
}

// tinyConfig loads tinyYAML through LoadConfig, as nst run would, with
// sets as --set overrides.
func tinyConfig(t testing.TB, extra string, sets ...string) *Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(path, []byte(tinyYAML(t, t.TempDir(), extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, sets)
	if err != nil {
		t.Fatalf("tiny config: %v", err)
	}
	return cfg
}

// writePNG writes a w x h image with a smooth gradient and a square, so
// that content and style costs are far from zero.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			i := img.PixOffset(x, y)
			img.Pix[i] = uint8(255 * x / w)
			img.Pix[i+1] = uint8(255 * y / h)
			if x > w/4 && x < w/2 && y > h/3 && y < 2*h/3 {
				img.Pix[i+2] = 230
			}
			img.Pix[i+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkGradientFD compares e's gradient at its initial image with float64
// central differences of J, one direction per channel: random noise plus
// that channel's part of the gradient, so that a gradient that is wrong
// (swapped, mis-scaled) shows in its own direction.
func checkGradientFD(t *testing.T, e *experiment, eps, tol float64) {
	t.Helper()
	x, err := e.initImage()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	grad := make([]float32, len(x))
	if _, err := e.evaluate(ctx, x, grad); err != nil {
		t.Fatal(err)
	}
	var rms float64
	for _, g := range grad {
		rms += float64(g) * float64(g)
	}
	rms = math.Sqrt(rms / float64(len(grad)))
	if rms == 0 {
		t.Fatal("the gradient is zero")
	}
	channels := e.color.channels()
	plane := len(x) / channels
	scratch := make([]float32, len(x))
	xp, xm := make([]float32, len(x)), make([]float32, len(x))
	rng := rand.New(rand.NewPCG(11, 12))
	for channel := range channels {
		for i := range x {
			d := rng.NormFloat64()
			if i/plane == channel {
				d += float64(grad[i]) / rms
			}
			xp[i] = float32(float64(x[i]) + eps*d)
			xm[i] = float32(float64(x[i]) - eps*d)
		}
		jp, err := e.evaluate(ctx, xp, scratch)
		if err != nil {
			t.Fatal(err)
		}
		jm, err := e.evaluate(ctx, xm, scratch)
		if err != nil {
			t.Fatal(err)
		}
		var predicted float64
		for i := range x {
			predicted += float64(grad[i]) * (float64(xp[i]) - float64(xm[i]))
		}
		if rel := math.Abs((jp-jm)-predicted) / math.Abs(predicted); !(rel <= tol) {
			t.Errorf("channel %d: J(x+εd)-J(x-εd) = %.6g, the gradient predicts %.6g (relative error %.2g > %g)", channel, jp-jm, predicted, rel, tol)
		}
	}
}

// benchEvaluate times one evaluation (forward, costs, backward, TV) of the
// tiny config with sets, at its initial image, reporting allocations.
func benchEvaluate(b *testing.B, sets ...string) {
	cfg := tinyConfig(b, "", sets...)
	e, err := newExperiment(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	x, err := e.initImage()
	if err != nil {
		b.Fatal(err)
	}
	grad := make([]float32, len(x))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.evaluate(ctx, x, grad); err != nil {
			b.Fatal(err)
		}
	}
}

// gradientCase is a named test case given as config overrides.
type gradientCase = struct {
	name string
	sets []string
}

// gradientCaseInPlace is a gradientCase run with the gradients written
// separately or over the activations (setup chooses).
type gradientCaseInPlace struct {
	name    string
	sets    []string
	inPlace bool
	setup   func(t *testing.T)
}

// withGradientsInPlace runs each case twice: with separate gradient
// buffers, as small images get, and with the gradients overwriting the
// activations, as large ones do (gradInPlaceAbove).
func withGradientsInPlace(t *testing.T, cases []gradientCase) []gradientCaseInPlace {
	var out []gradientCaseInPlace
	for _, c := range cases {
		for _, inPlace := range []bool{false, true} {
			above, name := int64(math.MaxInt64), c.name+", separate gradients"
			if inPlace {
				above, name = -1, c.name+", gradients in place"
			}
			out = append(out, gradientCaseInPlace{name: name, sets: c.sets, inPlace: inPlace, setup: func(t *testing.T) {
				prev := gradInPlaceAbove
				gradInPlaceAbove = above
				t.Cleanup(func() { gradInPlaceAbove = prev })
			}})
		}
	}
	return out
}

// interruptAndResume runs cfg, cancels it after its third iteration,
// checks that the interrupted run saved its image as last (last.wav,
// last.npy), resumes it, and checks that the resumed run's folder is
// want's, byte for byte.
func interruptAndResume(t *testing.T, cfg *Config, last string, want runFolder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := ObserverFunc(func(ev *Event) error {
		if ev.Kind == EventIteration && ev.Iteration == 3 {
			cancel()
		}
		return nil
	})
	res, err := Run(ctx, cfg, RunOptions{Observers: []Observer{stop}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v; want ErrInterrupted", err)
	}
	if filepath.Base(res.Image) != last {
		t.Errorf("interrupted run saved %s; want %s", res.Image, last)
	}
	if res, err = Resume(context.Background(), res.Dir, RunOptions{}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	checkSameRun(t, readRunFolder(t, res.Dir), want)
}
