package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
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
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/record"
)

// TestCutTiles checks the cut's promises on sizes that do and do not
// divide evenly: the tiles own a partition of the image; every crop has
// the cut's size, lies inside the image and starts on a multiple of the
// stride; each tile's crop holds its own pixels and a margin on every side
// that is not the image's edge; and at every layer (sizes rounded down, as
// VGG's poolings do) the windows partition the whole layer.
func TestCutTiles(t *testing.T) {
	g := tileGeometry{stride: 16, margin: 80}
	strides := []int{1, 2, 4, 8, 16}
	cases := []struct{ w, h, side int }{
		{1024, 768, 256}, {1024, 683, 256}, {1000, 701, 240}, {300, 1030, 256},
		{4096, 4096, 2048}, {517, 517, 64}, {100, 2000, 512},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d/%d", c.w, c.h, c.side), func(t *testing.T) {
			cut := cutTiles(c.w, c.h, c.side, g)
			owned := make([]int, c.w*c.h)
			for _, p := range cut.tiles {
				crop := image.Rect(p.crop.X, p.crop.Y, p.crop.X+cut.cropW, p.crop.Y+cut.cropH)
				if !crop.In(image.Rect(0, 0, c.w, c.h)) || p.crop.X%g.stride != 0 || p.crop.Y%g.stride != 0 {
					t.Fatalf("crop %v: outside the image or off the stride", crop)
				}
				need := p.own.Inset(-g.margin).Intersect(image.Rect(0, 0, c.w, c.h))
				if !need.In(crop) {
					t.Fatalf("tile %v with its margin, %v, is not inside its crop %v", p.own, need, crop)
				}
				for y := p.own.Min.Y; y < p.own.Max.Y; y++ {
					for x := p.own.Min.X; x < p.own.Max.X; x++ {
						owned[y*c.w+x]++
					}
				}
			}
			if i := slices.IndexFunc(owned, func(n int) bool { return n != 1 }); i >= 0 {
				t.Fatalf("pixel (%d, %d) owned by %d tiles", i%c.w, i/c.w, owned[i])
			}
			// A VGG's layers: sizes rounded down at each pooling.
			crop := make([]losses.Activation, len(strides))
			for i, s := range strides {
				crop[i] = losses.Activation{Name: fmt.Sprint(s), C: 1, H: cut.cropH / s, W: cut.cropW / s}
			}
			wins := cut.windows(strides, crop)
			for i, s := range strides {
				H, W := c.h/s, c.w/s
				count := make([]int, H*W)
				for _, tw := range wins {
					w := tw[i]
					if w.H != H || w.W != W {
						t.Fatalf("stride %d: whole layer %dx%d, want %dx%d", s, w.W, w.H, W, H)
					}
					for y := w.Y0; y < w.Y1; y++ {
						for x := w.X0; x < w.X1; x++ {
							count[(y+w.OffY)*W+x+w.OffX]++
						}
					}
				}
				if j := slices.IndexFunc(count, func(n int) bool { return n != 1 }); j >= 0 {
					t.Fatalf("stride %d: position (%d, %d) owned by %d tiles", s, j%W, j/W, count[j])
				}
			}
		})
	}
}

