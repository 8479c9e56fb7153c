package pipeline

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/record"
)

func TestEvalWritesCostsAndGradient(t *testing.T) {
	cfg := tinyConfig(t, "")
	dir := filepath.Join(t.TempDir(), "nested", "eval")
	if err := Eval(context.Background(), cfg, dir); err != nil {
		t.Fatal(err)
	}

	raw := readFile(t, filepath.Join(dir, "costs.json"))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("costs.json: %v\n%s", err, raw)
	}
	if got := sortedKeys(top); !slices.Equal(got, []string{"content", "style", "total", "tv"}) {
		t.Fatalf("costs.json keys %v, want content, style, tv, total", got)
	}
	var costs EvalCosts
	if err := json.Unmarshal(raw, &costs); err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(costs.Content); !slices.Equal(got, []string{"relu2_1"}) {
		t.Errorf("content layers %v, want [relu2_1]", got)
	}
	if got := sortedKeys(costs.Style); !slices.Equal(got, []string{"relu1_1", "relu2_1", "relu3_1"}) {
		t.Errorf("style layers %v, want relu1_1, relu2_1, relu3_1", got)
	}
	// The starting image is the content: its content cost is zero, its
	// style and smoothness costs are not.
	if costs.Content["relu2_1"] != 0 {
		t.Errorf("content cost at the content image = %v, want 0", costs.Content["relu2_1"])
	}
	for name, c := range costs.Style {
		if !(c > 0) {
			t.Errorf("style cost at %s = %v, want > 0", name, c)
		}
	}
	if !(costs.TV > 0) {
		t.Errorf("tv = %v, want > 0", costs.TV)
	}
	// Layer values are raw; total applies α, β, tv and the layer weights.
	j := 10*costs.Content["relu2_1"] + 40*(0.5*costs.Style["relu1_1"]+0.3*costs.Style["relu2_1"]+0.2*costs.Style["relu3_1"]) + 0.5*costs.TV
	if !closeRel(costs.Total, j, 1e-12) {
		t.Errorf("total %v, the raw terms and weights give %v", costs.Total, j)
	}

	village, _ := builtinimg.Load("builtin:village")
	fitted, err := imageio.FitLongSide(village, 32)
	if err != nil {
		t.Fatal(err)
	}
	wantShape := []int{1, 3, 21, 32}
	shape, x, err := record.ReadNPY(filepath.Join(dir, "image.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, wantShape) || !slices.Equal(x, imageio.ToTensor(fitted)) {
		t.Errorf("image.npy has shape %v and is not the fitted content image; want %v", shape, wantShape)
	}
	shape, grad, err := record.ReadNPY(filepath.Join(dir, "grad.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, wantShape) {
		t.Errorf("grad.npy shape %v, want %v", shape, wantShape)
	}

	// The files must be what the optimiser sees at that image.
	e := tinyExperiment(t, cfg)
	want := make([]float32, len(x))
	total, err := e.evaluate(context.Background(), x, want)
	if err != nil {
		t.Fatal(err)
	}
	if total != costs.Total || !slices.Equal(grad, want) {
		t.Errorf("Eval wrote J = %v and a gradient that differs from evaluate's J = %v", costs.Total, total)
	}
	if !(maxAbs(grad) > 0) {
		t.Error("grad.npy is all zero")
	}
}

// TestEvaluateGradientMatchesFiniteDifferences compares dJ/dx with central
// differences of J, for each cost term alone and for all of them together.
// The network runs in float32, so the comparison uses the perturbation
// actually applied after rounding x±εd to float32, and accumulates in
// float64.
//
// Each direction is Gaussian noise over all pixels plus the gradient of one
// colour channel (scaled to unit RMS over the image). Along pure noise the
// directional derivative is a sum of cancelling terms, about 1/sqrt(N) of
// the gradient's norm, and the ReLU kinks the perturbation crosses (random
// weights and zero biases leave many pre-activations near zero) swamp it;
// the channel's gradient keeps the derivative large, and a channel whose
// gradient is wrong (swapped, mis-scaled) shows in its own direction. With
// ε = 1e-4 the measured relative errors were at most 4e-4 with average
// pooling and 4e-3 with max pooling, whose argmax can switch; at 1e-3 kinks
// cost up to 1.6e-2, below 3e-5 float32 rounding in J takes over.
func TestEvaluateGradientMatchesFiniteDifferences(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "photo.png"), 24, 20)
	writePNG(t, filepath.Join(dir, "art.png"), 20, 24)
	// Noise moves the content term away from its minimum, where its
	// gradient vanishes and the check would prove nothing.
	base := []string{"content=" + filepath.Join(dir, "photo.png"), "style=[{path: " + filepath.Join(dir, "art.png") + ", weight: 1}]", "size=24", "noise_ratio=0.2"}
	tests := []struct {
		name string
		sets []string
	}{
		{"all terms", nil},
		{"content only", []string{"weights.style=0", "weights.tv=0"}},
		{"style only", []string{"weights.content=0", "weights.tv=0"}},
		{"tv only", []string{"weights.content=0", "weights.style=0"}},
		{"max pooling from noise", []string{"model.pooling=max", "init=noise", "seed=3"}},
		{"caffe preprocessing", []string{"model.preprocess.scale=255", "model.preprocess.channels=bgr", "model.preprocess.mean=[123.68, 116.779, 103.939]", "model.preprocess.std=[1, 1, 1]"}},
	}
	const eps, tol = 1e-4, 1e-2
	for _, tt := range withGradientsInPlace(t, tests) {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t)
			cfg := tinyConfig(t, "", slices.Concat(base, tt.sets)...)
			e := tinyExperiment(t, cfg)
			if e.inPlace != tt.inPlace {
				t.Fatalf("gradients in place: %v, want %v", e.inPlace, tt.inPlace)
			}
			checkGradientFD(t, e, eps, tol)
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// evaluateAllocs returns the allocations and bytes one evaluation of e at
// its initial image makes, averaged over runs after a warm-up evaluation.
func evaluateAllocs(t *testing.T, e *experiment, runs int) (allocs, bytes float64) {
	t.Helper()
	x, err := e.initImage()
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float32, len(x))
	ctx := context.Background()
	var evalErr error
	evaluate := func() { _, evalErr = e.evaluate(ctx, x, grad) }
	evaluate()
	allocs, bytes = pathAllocs(t, runs, evaluateFunc, evaluate)
	if evalErr != nil {
		t.Fatal(evalErr)
	}
	return allocs, bytes
}

