package pipeline

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
)

// smallFootprint is a two-block network: conv/relu/pool at stride 1 then 2.
func smallFootprint() Footprint {
	return Footprint{
		Layers: []LayerFootprint{
			{Op: "Conv", Channels: 8, Stride: 1},
			{Op: "Relu", Channels: 8, Stride: 1, Requested: true},
			{Op: "MaxPool", Channels: 8, Stride: 2},
			{Op: "Conv", Channels: 16, Stride: 2},
			{Op: "Relu", Channels: 16, Stride: 2},
			{Op: "Conv", Channels: 16, Stride: 2},
			{Op: "Relu", Channels: 16, Stride: 2, Requested: true, Content: true},
		},
		BackboneBytes: 1000,
		NetBytes:      100,
		Optimizer:     "lbfgs",
		History:       2,
	}
}

func TestEstimatePeak(t *testing.T) {
	// At 10x6: image 720 bytes; activations 8x10x6 = 480 values at
	// stride 1, 16x5x3 = 240 at stride 2.
	const image = 720
	requested := int64(4*480 + 4*240) // and as much for their gradients
	masks := int64(240)               // the unrequested ReLU, one byte per value
	grams := int64(16*8*8 + 16*16*16)
	net := 3*image + 2*requested + masks + 2*2*100 + 5*(4*480)
	costs := 4*240 + grams + 3*image
	opt := int64((2*2 + 6) * image)
	base := int64(baseBytes + 1000)
	f := smallFootprint()
	if got, want := EstimatePeak(f, 10, 6), base+net+costs+opt; got != want {
		t.Errorf("EstimatePeak = %d, want %d", got, want)
	}
	adam := f
	adam.Optimizer = "adam"
	if got, want := EstimatePeak(adam, 10, 6), base+net+costs+3*image; got != want {
		t.Errorf("EstimatePeak with Adam = %d, want %d", got, want)
	}
	// Gradients that overwrite the activations need the requested ReLUs'
	// masks instead, and masked styles a buffer of the largest requested
	// layer.
	defer func(above int64) { gradInPlaceAbove = above }(gradInPlaceAbove)
	gradInPlaceAbove = requested - 1
	inPlace := net - requested + 480 + 240
	if got, want := EstimatePeak(f, 10, 6), base+inPlace+costs+opt; got != want {
		t.Errorf("EstimatePeak with gradients in place = %d, want %d", got, want)
	}
	masked := f
	masked.Masked = true
	// A masked style's guided costs: two scratch buffers of the largest
	// requested layer (480 values), and in place a third.
	if got, want := EstimatePeak(masked, 10, 6), base+inPlace+costs+opt+3*4*480; got != want {
		t.Errorf("EstimatePeak with gradients in place and a masked style = %d, want %d", got, want)
	}
	gradInPlaceAbove = requested
	if got, want := EstimatePeak(masked, 10, 6), base+net+costs+opt+2*4*480; got != want {
		t.Errorf("EstimatePeak with separate gradients and a masked style = %d, want %d", got, want)
	}
	styled := f
	styled.StyleSizes = [][2]int{{4, 4}, {20, 2}}
	// Both styles' activations are held: 4x4 gives 8x4x4 and 16x2x2
	// requested values, 20x2 gives 8x2x20 and 16x1x10.
	if got, want := EstimatePeak(styled, 10, 6), base+net+costs+opt+4*(128+64+320+160); got != want {
		t.Errorf("EstimatePeak with style images = %d, want %d", got, want)
	}
	for _, size := range [][2]int{{0, 5}, {5, -1}} {
		if got := EstimatePeak(f, size[0], size[1]); got != 0 {
			t.Errorf("EstimatePeak(%v) = %d, want 0", size, got)
		}
	}
	prev := int64(0)
	for _, s := range []int{16, 64, 256, 1024} {
		got := EstimatePeak(f, s, s)
		if got <= prev {
			t.Errorf("EstimatePeak at %d = %d, not above %d at the smaller size", s, got, prev)
		}
		prev = got
	}
}