// TestParseTile checks runtime.tile's values.
func TestParseTile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want tileSetting
		err  string
	}{
		{"auto", tileSetting{auto: true}, ""},
		{"off", tileSetting{off: true}, ""},
		{"512", tileSetting{side: 512}, ""},
		{"32", tileSetting{}, "want auto, off or a tile side of 64 to 16384 pixels"},
		{"big", tileSetting{}, "want auto, off"},
	} {
		got, err := parseTile(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestTiledMatchesWhole is the tiled evaluation's promise: at 1024×768
// with 256 px tiles on VGG19 (random weights, the default layers), the
// costs are within 1e-4 of the whole evaluation's and the gradient's
// cosine with it is at least 0.9999, for plain styles, masked styles and
// luminance colour, and with the gradients written over the activations.
// It takes about a minute per case on two cores; -short skips it.
func TestTiledMatchesWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("VGG19 at 1024x768: about a minute per case")
	}
	dir := t.TempDir()
	village, err := builtinimg.Load(builtinimg.Prefix + "village")
	if err != nil {
		t.Fatal(err)
	}
	photo, err := imageio.Resize(village, 1024, 768)
	if err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "photo.png")
	if err := imageio.Save(content, photo, "png", 0); err != nil {
		t.Fatal(err)
	}
	left, right := filepath.Join(dir, "left.png"), filepath.Join(dir, "right.png")
	writeHalfMask(t, left, 64, 48, false)
	writeHalfMask(t, right, 64, 48, true)
	yaml := fmt.Sprintf(`content: %s
style:
  - {path: builtin:swirls, weight: 1}
size: 1024
model: {path: "builtin:vgg19", arch: vgg19}
noise_ratio: 0.3
weights: {content: 5, style: 100, tv: 0.01}
output: {dir: %s}
runtime: {threads: 2}
`, content, filepath.Join(dir, "out"))
	path := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	masked := fmt.Sprintf("style=[{path: builtin:swirls, weight: 1, mask: %s}, {path: builtin:village, weight: 2, scale: 0.5, mask: %s}]", left, right)
	cases := []struct {
		name    string
		sets    []string
		inPlace bool
	}{
		{"plain", nil, false},
		{"masked", []string{masked}, false},
		{"luminance", []string{"color=luminance"}, false},
		{"plain, gradients in place", nil, true},
	}
	evaluate := func(t *testing.T, sets []string) (*losses.Costs, []float32, *experiment) {
		cfg, err := LoadConfig(path, sets)
		if err != nil {
			t.Fatal(err)
		}
		e := tinyExperiment(t, cfg)
		x, err := e.initImage()
		if err != nil {
			t.Fatal(err)
		}
		grad := make([]float32, len(x))
		if _, err := e.evaluate(context.Background(), x, grad); err != nil {
			t.Fatal(err)
		}
		costs := *e.costs
		costs.Content, costs.Style = slices.Clone(costs.Content), slices.Clone(costs.Style)
		e.Close()
		return &costs, grad, e
	}
	// The whole evaluations, one per config: the in-place case compares
	// with the plain one's.
	type result struct {
		costs *losses.Costs
		grad  []float32
	}
	wholes := map[string]result{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.Join(tc.sets, " ")
			w, ok := wholes[key]
			if !ok {
				costs, grad, whole := evaluate(t, append(slices.Clone(tc.sets), "runtime.tile=off"))
				if whole.tiled != nil {
					t.Fatal("runtime.tile: off evaluated in tiles")
				}
				w = result{costs, grad}
				wholes[key] = w
			}
			want, wantGrad := w.costs, w.grad
			if tc.inPlace {
				prev := gradInPlaceAbove
				gradInPlaceAbove = -1
				t.Cleanup(func() { gradInPlaceAbove = prev })
			}
			got, gotGrad, tiled := evaluate(t, append(slices.Clone(tc.sets), "runtime.tile=256"))
			if tiled.tiled == nil || len(tiled.tiled.cut.tiles) != 12 {
				t.Fatalf("tiles: %v; want 4x3", tiled.tiled)
			}
			if tiled.inPlace != tc.inPlace {
				t.Fatalf("tiled gradients in place: %v, want %v", tiled.inPlace, tc.inPlace)
			}
			check := func(name string, got, want float64) {
				if rel := math.Abs(got-want) / math.Abs(want); !(rel <= 1e-4) || want == 0 {
					t.Errorf("%s: tiled %.8g, whole %.8g (relative difference %.2g)", name, got, want, rel)
				}
			}
			check("total", got.Total, want.Total)
			check("tv", got.TV, want.TV)
			for i := range want.Content {
				check(fmt.Sprintf("content[%d]", i), got.Content[i], want.Content[i])
			}
			for i := range want.Style {
				check(fmt.Sprintf("style[%d]", i), got.Style[i], want.Style[i])
			}
			var dot, nw, ng float64
			for i, w := range wantGrad {
				g := float64(gotGrad[i])
				dot += g * float64(w)
				nw += float64(w) * float64(w)
				ng += g * g
			}
			cos := dot / math.Sqrt(nw*ng)
			if !(cos >= 0.9999) {
				t.Errorf("gradient cosine %.7f, want at least 0.9999", cos)
			}
			t.Logf("%d tiles of crop %dx%d: total %.6g vs %.6g, gradient cosine %.8f", len(tiled.tiled.cut.tiles), tiled.tiled.cut.cropW, tiled.tiled.cut.cropH, got.Total, want.Total, cos)
		})
	}
}

