package models

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/models/internal/trunks"
)

// writeTrunk writes a trunk built by package trunks to a temporary file.
func writeTrunk(t testing.TB, arch string, o trunks.Options) (string, []trunks.Tap) {
	t.Helper()
	m, taps, err := trunks.Build(arch, o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := onnxgraph.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), arch+".onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, taps
}

// TestArchitectures loads a narrow, shallow random-weight version of each
// torchvision trunk as the export script writes it (package trunks),
// checks that its taps are layers with the right channels and strides,
// prepares a Net on all of them at once (shape computations folded at
// its size) and compares its input gradient with central differences of
// the Net's own forward pass (float32, so the check is looser than in
// package autodiff, whose block tests check the rules in float64).
func TestArchitectures(t *testing.T) {
	for i, arch := range trunks.Archs {
		t.Run(arch, func(t *testing.T) {
			path, taps := writeTrunk(t, arch, trunks.Options{Seed: uint64(i + 1), Width: 0.125, Depth: 1})
			b, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			wantNaming := NamingONNX
			if arch == "alexnet" {
				wantNaming = NamingVGG
			}
			if b.Naming() != wantNaming {
				t.Errorf("naming %q, want %q", b.Naming(), wantNaming)
			}
			var layers []string
			for _, tp := range taps {
				l, err := b.Lookup(tp.Name)
				if err != nil {
					t.Fatal(err)
				}
				if l.Channels != int(tp.Channels) || l.Stride != tp.Stride {
					t.Errorf("layer %s: %d channels, stride %d; want %d, %d", tp.Name, l.Channels, l.Stride, tp.Channels, tp.Stride)
				}
				layers = append(layers, tp.Name)
			}
			// The layers the export script recommends exist.
			content, style := trunks.Recommended(arch, taps)
			for _, name := range append([]string{content}, style...) {
				if _, err := b.Lookup(name); err != nil {
					t.Errorf("recommended layer: %v", err)
				}
			}
			if arch == "alexnet" {
				// The chain's structural names, and the output as an alias.
				if l, err := b.Lookup("features"); err != nil || l.AliasOf != "pool3" {
					t.Errorf("features = %+v, %v; want an alias of pool3", l, err)
				}
				layers = []string{"relu1_1", "relu2_1", "relu3_1", "relu3_3", "features"}
			}
			side := 64
			if arch == "inception_v3" {
				side = 96
			}
			checkNetGradient(t, b, layers, side, uint64(i))
		})
	}
}

// checkNetGradient prepares a Net on layers at side×side and compares
// Backward's directional derivatives of J = Σ <seed, activation> with
// central differences of Forward: along the gradient itself and along the
// gradient plus random noise of half its norm. In float32, along a random
// direction the change of J drowns in rounding; along the gradient it is
// largest, and a wrong gradient (a rule, a seed fed to the wrong layer,
// the preprocessing's chain rule) shows there too.
func checkNetGradient(t *testing.T, b *Backbone, layers []string, side int, seed uint64) {
	t.Helper()
	net := prepare(t, b, Options{Layers: layers, Height: side, Width: side, Preprocess: ImageNetPreprocess})
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, g := range net.GradBuffers() {
		for i := range g {
			g[i] = float32(rng.NormFloat64() / math.Sqrt(float64(len(g))))
		}
	}
	seeds := make([][]float64, len(net.GradBuffers()))
	for l, g := range net.GradBuffers() {
		seeds[l] = float64s(g)
	}
	img := randImage(side, side, seed)
	if _, err := net.Forward(img); err != nil {
		t.Fatal(err)
	}
	grad, err := net.Backward()
	if err != nil {
		t.Fatal(err)
	}
	grad = append([]float32(nil), grad...)
	gradNorm := 0.0
	for _, g := range grad {
		gradNorm += float64(g) * float64(g)
	}
	cost := func(x []float32) float64 {
		acts, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		j := 0.0
		for l, a := range acts {
			for i, v := range a.Data {
				j += seeds[l][i] * float64(v)
			}
		}
		return j
	}
	// Along the gradient, the difference is large next to float32's noise,
	// and a step this small crosses few ReLU or max-pooling kinks.
	const eps = 3e-4
	x := make([]float32, len(img))
	for dir := range 2 {
		d := make([]float64, len(img))
		norm := 0.0
		for i := range d {
			d[i] = float64(grad[i])
			if dir == 1 {
				d[i] += 0.5 * rng.NormFloat64() * math.Sqrt(gradNorm/float64(len(d)))
			}
			norm += d[i] * d[i]
		}
		for i := range d {
			d[i] /= math.Sqrt(norm)
		}
		step := func(s float64) float64 {
			for i := range x {
				x[i] = float32(float64(img[i]) + s*d[i])
			}
			return cost(x)
		}
		plus, minus := step(eps), step(-eps)
		numeric := (plus - minus) / (2 * eps)
		analytic := 0.0
		for i := range d {
			analytic += float64(grad[i]) * d[i]
		}
		rel := math.Abs(numeric-analytic) / math.Max(math.Abs(numeric), math.Abs(analytic))
		t.Logf("direction %d: finite differences %.6g, backward %.6g, relative error %.2g", dir, numeric, analytic, rel)
		if rel > 1e-2 || math.IsNaN(rel) {
			t.Errorf("direction %d: relative error %.2g", dir, rel)
		}
	}
}
