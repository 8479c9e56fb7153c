package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/testimg"
	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/record"
)

// writeImage writes a w x h PNG painted by f.
func writeImage(t testing.TB, path string, w, h int, f func(x, y int) color.NRGBA) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, f(x, y))
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

// decodeNRGBA decodes the PNG at path as an NRGBA image (the decoder
// returns RGBA for opaque files).
func decodeNRGBA(t *testing.T, path string) *image.NRGBA {
	t.Helper()
	img := testimg.ReadPNG(t, path)
	if n, ok := img.(*image.NRGBA); ok {
		return n
	}
	b := img.Bounds()
	n := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			n.Set(x, y, img.At(x, y))
		}
	}
	return n
}

var (
	white = color.NRGBA{255, 255, 255, 255}
	black = color.NRGBA{0, 0, 0, 255}
)

// controlImages writes, into dir, two very different style textures
// (red and blue vertical stripes; green dots on yellow) and masks of the left
// and right halves of a 3:2 image, and returns their paths.
func controlImages(t testing.TB, dir string) (stripes, dots, left, right string) {
	t.Helper()
	stripes, dots = filepath.Join(dir, "stripes.png"), filepath.Join(dir, "dots.png")
	left, right = filepath.Join(dir, "left.png"), filepath.Join(dir, "right.png")
	writeImage(t, stripes, 48, 48, func(x, _ int) color.NRGBA {
		if x%6 < 3 {
			return color.NRGBA{230, 40, 20, 255}
		}
		return color.NRGBA{20, 60, 220, 255}
	})
	writeImage(t, dots, 48, 48, func(x, y int) color.NRGBA {
		// Unsaturated, so that the optimiser can match it inside [0, 1].
		if dx, dy := x%8-4, y%8-4; dx*dx+dy*dy <= 5 {
			return color.NRGBA{30, 90, 40, 255}
		}
		return color.NRGBA{220, 200, 60, 255}
	})
	half := func(leftWhite bool) func(x, y int) color.NRGBA {
		return func(x, _ int) color.NRGBA {
			if (x < 30) == leftWhite {
				return white
			}
			return black
		}
	}
	writeImage(t, left, 60, 40, half(true))
	writeImage(t, right, 60, 40, half(false))
	return stripes, dots, left, right
}