// writeHalfMask writes a w×h mask, white on its left half, or its right
// half with right.
func writeHalfMask(t *testing.T, path string, w, h int, right bool) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(0)
			if (x < w/2) != right {
				v = 255
			}
			img.Set(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	if err := imageio.Save(path, img, "png", 0); err != nil {
		t.Fatal(err)
	}
}

// vgg19Footprint is the footprint of the default layers of the built-in
// VGG19 at width×height with one style image of the output's size.
func vgg19Footprint(t *testing.T, optimizer string, history, width, height int) (Footprint, *experiment) {
	t.Helper()
	cfg := Default()
	cfg.Content, cfg.Style = "c.png", []StyleConfig{{Path: "s.png", Weight: 1, Scale: 1}}
	cfg.Model.Path, cfg.Model.Arch = "builtin:vgg19", "vgg19"
	cfg.Optimizer.Name, cfg.Optimizer.History = optimizer, history
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	b, err := models.Open(models.OpenOptions{Path: cfg.Model.Path, Arch: cfg.Model.Arch})
	if err != nil {
		t.Fatal(err)
	}
	e := &experiment{cfg: &cfg, backbone: b, tile: tileSetting{auto: true}}
	if _, e.layers, err = e.costSpec(); err != nil {
		t.Fatal(err)
	}
	f, err := FootprintOf(b, e.layers, &cfg, width, height, [][2]int{{width, height}})
	if err != nil {
		t.Fatal(err)
	}
	if e.tileGeom, e.tileGeomErr = tileGeometryOf(b, e.layers); e.tileGeomErr != nil {
		t.Fatal(e.tileGeomErr)
	}
	return f, e
}

// TestTileSide checks how runtime.tile chooses: auto evaluates whole what
// fits and otherwise the largest tiles that fit, evened out; a side is
// rounded down to the stride; off never tiles.
func TestTileSide(t *testing.T) {
	const gb = 1 << 30
	f, e := vgg19Footprint(t, "adam", 10, 4096, 4096)
	whole := EstimatePeak(f, 4096, 4096)
	cases := []struct {
		name  string
		tile  tileSetting
		limit int64
		want  int // -1: any side that fits, the largest such count of tiles
	}{
		{"auto, the whole fits", tileSetting{auto: true}, whole, 0},
		{"auto, tiles", tileSetting{auto: true}, 20 * gb, -1},
		{"auto, less memory, smaller tiles", tileSetting{auto: true}, 8 * gb, -1},
		{"auto, nothing fits", tileSetting{auto: true}, gb / 2, 0},
		{"a side, rounded to the stride", tileSetting{side: 1000}, 20 * gb, 992},
		{"a side over the image", tileSetting{side: 8192}, 20 * gb, 0},
		{"off", tileSetting{off: true}, gb, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.tile, e.memLimit = tc.tile, tc.limit
			side, err := e.tileSide(f, 4096, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want >= 0 {
				if side != tc.want {
					t.Fatalf("side %d, want %d", side, tc.want)
				}
				return
			}
			if side == 0 || side%16 != 0 {
				t.Fatalf("side %d, want a multiple of the stride 16", side)
			}
			if est := EstimateTiledPeak(f, 4096, 4096, side); est > tc.limit {
				t.Errorf("side %d: estimate %d MB over the limit %d MB", side, est>>20, tc.limit>>20)
			}
			// Fewer tiles along an axis would not fit: the next larger
			// count's side is over the limit.
			n := (4096 + side - 1) / side
			if n > 1 {
				larger := roundUp((4096+n-2)/(n-1), 16)
				if est := EstimateTiledPeak(f, 4096, 4096, larger); est <= tc.limit {
					t.Errorf("side %d (%d tiles a side), but %d (%d a side) fits too: %d MB", side, n, larger, n-1, est>>20)
				}
			}
		})
	}
}

