package unitviz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
)

// scene is a generated test image: a step edge or a flat colour, plus a
// little noise.
type scene struct {
	kind string // "vertical" (dark left, bright right), "reversed" (bright left), "horizontal" (dark above), "flat"
	edge int    // first bright column (vertical), dark column (reversed) or bright row (horizontal)
	img  []float32
	w, h int
}

// writeScenes writes a folder of generated images of several sizes: nine
// images with the vertical edge the detector's unit 0 looks for, three
// with the opposite edge, six with horizontal edges, four flat. It
// returns the folder and the scenes by path.
func writeScenes(t testing.TB) (string, map[string]scene) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := [][2]int{{40, 40}, {48, 36}, {36, 44}, {44, 44}}
	scenes := map[string]scene{}
	add := func(kind string, n int) {
		for i := range n {
			size := sizes[len(scenes)%len(sizes)]
			s := scene{kind: kind, w: size[0], h: size[1], img: make([]float32, 3*size[0]*size[1])}
			long := s.w
			if kind == "horizontal" {
				long = s.h
			}
			s.edge = 8 + rng.IntN(long-16)
			var dark, bright [3]float64
			for c := range 3 {
				dark[c] = 0.05 + 0.25*rng.Float64()
				bright[c] = 0.65 + 0.3*rng.Float64()
			}
			for y := range s.h {
				for x := range s.w {
					col := dark
					switch kind {
					case "vertical":
						if x >= s.edge {
							col = bright
						}
					case "reversed":
						if x < s.edge {
							col = bright
						}
					case "horizontal":
						if y >= s.edge {
							col = bright
						}
					case "flat":
						col = [3]float64{0.2 + 0.6*dark[0], 0.2 + 0.6*dark[1], 0.2 + 0.6*dark[2]}
					}
					for c := range 3 {
						s.img[(c*s.h+y)*s.w+x] = float32(col[c] + 0.04*(rng.Float64()-0.5))
					}
				}
			}
			// Stored as 8-bit PNG: keep exactly what the file will hold.
			png := imageio.FromTensor(s.img, s.w, s.h)
			s.img = imageio.ToTensor(png)
			path := filepath.Join(dir, fmt.Sprintf("%s%02d.png", kind, i))
			if err := imageio.Save(path, png, "", 0); err != nil {
				t.Fatal(err)
			}
			scenes[path] = s
		}
	}
	add("vertical", 9)
	add("reversed", 3)
	add("horizontal", 6)
	add("flat", 4)
	return dir, scenes
}

// gradientEnergy returns the mean absolute luminance difference between
// horizontal and between vertical neighbours of img inside r.
func gradientEnergy(img []float32, w, h int, r image.Rectangle) (across, down float64) {
	lum := func(x, y int) float64 {
		var v float64
		for c := range 3 {
			v += luminance[c] * float64(img[(c*h+y)*w+x])
		}
		return v
	}
	var na, nd int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if x+1 < r.Max.X {
				across += math.Abs(lum(x+1, y) - lum(x, y))
				na++
			}
			if y+1 < r.Max.Y {
				down += math.Abs(lum(x, y+1) - lum(x, y))
				nd++
			}
		}
	}
	return across / float64(max(na, 1)), down / float64(max(nd, 1))
}

