package models

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// TestAudioBackbone checks the built-in audio backbones: their layers, a
// forward pass against a direct 1-D convolution, and a backward pass
// against finite differences.
func TestAudioBackbone(t *testing.T) {
	const bins, frames = 9, 23
	for _, tc := range []struct {
		arch    string
		filters int
		layers  []string
	}{
		{AudioArch, 16, []string{"conv1_1", "relu1_1"}},
		{AudioMultiArch, 18, []string{"conv_w3", "relu_w3", "conv_w7", "relu_w7", "conv_w11", "relu_w11", "conv_w19", "relu_w19"}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			b, err := Open(OpenOptions{Path: BuiltinPrefix + tc.arch, Seed: 3, AudioBins: bins, AudioFilters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.layers {
				if _, err := b.Lookup(name); err != nil {
					t.Errorf("layer %s: %v", name, err)
				}
			}
			relu := tc.layers[len(tc.layers)-1]
			n, err := b.Prepare(Options{Layers: []string{relu}, Height: 1, Width: frames})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			x := make([]float32, bins*frames)
			for i := range x {
				x[i] = float32(math.Sin(float64(i) * 0.37))
			}
			acts, err := n.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			a := acts[0]
			if a.H != 1 || a.W != frames {
				t.Fatalf("activation %dx%dx%d; want H 1, W %d", a.C, a.H, a.W, frames)
			}
			// J = Σ act²/2: its gradient seed is the activation itself.
			cost := func() float64 {
				var j float64
				for _, v := range a.Data {
					j += float64(v) * float64(v) / 2
				}
				return j
			}
			j0 := cost()
			copy(n.GradBuffers()[0], a.Data)
			dx, err := n.Backward()
			if err != nil {
				t.Fatal(err)
			}
			grad := append([]float32(nil), dx...)
			for _, i := range []int{0, 40, bins*frames - 1} {
				const h = 1e-2
				x[i] += h
				if _, err := n.Forward(x); err != nil {
					t.Fatal(err)
				}
				num := (cost() - j0) / h
				x[i] -= h
				if d := math.Abs(num - float64(grad[i])); d > 0.05*math.Max(1, math.Abs(num)) {
					t.Errorf("dJ/dx[%d] = %v, finite difference %v", i, grad[i], num)
				}
			}
		})
	}
}

// TestAudioBackboneRefused checks the errors of bad audio backbones.
func TestAudioBackboneRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    OpenOptions
		want string
	}{
		{"no bins", OpenOptions{Path: "builtin:audio"}, "for audio runs"},
		{"too few filters", OpenOptions{Path: "builtin:audio-multi", AudioBins: 5, AudioFilters: 2}, "filters"},
		{"too many filters", OpenOptions{Path: "builtin:audio", AudioBins: 5, AudioFilters: MaxAudioFilters + 1}, "filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
	// A model file still has to take RGB images (canonicalize accepts any
	// channel count; Load checks).
	m, err := synthAudioModel(AudioSpec{Bins: 5, Filters: 4, Widths: []int{3}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := onnxgraph.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audio.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "3 channels") {
		t.Errorf("loading a 5-channel model file: %v; want the RGB error", err)
	}
}