// TestMemoryErrorNamesWhatFits checks the refusal of a print size: it
// gives the tiled estimate, the largest size that fits, and the L-BFGS
// history with which the requested size fits (the largest one).
func TestMemoryErrorNamesWhatFits(t *testing.T) {
	const gb = 1 << 30
	f, e := vgg19Footprint(t, "lbfgs", 10, 8192, 8192)
	e.memLimit = 20 * gb
	side, err := e.tileSide(f, 8192, 8192)
	if err != nil || side != 0 {
		t.Fatalf("side %d, %v; want none to fit", side, err)
	}
	small := e.smallestTile()
	peak := EstimateTiledPeak(f, 8192, 8192, small)
	err = e.memoryError(f, 8192, 8192, small, peak, e.memLimit, "set by runtime.max_memory")
	var me *MemoryError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a *MemoryError", err)
	}
	want := fmt.Sprintf("a 8192x8192 run in tiles of %d px needs about", small)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "the largest size that fits is") || !strings.Contains(err.Error(), "or keep the size with optimizer.history: ") {
		t.Fatalf("message %q, want %q, the largest size and a history", err, want)
	}
	var h int
	if _, err := fmt.Sscanf(me.Hint, "optimizer.history: %d", &h); err != nil {
		t.Fatal(err)
	}
	fits := func(history int) bool {
		g := f
		g.History = history
		return EstimateTiledPeak(g, 8192, 8192, small) <= e.memLimit
	}
	if !fits(h) || fits(h+1) {
		t.Errorf("hint history %d: fits %v, %d fits %v; want the largest that fits", h, fits(h), h+1, fits(h+1))
	}
	if fw := me.FitWidth; fw >= 8192 || !(EstimateTiledPeak(f.scaled(fw, 8192), fw, fw, small) <= e.memLimit) {
		t.Errorf("largest fitting size %d does not fit in tiles", fw)
	}
}

// TestTiledRun runs the tiny backbone in tiles through Run: the same
// config gives the same image twice, byte for byte, the manifest records
// the tiles, and the image is the untiled run's to within rounding.
func TestTiledRun(t *testing.T) {
	run := func(tile string) (string, *record.Manifest) {
		cfg := tinyConfig(t, "", "size=160", "runtime.tile="+tile, "optimizer.iterations=4")
		res := runOK(t, cfg)
		m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(res.Dir, "final.png"), m
	}
	a, ma := run("64")
	b, _ := run("64")
	c, mc := run("off")
	if !bytes.Equal(readFile(t, a), readFile(t, b)) {
		t.Error("two tiled runs of one config gave different images")
	}
	if len(ma.Tiled) != 1 || ma.Tiled[0].Side != 64 || ma.Tiled[0].Tiles != 6 || len(mc.Tiled) != 0 {
		t.Errorf("manifest tiling %+v (untiled %+v), want 6 tiles of 64 px", ma.Tiled, mc.Tiled)
	}
	ia, ic := testimg.ReadPNG(t, a).(*image.RGBA), testimg.ReadPNG(t, c).(*image.RGBA)
	var worst int
	for i := range ia.Pix {
		worst = max(worst, abs(int(ia.Pix[i])-int(ic.Pix[i])))
	}
	if worst > 2 {
		t.Errorf("tiled and untiled images differ by up to %d/255, want rounding (at most 2)", worst)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