func TestTopPatchesContainThePattern(t *testing.T) {
	d := newDetector(t)
	dir, scenes := writeScenes(t)
	images, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		layer string
		unit  int
		kind  string // the scene kind every patch must come from
		top   int    // as many as there are such scenes
	}{
		{"conv1_1", 0, "vertical", 9},
		{"relu1_1", 0, "vertical", 9},
		{"pool1", 0, "vertical", 9},
		{"relu2_1", 0, "vertical", 9},
		{"conv1_1", 1, "horizontal", 6},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.layer, tc.unit), func(t *testing.T) {
			res, err := Top(context.Background(), images, TopOptions{Network: d.network(), Layer: tc.layer, Units: []int{tc.unit}, Top: tc.top})
			if err != nil {
				t.Fatal(err)
			}
			patches := res.Units[0].Patches
			if len(patches) != tc.top {
				t.Fatalf("%d patches, want %d", len(patches), tc.top)
			}
			seen := map[string]bool{}
			for i, p := range patches {
				s := scenes[p.Image]
				if s.kind != tc.kind {
					t.Fatalf("patch %d (activation %.3g) is from %s, a %s scene", i, p.Activation, p.Image, s.kind)
				}
				if seen[p.Image] {
					t.Errorf("patch %d: %s gives a second patch; one per image was due", i, p.Image)
				}
				seen[p.Image] = true
				if i > 0 && p.Activation > patches[i-1].Activation {
					t.Errorf("patch %d: activation %g above the one before, %g", i, p.Activation, patches[i-1].Activation)
				}
				// The unit's value is the network's at that position.
				ref := d.reference(float64sOf(s.img), s.h, s.w)[tc.layer]
				if want := ref.at(tc.unit, p.Y, p.X); math.Abs(p.Activation-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Errorf("patch %d: activation %g, the reference network gives %g at (%d,%d)", i, p.Activation, want, p.X, p.Y)
				}
				if p.Box != res.Field.Box(p.Y, p.X) || p.Crop.Bounds().Size() != p.Box.Size() {
					t.Errorf("patch %d: box %v, crop %v; the field at (%d,%d) is %v", i, p.Box, p.Crop.Bounds(), p.X, p.Y, res.Field.Box(p.Y, p.X))
				}
				// The crop holds the edge: both pixels beside it, and
				// contrast across the edge's direction far above along it.
				inside := p.Box.Intersect(image.Rect(0, 0, s.w, s.h))
				lo, hi := inside.Min.X, inside.Max.X
				across, along := gradientEnergy(s.img, s.w, s.h, inside)
				if tc.kind == "horizontal" {
					lo, hi = inside.Min.Y, inside.Max.Y
					along, across = across, along
				}
				if !(lo <= s.edge-1 && s.edge < hi) {
					t.Errorf("patch %d: crop %v of %s misses the edge at %d", i, p.Box, p.Image, s.edge)
				}
				if !(across > 4*along && across > 0.05) {
					t.Errorf("patch %d: crop %v of %s has contrast %.3g across the edge, %.3g along it", i, p.Box, p.Image, across, along)
				}
			}
		})
	}
}

