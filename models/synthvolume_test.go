package models

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVolumeBackbone checks the built-in volume backbone, built in memory
// and loaded from its ONNX file: its layers, the activation shapes of a
// volume, and a backward pass through 3-D convolutions and average
// pooling against finite differences.
func TestVolumeBackbone(t *testing.T) {
	const d, h, w = 6, 8, 4
	spec := VolumeSpec{Channels: 1, Filters: []int{4, 6, 5}}
	built, err := Open(OpenOptions{Path: BuiltinPrefix + VolumeArch, Seed: 2, VolumeChannels: spec.Channels, VolumeFilters: spec.Filters})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := WriteSynthVolume(&file, spec, 2); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "volume.onnx")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := Open(OpenOptions{Path: path, Arch: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*Backbone{"built-in": built, "file": loaded} {
		t.Run(name, func(t *testing.T) {
			if !b.Volumetric() || b.InputChannels() != 1 {
				t.Fatalf("Volumetric %v, channels %d; want true, 1", b.Volumetric(), b.InputChannels())
			}
			layers := []string{"relu1_1", "relu2_1", "relu3_1"}
			wantC := []int{4, 6, 5}
			wantH := []int{d * h, d / 2 * h / 2, d / 4 * h / 4} // D·H
			wantW := []int{w, w / 2, w / 4}
			n, err := b.Prepare(Options{Layers: layers, Pooling: PoolingAvg, Depth: d, Height: h, Width: w})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			x := make([]float32, d*h*w)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)*0.37)) + 0.5
			}
			acts, err := n.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range acts {
				if a.C != wantC[i] || a.H != wantH[i] || a.W != wantW[i] {
					t.Errorf("%s: %dx%dx%d; want %dx%dx%d", a.Name, a.C, a.H, a.W, wantC[i], wantH[i], wantW[i])
				}
			}
			// J = Σ act²/2 over every layer: each seed is its activation.
			cost := func() float64 {
				var j float64
				for _, a := range acts {
					for _, v := range a.Data {
						j += float64(v) * float64(v) / 2
					}
				}
				return j
			}
			j0 := cost()
			for i, a := range acts {
				copy(n.GradBuffers()[i], a.Data)
			}
			dx, err := n.Backward()
			if err != nil {
				t.Fatal(err)
			}
			grad := append([]float32(nil), dx...)
			for _, i := range []int{0, 77, d*h*w - 1} {
				const step = 1e-2
				x[i] += step
				if _, err := n.Forward(x); err != nil {
					t.Fatal(err)
				}
				num := (cost() - j0) / step
				x[i] -= step
				if diff := math.Abs(num - float64(grad[i])); diff > 0.05*math.Max(1, math.Abs(num)) {
					t.Errorf("dJ/dx[%d] = %v, finite difference %v", i, grad[i], num)
				}
			}
			if _, err := b.Prepare(Options{Layers: layers, Height: h, Width: w}); err == nil || !strings.Contains(err.Error(), "give a depth") {
				t.Errorf("preparing without a depth: %v; want the depth error", err)
			}
		})
	}
}

// TestVolumeBackboneRefused checks the errors of bad volume backbones.
func TestVolumeBackboneRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    OpenOptions
		want string
	}{
		{"no channels", OpenOptions{Path: "builtin:volume"}, "for volume runs"},
		{"two channels", OpenOptions{Path: "builtin:volume", VolumeChannels: 2}, "1 or 3"},
		{"no filters", OpenOptions{Path: "builtin:volume", VolumeChannels: 1, VolumeFilters: []int{8, 0}}, "filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
	b, err := Synth("vgg19", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(Options{Layers: []string{"relu1_1"}, Depth: 4, Height: 8, Width: 8}); err == nil || !strings.Contains(err.Error(), "not volumes") {
		t.Errorf("a VGG with a depth: %v; want the images error", err)
	}
}