func TestLoadConfigControls(t *testing.T) {
	body := minimal + `color: luminance
size: 512
scales: [{size: 128, iterations: 30}, {size: 256, iterations: 0}, {size: 512, iterations: 10}]
`
	path := writeConfig(t, strings.Replace(body, "weight: 1}", "weight: 1, scale: 0.5, mask: m.png}", 1))
	cfg, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Color != ColorLuminance {
		t.Errorf("color = %q, want luminance", cfg.Color)
	}
	want := []ScaleConfig{{128, 30}, {256, 0}, {512, 10}}
	if !slices.Equal(cfg.Scales, want) || !slices.Equal(cfg.ScaleList(), want) {
		t.Errorf("scales = %v, schedule %v; want %v", cfg.Scales, cfg.ScaleList(), want)
	}
	// Paths in a config file are relative to its folder.
	if s := cfg.Style[0]; s.Scale != 0.5 || s.Mask != filepath.Join(filepath.Dir(path), "m.png") {
		t.Errorf("style = %+v, want scale 0.5 and mask m.png beside the config", s)
	}

	// Style scale defaults to 1 per entry, also for styles given by --set.
	cfg, err = LoadConfig(writeConfig(t, minimal), []string{"style=[{path: a.png, weight: 1}, {path: b.png, weight: 1, scale: 2}]", "optimizer.iterations=7"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Style[0].Scale != 1 || cfg.Style[1].Scale != 2 {
		t.Errorf("style scales %v and %v, want the default 1 and the given 2", cfg.Style[0].Scale, cfg.Style[1].Scale)
	}
	if cfg.Color != ColorNone || cfg.Scales != nil {
		t.Errorf("color %q scales %v, want none and no schedule", cfg.Color, cfg.Scales)
	}
	if got := cfg.ScaleList(); !slices.Equal(got, []ScaleConfig{{512, 7}}) {
		t.Errorf("schedule without scales = %v, want one scale of size and optimizer.iterations", got)
	}

	// --set reaches the new keys.
	cfg, err = LoadConfig(writeConfig(t, minimal), []string{"color=histogram", "size=64", "scales=[{size: 32, iterations: 2}, {size: 64, iterations: 3}]"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Color != ColorHistogram || !slices.Equal(cfg.Scales, []ScaleConfig{{32, 2}, {64, 3}}) {
		t.Errorf("color %q scales %v from --set", cfg.Color, cfg.Scales)
	}
}

func TestLoadConfigControlErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"unknown colour", minimal + "color: sepia\n", `color: "sepia"; want none, luminance, histogram or after`},
		{"sizes not increasing", minimal + "size: 256\nscales: [{size: 256, iterations: 1}, {size: 256, iterations: 1}]\n", "scales[1].size: 256 after 256; sizes must increase"},
		{"scale size too small", minimal + "size: 64\nscales: [{size: 8, iterations: 1}, {size: 64, iterations: 1}]\n", "scales[0].size: 8; want 16 to 16384"},
		{"negative iterations", minimal + "size: 64\nscales: [{size: 64, iterations: -1}]\n", "scales[0].iterations: -1"},
		{"last scale is not size", minimal + "scales: [{size: 128, iterations: 1}, {size: 256, iterations: 1}]\n", "the last scale's size is 256 but size is 512"},
		{"unknown scale key", minimal + "scales: [{size: 512, iteratons: 1}]\n", `unknown key "scales[0].iteratons" (did you mean "scales[0].iterations"?)`},
		{"explicit zero style scale", "content: a.png\nstyle:\n  - {path: b.png, weight: 1, scale: 0}\n", "style[0].scale: 0; want 0.05 to 8"},
		{"huge style scale", "content: a.png\nstyle:\n  - {path: b.png, weight: 1, scale: 9}\n", "style[0].scale: 9"},
		{"NaN style scale", "content: a.png\nstyle:\n  - {path: b.png, weight: 1, scale: .nan}\n", "style[0].scale: NaN"},
		{"mask not a string", "content: a.png\nstyle:\n  - {path: b.png, weight: 1, mask: [1]}\n", `key "style[0].mask"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.body), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestResolvedConfigKeepsControls(t *testing.T) {
	body := "content: builtin:village\nstyle:\n  - {path: builtin:swirls, weight: 1, scale: 0.75, mask: rel/mask.png}\ncolor: after\nsize: 64\nscales: [{size: 32, iterations: 5}, {size: 64, iterations: 6}]\n"
	cfg, err := LoadConfig(writeConfig(t, body), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := cfg.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadConfig(writeConfig(t, string(first)), nil)
	if err != nil {
		t.Fatalf("resolved config does not load: %v\n%s", err, first)
	}
	if again.Color != ColorAfter || !slices.Equal(again.Scales, cfg.Scales) || again.Style[0].Scale != 0.75 {
		t.Errorf("reloaded %+v, want the controls of %+v", again, cfg)
	}
	if !filepath.IsAbs(again.Style[0].Mask) || !strings.HasSuffix(again.Style[0].Mask, filepath.Join("rel", "mask.png")) {
		t.Errorf("mask path %q, want rel/mask.png made absolute", again.Style[0].Mask)
	}
}

// chromaBounds are the largest changes of YIQ's I and Q that rounding each
// RGB channel to 8 bits (by at most 0.5/255) can make: the sums of the
// absolute values of their matrix rows times 0.5/255, plus float32 slack.
var chromaBounds = [2]float64{
	(0.5959 + 0.2746 + 0.3213) * 0.5 / 255, // I: 0.002337
	(0.2115 + 0.5227 + 0.3112) * 0.5 / 255, // Q: 0.002050
}

// chromaError returns the largest difference in I and in Q between the PNG
// at path and the RGB tensor want, and the mean absolute difference of Y.
func chromaError(t *testing.T, path string, want []float32) (di, dq, dy float64) {
	t.Helper()
	got := imageio.ToTensor(decodeNRGBA(t, path))
	if len(got) != len(want) {
		t.Fatalf("%s has %d values, the content %d", path, len(got), len(want))
	}
	gy, wy := make([]float32, len(got)), make([]float32, len(want))
	imageio.RGBToYIQ(gy, got)
	imageio.RGBToYIQ(wy, want)
	n := len(got) / 3
	for i := range n {
		dy += math.Abs(float64(gy[i] - wy[i]))
		di = math.Max(di, math.Abs(float64(gy[n+i]-wy[n+i])))
		dq = math.Max(dq, math.Abs(float64(gy[2*n+i]-wy[2*n+i])))
	}
	return di, dq, dy / float64(n)
}

// TestColorKeepsContentChroma: in luminance and after modes the saved
// image's chroma equals the content's up to 8-bit rounding, while its
// luminance has moved; without colour control the chroma moves too.
func TestColorKeepsContentChroma(t *testing.T) {
	tests := []struct {
		color      string
		keepChroma bool
		images     []string // images whose chroma is checked
	}{
		{ColorLuminance, true, []string{"final.png", "iter_00003.png", "iter_00006.png"}},
		{ColorAfter, true, []string{"final.png"}},
		{ColorNone, false, []string{"final.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.color, func(t *testing.T) {
			cfg := tinyConfig(t, "", "color="+tt.color, "optimizer.iterations=8")
			res := runOK(t, cfg)
			village, _ := builtinimg.Load("builtin:village")
			content, err := imageio.FitLongSide(village, 32)
			if err != nil {
				t.Fatal(err)
			}
			want := imageio.ToTensor(content)
			for _, name := range tt.images {
				di, dq, dy := chromaError(t, filepath.Join(res.Dir, name), want)
				t.Logf("%s: max |ΔI| %.5f, max |ΔQ| %.5f, mean |ΔY| %.4f", name, di, dq, dy)
				inBounds := di <= chromaBounds[0]+1e-6 && dq <= chromaBounds[1]+1e-6
				if inBounds != tt.keepChroma {
					t.Errorf("%s: chroma differs from the content's by up to %.5f (I), %.5f (Q); bounds %.5f, %.5f; want within them: %v", name, di, dq, chromaBounds[0], chromaBounds[1], tt.keepChroma)
				}
				if dy < 0.005 {
					t.Errorf("%s: luminance moved by %.4f on average; the style did nothing", name, dy)
				}
			}
		})
	}
}

// TestHistogramMatchesContentColours: the style image the network sees has
// the content's per-channel mean and covariance within 1%, at every scale.
func TestHistogramMatchesContentColours(t *testing.T) {
	withinOnePercent := func(got, want imageio.ColorStats) bool {
		var scale float64
		for i := range 3 {
			for j := range 3 {
				scale = math.Max(scale, math.Abs(want.Cov[i][j]))
			}
		}
		for i := range 3 {
			if math.Abs(got.Mean[i]-want.Mean[i]) > 0.01*math.Abs(want.Mean[i]) {
				return false
			}
			for j := range 3 {
				if math.Abs(got.Cov[i][j]-want.Cov[i][j]) > 0.01*scale {
					return false
				}
			}
		}
		return true
	}
	for _, mode := range []string{ColorHistogram, ColorNone} {
		t.Run(mode, func(t *testing.T) {
			cfg := tinyConfig(t, "", "color="+mode, "size=48", "scales=[{size: 24, iterations: 1}, {size: 48, iterations: 1}]",
				"style=[{path: builtin:swirls, weight: 1}, {path: builtin:mosaic, weight: 1, scale: 0.5}]")
			e := tinyExperiment(t, cfg)
			for k := range 2 {
				if k > 0 {
					if err := e.enterScale(context.Background(), k); err != nil {
						t.Fatal(err)
					}
				}
				content, err := imageio.MeasureColor(e.content)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range e.styles {
					got, err := imageio.MeasureColor(s)
					if err != nil {
						t.Fatal(err)
					}
					if match := withinOnePercent(got, content); match != (mode == ColorHistogram) {
						t.Errorf("scale %d, style %d: mean %v cov %v, content mean %v cov %v; within 1%%: %v", k, i, got.Mean, got.Cov, content.Mean, content.Cov, match)
					}
				}
			}
		})
	}
}

// TestMultiScaleRun checks the final size, the scale images, the
// continuous iteration count and the intermediate images' names.
func TestMultiScaleRun(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "photo.png")
	writePNG(t, photo, 30, 40) // 3:4, so that rounding at each size shows
	tests := []struct {
		name       string
		scales     string
		size       int
		wantW      int
		wantH      int
		iterations []int
		images     map[string][2]int
	}{
		{
			name: "three scales", scales: "[{size: 16, iterations: 3}, {size: 24, iterations: 0}, {size: 37, iterations: 4}]",
			size: 37, wantW: 28, wantH: 37, iterations: []int{1, 2, 3, 4, 5, 6, 7},
			images: map[string][2]int{"scale1_16px.png": {12, 16}, "scale2_24px.png": {18, 24}, "iter_00002_16px.png": {12, 16}, "iter_00006_37px.png": {28, 37}},
		},
		{
			name: "last scale without iterations", scales: "[{size: 16, iterations: 3}, {size: 40, iterations: 0}]",
			size: 40, wantW: 30, wantH: 40, iterations: []int{1, 2, 3},
			images: map[string][2]int{"scale1_16px.png": {12, 16}, "iter_00002_16px.png": {12, 16}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig(t, "", "content="+photo, fmt.Sprintf("size=%d", tt.size), "scales="+tt.scales, "output.save_every=2")
			var progress bytes.Buffer
			// The first scale's report ends at its last iteration, not
			// after the next scale's targets are set.
			endedFirst := false
			lastOfFirst := ObserverFunc(func(ev *Event) error {
				if ev.Kind == EventIteration && ev.Scale == 0 && ev.ScaleIteration == ev.ScaleIterations {
					endedFirst = strings.Contains(progress.String(), `msg="progress finished" run="`+filepath.Base(cfg.Output.Dir)+` 16px (1/`)
				}
				return nil
			})
			res, err := Run(context.Background(), cfg, RunOptions{Progress: &progress, Observers: []Observer{lastOfFirst}})
			if err != nil {
				t.Fatal(err)
			}
			if !endedFirst {
				t.Errorf("at the first scale's last iteration its progress report has not ended:\n%s", progress.String())
			}
			if b := testimg.ReadPNG(t, res.Image).Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("final image %dx%d, want exactly %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			for name, size := range tt.images {
				if b := testimg.ReadPNG(t, filepath.Join(res.Dir, name)).Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
					t.Errorf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size[0], size[1])
				}
			}
			table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(table.Iterations, tt.iterations) {
				t.Errorf("costs.csv iterations %v, want %v", table.Iterations, tt.iterations)
			}
			if res.Iterations != tt.iterations[len(tt.iterations)-1] {
				t.Errorf("Result.Iterations %d, want %d", res.Iterations, tt.iterations[len(tt.iterations)-1])
			}
			if !strings.Contains(progress.String(), "16px (1/") {
				t.Errorf("progress does not name the scale:\n%s", progress.String())
			}
		})
	}
}