// evaluateFunc is the evaluation's function as the heap profile names it:
// the allocation tests count what is allocated under it (see pathAllocs),
// not what other goroutines allocate meanwhile.
const evaluateFunc = "github.com/nst-project/nst/pipeline.(*experiment).evaluate"

// TestEvaluateAllocationsDoNotGrowWithTheImage checks that an evaluation
// reuses its buffers: ONNX Runtime's Go binding allocates a few argument
// slices per session run, but nothing the size of an image or activation.
func TestEvaluateAllocationsDoNotGrowWithTheImage(t *testing.T) {
	type measure struct{ allocs, bytes float64 }
	measureAt := func(size string) measure {
		allocs, bytes := evaluateAllocs(t, tinyExperiment(t, tinyConfig(t, "", size)), 10)
		return measure{allocs, bytes}
	}
	small, large := measureAt("size=24"), measureAt("size=64")
	t.Logf("per evaluation: %v allocations, %.0f bytes at 24 px; %v allocations, %.0f bytes at 64 px", small.allocs, small.bytes, large.allocs, large.bytes)
	if large.allocs != small.allocs {
		t.Errorf("%v allocations per evaluation at 64 px, %v at 24 px: something is allocated per pixel or per layer size", large.allocs, small.allocs)
	}
	// An image at 64 px is 64x43x3 float32, 33 KB; the argument slices are
	// a few hundred bytes.
	if large.bytes > 8<<10 {
		t.Errorf("%.0f bytes allocated per evaluation at 64 px, want well below the image's 33 KB", large.bytes)
	}
}

// TestTiledEvaluateDoesNotAllocate checks that a tiled evaluation reuses
// its buffers too: at print sizes an image-sized allocation per evaluation
// is hundreds of megabytes of garbage, which Go's collector lets pile up
// to the size of the live heap before it collects.
func TestTiledEvaluateDoesNotAllocate(t *testing.T) {
	for _, sets := range [][]string{
		{"size=256", "runtime.tile=64"},
		{"size=256", "runtime.tile=64", "color=luminance"},
	} {
		e := tinyExperiment(t, tinyConfig(t, "", sets...))
		if e.tiled == nil {
			t.Fatalf("%v: not tiled", sets)
		}
		allocs, bytes := evaluateAllocs(t, e, 5)
		tiles := len(e.tiled.cut.tiles)
		t.Logf("%v: %d tiles of crop %dx%d; per evaluation %v allocations, %.0f bytes", sets, tiles, e.tiled.cut.cropW, e.tiled.cut.cropH, allocs, bytes)
		// A crop is 3x(64+2·margin)² float32, hundreds of KB; what ONNX
		// Runtime's binding allocates per session run is a few hundred
		// bytes.
		if perTile := bytes / float64(tiles); perTile > 2<<10 {
			t.Errorf("%v: %.0f bytes allocated per tile and evaluation, want a few hundred", sets, perTile)
		}
	}
}
