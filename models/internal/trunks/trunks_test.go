package trunks

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nst-project/nst/models/autodiff"
)

// TestTrunkShapes builds every trunk at torchvision's widths and depths
// and as a narrow, shallow test version, folds its dynamic shapes and
// infers its static shapes at 224x224 (96x96 for the small ones), and
// checks each tap's channels and stride: an image side divisible by 32
// must shrink by exactly the tap's stride (rounded as the architecture's
// poolings round).
func TestTrunkShapes(t *testing.T) {
	// Expected tap spatial sizes at 224 from torchvision's models.
	sizes224 := map[string][]int64{
		"alexnet":            {6},
		"resnet18":           {112, 56, 28, 14, 7},
		"resnet50":           {112, 56, 28, 14, 7},
		"squeezenet1_1":      {111, 55, 27, 13, 13},
		"mobilenet_v2":       {112, 56, 28, 14, 7},
		"mobilenet_v3_large": {112, 56, 28, 14, 7},
		"densenet121":        {112, 56, 28, 14, 7},
		"googlenet":          {112, 56, 28, 14, 7},
		"inception_v3":       {109, 52, 25, 12, 5},
		"efficientnet_b0":    {112, 56, 28, 14, 7},
		"regnet_y_400mf":     {112, 56, 28, 14, 7},
		"shufflenet_v2_x1_0": {112, 56, 28, 14, 7, 7},
		"convnext_tiny":      {56, 56, 28, 14, 7},
	}
	channels := map[string][]int64{
		"resnet50":        {64, 256, 512, 1024, 2048},
		"densenet121":     {64, 256, 512, 1024, 1024},
		"googlenet":       {64, 192, 480, 832, 1024},
		"inception_v3":    {64, 192, 288, 768, 2048},
		"efficientnet_b0": {16, 24, 40, 112, 1280},
		"convnext_tiny":   {96, 96, 192, 384, 768},
		"regnet_y_400mf":  {32, 48, 104, 208, 440},
	}
	for _, arch := range Archs {
		for _, full := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/full=%v", arch, full), func(t *testing.T) {
				if full && testing.Short() {
					t.Skip("torchvision's widths: hundreds of MB of weights")
				}
				o := Options{Seed: 1}
				side := int64(224)
				if !full {
					o.Width, o.Depth, side = 0.125, 1, 96
				}
				m, taps, err := Build(arch, o)
				if err != nil {
					t.Fatal(err)
				}
				in := autodiff.Shapes{"input": {1, 3, side, side}}
				g, dynamic, err := autodiff.FoldShapes(m.GetGraph(), in)
				if err != nil {
					t.Fatal(err)
				}
				if want := arch == "shufflenet_v2_x1_0"; dynamic != want {
					t.Errorf("size-dependent shapes: %v, want %v", dynamic, want)
				}
				shapes, err := autodiff.InferShapes(g, in)
				if err != nil {
					t.Fatal(err)
				}
				if len(taps) != len(m.GetGraph().GetOutput()) {
					t.Fatalf("%d taps, %d graph outputs", len(taps), len(m.GetGraph().GetOutput()))
				}
				for i, tp := range taps {
					s := shapes[tp.Name]
					if len(s) != 4 || s[1] != tp.Channels {
						t.Errorf("tap %s: shape %v, want %d channels", tp.Name, s, tp.Channels)
						continue
					}
					if full {
						if want := sizes224[arch][i]; s[2] != want || s[3] != want {
							t.Errorf("tap %s: %v, want %dx%d", tp.Name, s, want, want)
						}
						if c := channels[arch]; c != nil && tp.Channels != c[i] {
							t.Errorf("tap %s: %d channels, want %d", tp.Name, tp.Channels, c[i])
						}
					}
				}
				if !slices.IsSortedFunc(taps, func(a, b Tap) int { return a.Stride - b.Stride }) {
					t.Errorf("taps %v not in stride order", taps)
				}
			})
		}
	}
}