func TestCheckMemory(t *testing.T) {
	f := smallFootprint()
	need := EstimatePeak(f, 400, 300)
	if est, err := CheckMemory(f, 400, 300, need); err != nil || est != need {
		t.Errorf("CheckMemory at its own estimate: %d, %v; want %d, nil", est, err, need)
	}
	limit := EstimatePeak(f, 200, 150) + 1
	_, err := CheckMemory(f, 400, 300, limit)
	var me *MemoryError
	if !errors.As(err, &me) {
		t.Fatalf("CheckMemory over the limit: %v, want a *MemoryError", err)
	}
	if me.FitWidth != 200 || me.FitHeight != 150 {
		t.Errorf("largest fitting size %dx%d, want 200x150", me.FitWidth, me.FitHeight)
	}
	for _, want := range []string{"400x300", "runtime.max_memory", "largest size that fits is 200x150 (size: 200)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	_, err = CheckMemory(f, 400, 300, baseBytes)
	if !errors.As(err, &me) || me.FitWidth != 0 || !strings.Contains(err.Error(), "no size fits") {
		t.Errorf("CheckMemory below the base: %v, want no size to fit", err)
	}
	if avail, err := sysmem.Available(); err == nil {
		if _, err := CheckMemory(f, 64, 64, 0); err != nil && avail.Bytes > EstimatePeak(f, 64, 64) {
			t.Errorf("CheckMemory against %v available: %v", avail, err)
		}
	}
}

func TestLargestFittingKeepsAspect(t *testing.T) {
	f := smallFootprint()
	for _, c := range []struct{ w, h int }{{1000, 500}, {300, 900}, {640, 640}} {
		limit := EstimatePeak(f, c.w/3, c.h/3)
		w, h := LargestFitting(f, c.w, c.h, limit)
		if EstimatePeak(f, w, h) > limit {
			t.Errorf("%dx%d: %dx%d does not fit", c.w, c.h, w, h)
		}
		long := max(w, h) + 1
		scale := float64(long) / float64(max(c.w, c.h))
		nw, nh := int(math.Round(float64(c.w)*scale)), int(math.Round(float64(c.h)*scale))
		if EstimatePeak(f, nw, nh) <= limit {
			t.Errorf("%dx%d: %dx%d fits too, but %dx%d was returned", c.w, c.h, nw, nh, w, h)
		}
		if d := float64(w)/float64(h) - float64(c.w)/float64(c.h); d > 0.02 || d < -0.02 {
			t.Errorf("%dx%d: %dx%d changes the aspect ratio", c.w, c.h, w, h)
		}
	}
}

func TestFootprintOf(t *testing.T) {
	b, err := models.SynthFrom(models.SynthSpec{Blocks: [][]int{{4}, {8, 8}, {8}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Layers.Content = map[string]float64{"relu2_2": 1}
	f, err := FootprintOf(b, []string{"relu1_1", "relu2_2"}, &cfg, 40, 30, [][2]int{{40, 30}, {40, 20}})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, l := range f.Layers {
		ops = append(ops, l.Op)
	}
	if got := strings.Join(ops, " "); got != "Conv Relu MaxPool Conv Relu Conv Relu" {
		t.Errorf("layers %s, want the chain up to relu2_2", got)
	}
	last := f.Layers[len(f.Layers)-1]
	if !f.Layers[1].Requested || f.Layers[1].Content || !last.Requested || !last.Content || last.Channels != 8 || last.Stride != 2 {
		t.Errorf("layers %+v", f.Layers)
	}
	if f.NetBytes <= 0 || f.NetBytes >= f.BackboneBytes {
		t.Errorf("weights: network %d, backbone %d bytes; want 0 < network < backbone", f.NetBytes, f.BackboneBytes)
	}
	if len(f.StyleSizes) != 1 || f.StyleSizes[0] != [2]int{40, 20} {
		t.Errorf("style sizes %v, want only the one differing from the output", f.StyleSizes)
	}
	// Of two styles at the output's size the first is copied, since the
	// second's forward pass overwrites it.
	f, err = FootprintOf(b, []string{"relu1_1", "relu2_2"}, &cfg, 40, 30, [][2]int{{40, 30}, {40, 20}, {40, 30}})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{40, 30}, {40, 20}}; !slices.Equal(f.StyleSizes, want) {
		t.Errorf("style sizes %v, want %v", f.StyleSizes, want)
	}
	if _, err := FootprintOf(b, []string{"relu9_9"}, &cfg, 40, 30, nil); !errors.Is(err, models.ErrUnknownLayer) {
		t.Errorf("unknown layer: %v", err)
	}
}

// TestGradientsInPlaceFromAbout700Pixels: with VGG19 and the default
// layers, gradients overwrite the activations for large images only.
func TestGradientsInPlaceFromAbout700Pixels(t *testing.T) {
	b, err := models.Synth("vgg19", 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Layers.Content = map[string]float64{"relu4_2": 1}
	layers := []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"}
	for _, c := range []struct {
		size    int
		inPlace bool
	}{{256, false}, {512, false}, {640, false}, {768, true}, {1024, true}} {
		f, err := FootprintOf(b, layers, &cfg, c.size, c.size, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := gradInPlace(f.requestedBytes(c.size, c.size)); got != c.inPlace {
			t.Errorf("%d px: gradients in place %v, want %v (%d MB of activations)", c.size, got, c.inPlace, f.requestedBytes(c.size, c.size)>>20)
		}
	}
}

// TestEstimatePeakOfBuilding: for a small image the peak is building the
// sessions, which holds copies of the network's weights.
func TestEstimatePeakOfBuilding(t *testing.T) {
	f := smallFootprint()
	f.NetBytes = 100 << 20
	if got, want := EstimatePeak(f, 10, 6), int64(baseBytes+1000+buildWeightCopies*(100<<20)); got != want {
		t.Errorf("EstimatePeak = %d, want the building's %d", got, want)
	}
	if got, build := EstimatePeak(f, 2000, 2000), int64(baseBytes+1000+buildWeightCopies*(100<<20)); got <= build {
		t.Errorf("EstimatePeak at 2000x2000 = %d, not above the building's %d", got, build)
	}
}

// TestFootprintCountsTheInputChannels: the image-sized terms of the
// estimate (the network's input and its gradients, the loop's image, last
// good copy and gradient, L-BFGS's 2·history+6 vectors) are the network
// input's size, whose channels are an audio spectrogram's bins or a
// volume's channels, not an image's three. A 60 s clip (10336 frames of
// 257 bins) holds 32 copies of a 10.6 MB spectrogram, 340 MB an estimate
// for three channels would leave out.
func TestFootprintCountsTheInputChannels(t *testing.T) {
	audioNet, err := models.SynthAudio(models.AudioSpec{Bins: 257, Filters: 1024, Widths: []int{models.AudioWidth}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	volumeNet, err := models.SynthVolume(models.VolumeSpec{Channels: 1, Filters: []int{8, 16, 32}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	imageNet, err := models.SynthFrom(models.SynthSpec{Blocks: [][]int{{4}, {8}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		b             *models.Backbone
		layers        []string
		width, height int // as the run passes them: frames × 1, W × D·H
		channels      int
	}{
		{"audio, 60 s", audioNet, []string{"relu1_1"}, 10336, 1, 257},
		{"grey volume, 64³", volumeNet, []string{"relu1_1", "relu2_1", "relu3_1"}, 64, 64 * 64, 1},
		{"image", imageNet, []string{"relu1_1", "relu2_1"}, 300, 200, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Layers.Content = map[string]float64{tc.layers[0]: 1}
			size := [2]int{tc.width, tc.height}
			f, err := FootprintOf(tc.b, tc.layers, &cfg, tc.width, tc.height, [][2]int{size})
			if err != nil {
				t.Fatal(err)
			}
			if f.Channels != tc.channels {
				t.Fatalf("Channels = %d, want %d", f.Channels, tc.channels)
			}
			three := f
			three.Channels = 3
			plane := 4 * int64(tc.width) * int64(tc.height)
			copies := int64(3 + 3 + 2*cfg.Optimizer.History + 6)
			got := EstimatePeak(f, tc.width, tc.height) - EstimatePeak(three, tc.width, tc.height)
			if want := int64(tc.channels-3) * plane * copies; got != want {
				t.Errorf("estimate %d bytes off that for 3 channels, want %d (%d copies of %d more channels of %d bytes)", got, want, copies, tc.channels-3, plane)
			}
		})
	}
}

// TestFootprintMaskedByAxis: a style for one axis's slices is guided by
// the mask of that axis's band, as a masked style is; a style for all
// axes (of a cube) is not.
func TestFootprintMaskedByAxis(t *testing.T) {
	b, err := models.SynthFrom(models.SynthSpec{Blocks: [][]int{{4}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		styles []StyleConfig
		masked bool
	}{
		{[]StyleConfig{{Path: "a.png"}}, false},
		{[]StyleConfig{{Path: "a.png", Axis: AxisAll}}, false},
		{[]StyleConfig{{Path: "a.png", Axis: AxisAll}, {Path: "b.png", Axis: AxisDepth}}, true},
		{[]StyleConfig{{Path: "a.png", Mask: "m.png"}}, true},
	} {
		cfg := Default()
		cfg.Style = tc.styles
		cfg.Layers.Content = map[string]float64{"relu1_1": 1}
		f, err := FootprintOf(b, []string{"relu1_1"}, &cfg, 30, 20, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.Masked != tc.masked {
			t.Errorf("styles %+v: Masked %v, want %v", tc.styles, f.Masked, tc.masked)
		}
	}
}