func float64sOf(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestTopSeparatesPeaksOfOneImage(t *testing.T) {
	d := newDetector(t)
	dir, scenes := writeScenes(t)
	path := filepath.Join(dir, "vertical00.png")
	res, err := Top(context.Background(), []string{path}, TopOptions{Network: d.network(), Layer: "relu1_1", Units: []int{0}, Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	patches := res.Units[0].Patches
	if len(patches) != 5 {
		t.Fatalf("%d patches from one image with PerImage automatic, want 5", len(patches))
	}
	// The field is 3 pixels: peaks closer than 2 would share two thirds.
	for i, p := range patches {
		if p.X < scenes[path].edge-1 || p.X > scenes[path].edge {
			t.Errorf("patch %d at column %d, off the edge at %d", i, p.X, scenes[path].edge)
		}
		for _, q := range patches[:i] {
			if max(abs(p.X-q.X), abs(p.Y-q.Y)) < 2 {
				t.Errorf("patches at (%d,%d) and (%d,%d) overlap by more than half", p.X, p.Y, q.X, q.Y)
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

func TestTopInsideKeepsFieldsInTheImage(t *testing.T) {
	d := newDetector(t)
	dir, scenes := writeScenes(t)
	images, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Top(context.Background(), images, TopOptions{Network: d.network(), Layer: "relu2_1", Units: []int{0, 1, 2}, Top: 9, PerImage: 3, Inside: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Units {
		if len(u.Patches) != 9 {
			t.Errorf("unit %d: %d patches, want 9", u.Unit, len(u.Patches))
		}
		for _, p := range u.Patches {
			s := scenes[p.Image]
			if !p.Box.In(image.Rect(0, 0, s.w, s.h)) {
				t.Errorf("unit %d: box %v leaves the %dx%d image %s", u.Unit, p.Box, s.w, s.h, p.Image)
			}
		}
	}
}

func TestTopResizesAndMapsBoxesToTheFile(t *testing.T) {
	d := newDetector(t)
	dir, _ := writeScenes(t)
	path := filepath.Join(dir, "vertical01.png") // 48x36
	res, err := Top(context.Background(), []string{path}, TopOptions{Network: d.network(), Layer: "pool1", Units: []int{0, 1}, Top: 1, Size: 24})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Units {
		p := u.Patches[0]
		if p.InputSize != image.Pt(24, 18) {
			t.Errorf("unit %d: network saw %v, want 24x18", u.Unit, p.InputSize)
		}
		want := image.Rect(2*p.Box.Min.X, 2*p.Box.Min.Y, 2*p.Box.Max.X, 2*p.Box.Max.Y).Intersect(image.Rect(0, 0, 48, 36))
		if p.FileBox != want {
			t.Errorf("unit %d: file box %v for box %v, want %v", u.Unit, p.FileBox, p.Box, want)
		}
	}
}

func TestTopRejects(t *testing.T) {
	d := newDetector(t)
	dir, _ := writeScenes(t)
	images, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := TopOptions{Network: d.network(), Layer: "conv1_1", Units: []int{0}, Top: 9}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		images []string
		change func(*TopOptions)
		is     error
		msg    string
	}{
		{name: "unknown layer", change: func(o *TopOptions) { o.Layer = "conv1_3" }, is: models.ErrUnknownLayer},
		{name: "unit beyond the layer", change: func(o *TopOptions) { o.Units = []int{0, 4} }, msg: "units 0 to 3"},
		{name: "no patches", change: func(o *TopOptions) { o.Top = 0 }, msg: "at least 1"},
		{name: "no images", images: []string{}, msg: "no images"},
		{name: "missing image", images: []string{filepath.Join(dir, "gone.png")}, msg: "gone.png"},
		{name: "cancelled", ctx: cancelled, is: context.Canceled},
		{name: "no backbone", change: func(o *TopOptions) { o.Backbone = nil }, msg: "no backbone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			if tc.change != nil {
				tc.change(&o)
			}
			ctx, imgs := context.Background(), images
			if tc.ctx != nil {
				ctx = tc.ctx
			}
			if tc.images != nil {
				imgs = tc.images
			}
			_, err := Top(ctx, imgs, o)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one wrapping %v and containing %q", err, tc.is, tc.msg)
			}
		})
	}
}

func TestWriteListing(t *testing.T) {
	d := newDetector(t)
	dir, _ := writeScenes(t)
	images, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Top(context.Background(), images, TopOptions{Network: d.network(), Layer: "pool1", Units: []int{1, 0}, Top: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sheet.json")
	if err := WriteListing(path, res); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Listing
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, res.Listing()) {
		t.Errorf("listing read back differs:\n%+v\nwant\n%+v", got, res.Listing())
	}
	if got.ReceptiveField != (FieldJSON{Height: 4, Width: 4, StrideY: 2, StrideX: 2, Top: -1, Left: -1}) {
		t.Errorf("receptive field %+v, want pool1's 4 pixels at stride 2 from -1", got.ReceptiveField)
	}
	var units []int
	for i, p := range got.Patches {
		units = append(units, p.Unit)
		src := res.Units[i/3].Patches[i%3]
		want := PatchJSON{Unit: res.Units[i/3].Unit, Rank: i%3 + 1, Layer: "pool1", Image: src.Image, X: src.X, Y: src.Y, Activation: src.Activation,
			Box:        BoxJSON{Left: src.Box.Min.X, Top: src.Box.Min.Y, Right: src.Box.Max.X, Bottom: src.Box.Max.Y},
			InputWidth: src.InputSize.X, InputHeight: src.InputSize.Y,
			FileBox: BoxJSON{Left: src.FileBox.Min.X, Top: src.FileBox.Min.Y, Right: src.FileBox.Max.X, Bottom: src.FileBox.Max.Y}}
		if p != want {
			t.Errorf("patch %d: %+v, want %+v", i, p, want)
		}
	}
	if !slices.Equal(units, []int{1, 1, 1, 0, 0, 0}) {
		t.Errorf("units in listing order %v, want the order asked for, three each", units)
	}
	for _, key := range []string{`"unit"`, `"layer"`, `"image"`, `"x"`, `"y"`, `"activation"`, `"box"`, `"left"`, `"bottom"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("listing has no key %s", key)
		}
	}
}