// TestMultiScaleStartsFromThePreviousResult: the second scale's first
// evaluation sees the first scale's result enlarged, not the content.
func TestMultiScaleStartsFromThePreviousResult(t *testing.T) {
	cfg := tinyConfig(t, "", "size=32", "scales=[{size: 16, iterations: 2}, {size: 32, iterations: 0}]")
	e := tinyExperiment(t, cfg)
	x, err := e.initImage()
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		x[i] = 1.5 // out of range: the next scale starts from it clamped
	}
	s := &runState{dir: t.TempDir(), x: x}
	if err := e.nextScale(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	next := s.x
	if e.width != 32 || e.height != 21 || len(next) != 3*32*21 {
		t.Fatalf("next scale %dx%d with %d values, want 32x21", e.width, e.height, len(next))
	}
	for i, v := range next {
		if v != 1 {
			t.Fatalf("value %d = %v, want 1: the previous result clamped and enlarged", i, v)
		}
	}
}

func TestStyleScaleSizesTheStyle(t *testing.T) {
	tests := []struct {
		scale string
		want  [2]int // the swirls are 4:3
	}{
		{"1", [2]int{32, 24}},
		{"0.5", [2]int{16, 12}},
		{"2", [2]int{64, 48}},
	}
	costs := map[string]float64{}
	for _, tt := range tests {
		t.Run(tt.scale, func(t *testing.T) {
			cfg := tinyConfig(t, "", "style=[{path: builtin:swirls, weight: 1, scale: "+tt.scale+"}]")
			e := tinyExperiment(t, cfg)
			if e.styleSizes[0] != tt.want {
				t.Errorf("style at scale %s is %v, want %v", tt.scale, e.styleSizes[0], tt.want)
			}
			x, err := e.initImage()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.evaluate(context.Background(), x, make([]float32, len(x))); err != nil {
				t.Fatal(err)
			}
			costs[tt.scale] = e.costs.StyleTotal
		})
	}
	if costs["0.5"] == costs["1"] || costs["2"] == costs["1"] {
		t.Errorf("style costs %v: the style's scale changes nothing", costs)
	}

	cfg := tinyConfig(t, "", "style=[{path: builtin:swirls, weight: 1, scale: 8}]", "limits.max_pixels=40000")
	if _, err := newExperiment(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "style[0] at scale 8 of a 32x21 output is 256x192, over limits.max_pixels") {
		t.Errorf("style over the pixel limit: %v", err)
	}
}

