package unitviz

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/models"
)

func TestParseUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{in: "5", want: []int{5}},
		{in: "0-3", want: []int{0, 1, 2, 3}},
		{in: "7, 0-1 ,12-13", want: []int{7, 0, 1, 12, 13}},
		{in: "0-4095", want: nil}, // checked by length below
		{in: "", err: "not a unit number"},
		{in: "a", err: `"a" is not a unit number`},
		{in: "-1", err: `"" is not a unit number`},
		{in: "5-3", err: "runs backwards"},
		{in: "1,2,1", err: "unit 1 is listed twice"},
		{in: "0-2,1", err: "unit 1 is listed twice"},
		{in: "0-4096", err: "more than 4096 units"},
		{in: "0-4000,5000-5100", err: "more than 4096 units"},
		{in: "3,", err: "not a unit number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseUnits(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("units %v, error %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if len(got) != 4096 || got[4095] != 4095 {
					t.Fatalf("%d units, want 0 to 4095", len(got))
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestListImages(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.JPG", "a.png", "notes.txt", "c.tiff", "noext"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.png"), filepath.Join(dir, "link.bmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone.png"), filepath.Join(dir, "dangling.png")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.png", "b.JPG", "c.tiff", "link.bmp"}
	for i := range want {
		want[i] = filepath.Join(dir, want[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	empty := t.TempDir()
	if _, err := ListImages(empty); err == nil || !strings.Contains(err.Error(), "no image files") {
		t.Errorf("empty folder: error %v", err)
	}
	if _, err := ListImages(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: error %v", err)
	}
}

// TestListImagesRefusesSpecialFiles: --images naming a named pipe or a
// device is refused at once, saying what it is (opening a pipe as a folder
// used to block until a writer came); the call is bounded by a timer.
func TestListImagesRefusesSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{fifo, `"` + fifo + `" is a named pipe, not a directory`},
		{"/dev/zero", `"/dev/zero" is a device, not a directory`},
	} {
		done := make(chan error, 1)
		go func() { _, err := ListImages(c.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ListImages(%s): %v, want an error saying %q", c.path, err, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ListImages(%s): still waiting after 5 s", c.path)
		}
	}
}

func TestRoll(t *testing.T) {
	const c, h, w = 2, 5, 7
	src := make([]float32, c*h*w)
	for i := range src {
		src[i] = float32(i)
	}
	dst, back := make([]float32, len(src)), make([]float32, len(src))
	for _, s := range [][2]int{{0, 0}, {1, 2}, {-2, 3}, {4, -6}, {11, -15}, {-5, 7}} {
		roll(dst, src, c, h, w, s[0], s[1])
		want := rollRef(float64sOf(src), c, h, w, s[0], s[1])
		for i := range dst {
			if float64(dst[i]) != want[i] {
				t.Fatalf("shift %v: value %d is %g, want %g", s, i, dst[i], want[i])
			}
		}
		roll(back, dst, c, h, w, -s[0], -s[1])
		if !slices.Equal(back, src) {
			t.Fatalf("shift %v: shifting back does not restore the image", s)
		}
	}
}

func TestGaussianBlur(t *testing.T) {
	const c, h, w = 2, 9, 11
	// A constant image stays constant: the kernel sums to one and edges
	// are replicated, not zero-padded.
	x := make([]float32, c*h*w)
	for i := range x {
		x[i] = 0.25
	}
	g := newGaussianBlur(0.8, len(x))
	g.apply(x, c, h, w)
	for i, v := range x {
		if math.Abs(float64(v)-0.25) > 1e-6 {
			t.Fatalf("constant image: value %d became %g", i, v)
		}
	}
	// An impulse away from the borders becomes the sampled 2-D Gaussian.
	clear(x)
	const cy, cx = 4, 5
	x[h*w+cy*w+cx] = 1
	g.apply(x, c, h, w)
	sigma := 0.8
	var norm float64
	for d := -3; d <= 3; d++ {
		norm += math.Exp(-float64(d*d) / (2 * sigma * sigma))
	}
	for y := range h {
		for xx := range w {
			want := 0.0
			if dy, dx := y-cy, xx-cx; abs(dy) <= 3 && abs(dx) <= 3 {
				want = math.Exp(-float64(dy*dy+dx*dx)/(2*sigma*sigma)) / (norm * norm)
			}
			if got := float64(x[h*w+y*w+xx]); math.Abs(got-want) > 1e-6 {
				t.Fatalf("impulse response at (%d,%d): %g, want %g", xx, y, got, want)
			}
			if x[y*w+xx] != 0 {
				t.Fatalf("the impulse leaked into the other plane at (%d,%d)", xx, y)
			}
		}
	}
}

func TestFindPeaks(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	const h, w = 4, 5
	plane := []float32{
		1, 9, 2, 0, 0,
		0, 8, 0, 0, 7,
		inf, 0, 0, 0, 7,
		nan, 0, 6, 0, 5,
	}
	taken := make([]bool, h*w)
	for _, tc := range []struct {
		k    int
		sep  separation
		want []peak
	}{
		{1, separation{1, 1}, []peak{{0, 1, 9}}},
		{3, separation{1, 1}, []peak{{0, 1, 9}, {1, 1, 8}, {1, 4, 7}}},
		// Within two rows and columns of a peak nothing else counts; of
		// the two sevens the first in row-major order wins.
		{4, separation{2, 2}, []peak{{0, 1, 9}, {1, 4, 7}, {3, 2, 6}, {3, 4, 5}}},
		// One peak per row.
		{3, separation{1, 5}, []peak{{0, 1, 9}, {1, 1, 8}, {2, 4, 7}}},
		// Everything suppressed: fewer than k.
		{5, separation{4, 5}, []peak{{0, 1, 9}}},
	} {
		got := findPeaks(nil, taken, plane, h, w, tc.k, tc.sep, image.Rect(0, 0, w, h))
		if !slices.Equal(got, tc.want) {
			t.Errorf("k %d, separation %v: %v, want %v", tc.k, tc.sep, got, tc.want)
		}
	}
}

func TestFindPeaksStaysInside(t *testing.T) {
	plane := []float32{
		9, 9, 9, 9,
		9, 1, 2, 9,
		9, 3, 0, 9,
	}
	got := findPeaks(nil, make([]bool, 12), plane, 3, 4, 5, separation{1, 1}, image.Rect(1, 1, 3, 3))
	if want := []peak{{2, 1, 3}, {1, 2, 2}, {1, 1, 1}, {2, 2, 0}}; !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestInterior(t *testing.T) {
	for _, tc := range []struct {
		field models.ReceptiveField
		size  image.Point
		want  image.Rectangle
	}{
		// conv1_1: 3 pixels from -1, stride 1: positions 1 to w-2.
		{models.ReceptiveField{Height: 3, Width: 3, StrideY: 1, StrideX: 1, Top: -1, Left: -1}, image.Pt(10, 6), image.Rect(1, 1, 9, 5)},
		// pool1 of VGG: 6 pixels from -2, stride 2: position 1 covers 0..5.
		{models.ReceptiveField{Height: 6, Width: 6, StrideY: 2, StrideX: 2, Top: -2, Left: -2}, image.Pt(12, 7), image.Rect(1, 1, 5, 2)},
		// A field that starts inside the image (a Pad removed rows).
		{models.ReceptiveField{Height: 2, Width: 2, StrideY: 3, StrideX: 3, Top: 1, Left: 0}, image.Pt(9, 9), image.Rect(0, 0, 3, 3)},
		// Larger than the image: nothing.
		{models.ReceptiveField{Height: 24, Width: 24, StrideY: 4, StrideX: 4, Top: -10, Left: -10}, image.Pt(20, 40), image.Rectangle{}},
	} {
		if got := interior(tc.field, tc.size); got != tc.want {
			t.Errorf("field %+v in %v: %v, want %v", tc.field, tc.size, got, tc.want)
		}
		// Every position inside has its box inside the image, and the
		// ones just outside do not.
		img := image.Rectangle{Max: tc.size}
		for y := tc.want.Min.Y - 1; y <= tc.want.Max.Y; y++ {
			for x := tc.want.Min.X - 1; x <= tc.want.Max.X; x++ {
				if in := tc.field.Box(y, x).In(img); in != image.Pt(x, y).In(tc.want) && !tc.want.Empty() && x >= 0 && y >= 0 {
					t.Errorf("field %+v in %v: position (%d,%d) box inside %v, in interior %v", tc.field, tc.size, x, y, in, !in)
				}
			}
		}
	}
}

func TestRanking(t *testing.T) {
	r := ranking{top: 3}
	for i, a := range []float64{2, 5, 2, 7, 1, 5, 2} {
		if r.admits(a) {
			r.insert(Patch{Activation: a, X: i})
		}
	}
	var got [][2]float64
	for _, p := range r.patches {
		got = append(got, [2]float64{p.Activation, float64(p.X)})
	}
	// Ties keep the earlier patch first, and a full ranking admits only
	// strictly better ones.
	if want := [][2]float64{{7, 3}, {5, 1}, {5, 5}}; !slices.Equal(got, want) {
		t.Errorf("ranking %v, want %v", got, want)
	}
	if r.admits(5) || !r.admits(5.5) {
		t.Error("a full ranking must admit only patches better than its last")
	}
}

func TestCropPadsOutsideTheImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for y := range 3 {
		for x := range 4 {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(10*x + y), G: 1, B: 2, A: 255})
		}
	}
	c := crop(img, image.Rect(-1, 1, 3, 4))
	if c.Bounds() != image.Rect(0, 0, 4, 3) {
		t.Fatalf("crop bounds %v", c.Bounds())
	}
	for y := range 3 {
		for x := range 4 {
			want := PaddingColor
			if sx, sy := x-1, y+1; sx >= 0 && sy < 3 {
				want = img.NRGBAAt(sx, sy)
			}
			if got := c.NRGBAAt(x, y); got != want {
				t.Errorf("crop (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestSheetLayout(t *testing.T) {
	solid := func(v uint8, w, h int) *image.NRGBA {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = v, 255-v, v/2, 255
		}
		return img
	}
	// Three units of four patches: 2x2 blocks in a 2x2 grid of units, the
	// last unit with only two patches.
	res := &TopResult{Layer: "conv1_1", Top: 4, Field: models.ReceptiveField{Height: 3, Width: 3, StrideY: 1, StrideX: 1}}
	for u := range 3 {
		up := UnitPatches{Unit: u}
		for i := range 4 - u/2*2 {
			up.Patches = append(up.Patches, Patch{Crop: solid(uint8(40*u+10*i+1), 3, 3)})
		}
		res.Units = append(res.Units, up)
	}
	sheet, err := res.Sheet(SheetOptions{Cell: 6})
	if err != nil {
		t.Fatal(err)
	}
	block := 2*6 + patchGap
	side := 2*sheetMargin + 2*block + unitGap
	if sheet.Bounds() != image.Rect(0, 0, side, side) {
		t.Fatalf("sheet %v, want %dx%d", sheet.Bounds(), side, side)
	}
	cellAt := func(u, i int) image.Point {
		return image.Pt(sheetMargin+(u%2)*(block+unitGap)+(i%2)*(6+patchGap), sheetMargin+(u/2)*(block+unitGap)+(i/2)*(6+patchGap))
	}
	for u, up := range res.Units {
		for i := range 4 {
			at := cellAt(u, i)
			want := SheetBackground
			if i < len(up.Patches) {
				want = up.Patches[i].Crop.NRGBAAt(0, 0)
			}
			for _, d := range []image.Point{{0, 0}, {5, 5}, {2, 3}} {
				if got := sheet.NRGBAAt(at.X+d.X, at.Y+d.Y); got != want {
					t.Errorf("unit %d patch %d at %v: %v, want %v", u, i, at.Add(d), got, want)
				}
			}
			if got := sheet.NRGBAAt(at.X+6, at.Y); i%2 == 0 && got != SheetBackground {
				t.Errorf("gap right of unit %d patch %d is %v", u, i, got)
			}
		}
	}

	// A field taller than wide is centred in its cell.
	res = &TopResult{Top: 1, Units: []UnitPatches{{Patches: []Patch{{Crop: solid(90, 2, 4)}}}}, Field: models.ReceptiveField{Height: 4, Width: 2}}
	if sheet, err = res.Sheet(SheetOptions{Cell: 8}); err != nil {
		t.Fatal(err)
	}
	for x := range 8 {
		want := SheetBackground
		if x >= 2 && x < 6 {
			want = res.Units[0].Patches[0].Crop.NRGBAAt(0, 0)
		}
		if got := sheet.NRGBAAt(sheetMargin+x, sheetMargin+3); got != want {
			t.Errorf("narrow patch, column %d: %v, want %v", x, got, want)
		}
	}

	if _, err := (&TopResult{Top: 9, Units: make([]UnitPatches, 4096), Field: models.ReceptiveField{Height: 3, Width: 3}}).Sheet(SheetOptions{Cell: 256}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("huge sheet: error %v", err)
	}
}

func TestAutoCell(t *testing.T) {
	for side, want := range map[int]int{1: 64, 3: 66, 5: 65, 10: 70, 63: 126, 64: 64, 84: 84, 127: 127, 128: 128, 268: 128} {
		if got := autoCell(side); got != want {
			t.Errorf("field %d: cell %d, want %d", side, got, want)
		}
	}
}