// TestMaskedStylesMatchTheirRegions: with stripes masked to the left half
// and dots to the right, each half of the output ends with Gram statistics
// closer to its own style than to the other's, at every style layer.
func TestMaskedStylesMatchTheirRegions(t *testing.T) {
	stripes, dots, left, right := controlImages(t, t.TempDir())
	styles := fmt.Sprintf("style=[{path: %s, weight: 1, mask: %s}, {path: %s, weight: 1, mask: %s}]", stripes, left, dots, right)
	cfg := tinyConfig(t, "", styles, "size=48", "weights.content=0.05", "weights.tv=0", "optimizer.iterations=100", "output.save_every=0")
	res := runOK(t, cfg)
	e := tinyExperiment(t, cfg)
	// The run frees the style images once their targets are set.
	if err := e.prepareStyles(); err != nil {
		t.Fatal(err)
	}
	out := decodeNRGBA(t, res.Image)

	closer := func(x []float32) (ok bool, report string) {
		acts, err := e.forward(e.net, x)
		if err != nil {
			t.Fatal(err)
		}
		gen := slices.Clone(acts)
		for i := range gen {
			gen[i].Data = slices.Clone(acts[i].Data)
		}
		styleGrams := make([]map[string][]float64, 2)
		for i := range 2 {
			sa, own, err := e.styleActivations(context.Background(), e.styles[i], e.styleSizes[i])
			if err != nil {
				t.Fatal(err)
			}
			if own != nil {
				defer own.Close()
			}
			styleGrams[i] = map[string][]float64{}
			for _, a := range sa {
				styleGrams[i][a.Name] = regionGram(a, nil)
			}
		}
		masks := e.masks.forLayers(gen, e.width, e.height)
		ok = true
		var b strings.Builder
		for _, l := range e.spec.Style {
			a := gen[slices.IndexFunc(gen, func(a losses.Activation) bool { return a.Name == l.Name })]
			for region := range 2 {
				m := masks[region][slices.IndexFunc(masks[region], func(m losses.Mask) bool { return m.Name == l.Name })]
				g := regionGram(a, m.Data)
				own, other := frobenius(g, styleGrams[region][l.Name]), frobenius(g, styleGrams[1-region][l.Name])
				fmt.Fprintf(&b, "%s region %d: own %.4g other %.4g; ", l.Name, region, own, other)
				ok = ok && own < other
			}
		}
		return ok, b.String()
	}
	start, err := e.initImage()
	if err != nil {
		t.Fatal(err)
	}
	if ok, report := closer(start); ok {
		t.Fatalf("the content image already meets the property; the test proves nothing: %s", report)
	}
	if ok, report := closer(imageio.ToTensor(out)); !ok {
		t.Errorf("a region is not closer to its own style: %s", report)
	} else {
		t.Log(report)
	}
}

// regionGram is the Gram of a over the positions where mask is 1
// (everywhere for nil), divided by their count, in float64.
func regionGram(a losses.Activation, mask []float32) []float64 {
	m := a.H * a.W
	g := make([]float64, a.C*a.C)
	var count float64
	for p := range m {
		if mask != nil && mask[p] != 1 {
			continue
		}
		count++
		for i := range a.C {
			for j := range a.C {
				g[i*a.C+j] += float64(a.Data[i*m+p]) * float64(a.Data[j*m+p])
			}
		}
	}
	for i := range g {
		g[i] /= count
	}
	return g
}

func frobenius(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// TestControlsCombine: two masked styles with color: luminance over three
// scales run to the exact output size with the content's chroma.
func TestControlsCombine(t *testing.T) {
	stripes, dots, left, right := controlImages(t, t.TempDir())
	cfg := tinyConfig(t, "",
		fmt.Sprintf("style=[{path: %s, weight: 1, mask: %s, scale: 0.5}, {path: %s, weight: 1, mask: %s}]", stripes, left, dots, right),
		"color=luminance", "size=40", "scales=[{size: 16, iterations: 3}, {size: 24, iterations: 3}, {size: 40, iterations: 4}]")
	res := runOK(t, cfg)
	if b := testimg.ReadPNG(t, res.Image).Bounds(); b.Dx() != 40 || b.Dy() != 27 {
		t.Errorf("final image %v, want 40x27", b)
	}
	village, _ := builtinimg.Load("builtin:village")
	content, err := imageio.FitLongSide(village, 40)
	if err != nil {
		t.Fatal(err)
	}
	di, dq, dy := chromaError(t, res.Image, imageio.ToTensor(content))
	if di > chromaBounds[0]+1e-6 || dq > chromaBounds[1]+1e-6 || dy < 0.01 {
		t.Errorf("chroma differs by %.5f (I), %.5f (Q), luminance moved %.4f; want the content's chroma and a moved luminance", di, dq, dy)
	}
	m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, in := range m.Inputs {
		roles = append(roles, in.Role)
	}
	if want := []string{"content", "style[0]", "style[0].mask", "style[1]", "style[1].mask"}; !slices.Equal(roles, want) {
		t.Errorf("manifest inputs %v, want %v", roles, want)
	}
}

// TestControlGradientsMatchFiniteDifferences checks dJ/dx under each
// control as TestEvaluateGradientMatchesFiniteDifferences does without
// them: along directions of noise plus one channel's gradient, J(x+εd) −
// J(x−εd) must match the gradient's prediction.
func TestControlGradientsMatchFiniteDifferences(t *testing.T) {
	dir := t.TempDir()
	stripes, dots, left, right := controlImages(t, dir)
	masked := fmt.Sprintf("style=[{path: %s, weight: 1, mask: %s}, {path: %s, weight: 2, mask: %s, scale: 0.7}]", stripes, left, dots, right)
	tests := []struct {
		name string
		sets []string
	}{
		{"luminance", []string{"color=luminance"}},
		{"histogram", []string{"color=histogram"}},
		{"masked styles", []string{masked}},
		{"masked styles, luminance, style only", []string{masked, "color=luminance", "weights.content=0", "weights.tv=0"}},
	}
	const eps, tol = 1e-4, 1e-2
	for _, tt := range withGradientsInPlace(t, tests) {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t)
			cfg := tinyConfig(t, "", slices.Concat([]string{"size=24", "noise_ratio=0.2"}, tt.sets)...)
			e := tinyExperiment(t, cfg)
			if e.inPlace != tt.inPlace {
				t.Fatalf("gradients in place: %v, want %v", e.inPlace, tt.inPlace)
			}
			checkGradientFD(t, e, eps, tol)
		})
	}
}

// TestEvalWritesLuminance: with color: luminance, Eval's image and
// gradient are the luminance plane.
func TestEvalWritesLuminance(t *testing.T) {
	cfg := tinyConfig(t, "", "color=luminance")
	dir := t.TempDir()
	if err := Eval(context.Background(), cfg, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"image.npy", "grad.npy"} {
		shape, _, err := record.ReadNPY(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{1, 1, 21, 32}; !slices.Equal(shape, want) {
			t.Errorf("%s shape %v, want %v", name, shape, want)
		}
	}
}

// TestEvaluateWithControlsDoesNotAllocate: the luminance parametrisation
// and guided Grams keep evaluation free of per-pixel allocations.
func TestEvaluateWithControlsDoesNotAllocate(t *testing.T) {
	stripes, dots, left, right := controlImages(t, t.TempDir())
	masked := fmt.Sprintf("style=[{path: %s, weight: 1, mask: %s}, {path: %s, weight: 1, mask: %s}]", stripes, left, dots, right)
	measure := func(sets ...string) float64 {
		_, bytes := evaluateAllocs(t, tinyExperiment(t, tinyConfig(t, "", sets...)), 10)
		return bytes
	}
	for _, sets := range [][]string{{"color=luminance", "size=64"}, {masked, "size=64"}} {
		if bytes := measure(sets...); bytes > 8<<10 {
			t.Errorf("%v: %.0f bytes allocated per evaluation at 64 px, want well below an image's", sets, bytes)
		}
	}
}

// TestExampleControlConfigsLoad checks the gallery's configs and the mask
// files they name, from the repository root where they are run.
func TestExampleControlConfigsLoad(t *testing.T) {
	t.Chdir("..")
	paths, err := filepath.Glob("configs/controls_*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 8 {
		t.Fatalf("example configs %v, want the plain one and seven controls", paths)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		cfg, err := LoadConfig(p, nil)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		seen[cfg.Color] = true
		for i, s := range cfg.Style {
			if s.Mask == "" {
				continue
			}
			if _, err := os.Stat(s.Mask); err != nil {
				t.Errorf("%s: style[%d].mask: %v", p, i, err)
			}
		}
	}
	for _, c := range []string{ColorNone, ColorLuminance, ColorHistogram, ColorAfter} {
		if !seen[c] {
			t.Errorf("no example config with color: %s", c)
		}
	}
}

// BenchmarkEvaluateControls measures one evaluation on the tiny backbone at
// 64 px under each control, to compare with BenchmarkEvaluateTiny.
func BenchmarkEvaluateControls(b *testing.B) {
	stripes, dots, left, right := controlImages(b, b.TempDir())
	masked := fmt.Sprintf("style=[{path: %s, weight: 1, mask: %s}, {path: %s, weight: 1, mask: %s}]", stripes, left, dots, right)
	for _, bc := range []struct {
		name string
		sets []string
	}{
		{"plain", nil},
		{"luminance", []string{"color=luminance"}},
		{"two masks", []string{masked}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchEvaluate(b, append([]string{"size=64"}, bc.sets...)...)
		})
	}
}
