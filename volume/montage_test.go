package volume

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
)

// TestMontageLayout draws a 2×3×4 grey volume whose value is its depth
// index over 2 plus 0.25 where x = 3, centre slices only, gap 1, and checks
// the picture pixel by pixel: row 1 is the H×W slice at depth 1, row 2 the
// D×W slice at height 1, row 3 the D×H slice at width 2, on background 48.
func TestMontageLayout(t *testing.T) {
	v, _ := New(2, 3, 4, 1)
	for z := range 2 {
		for y := range 3 {
			for x := range 4 {
				val := float32(z) / 2
				if x == 3 {
					val += 0.25
				}
				v.Data[v.Index(z, y, x, 0)] = val
			}
		}
	}
	img, err := Montage(v, MontageOptions{PerAxis: 1, Gap: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Width: the widest row is 4 columns; height: 3 + 1 + 2 + 1 + 2.
	if b := img.Bounds(); b.Dx() != 4 || b.Dy() != 9 {
		t.Fatalf("picture %v, want 4×9", b)
	}
	const bg = 48
	want := [9][4]uint8{
		{128, 128, 128, 191}, // depth 1: value 0.5, 0.75 at x = 3
		{128, 128, 128, 191},
		{128, 128, 128, 191},
		{bg, bg, bg, bg},
		{0, 0, 0, 64}, // height 1, rows z = 0, 1
		{128, 128, 128, 191},
		{bg, bg, bg, bg},
		{0, 0, 0, bg}, // width 2 (the centre of 4), rows z, columns y
		{128, 128, 128, bg},
	}
	for y := range 9 {
		for x := range 4 {
			c := img.NRGBAAt(x, y)
			if c.R != want[y][x] || c.G != c.R || c.B != c.R || c.A != 255 {
				t.Errorf("pixel (%d, %d) = %v, want grey %d", x, y, c, want[y][x])
			}
		}
	}
}

func TestMontageOptions(t *testing.T) {
	// Normalize stretches [min, max] to [0, 255]; Scale repeats voxels;
	// RGB keeps its channels; PerAxis spreads slices and caps at the axis
	// length.
	v := &Volume{D: 1, H: 1, W: 2, C: 3, Data: []float32{-1, 0, 1, 3, -1, 0}}
	img, err := Montage(v, MontageOptions{PerAxis: 1, Gap: -1, Scale: 2, Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	// Rows: depth slice 1×2, height slice 1×2, width slice 1×1 (at x = 1);
	// each voxel 2×2 pixels, no gaps.
	if b := img.Bounds(); b.Dx() != 4 || b.Dy() != 6 {
		t.Fatalf("picture %v, want 4×6", b)
	}
	for _, tc := range []struct {
		x, y int
		want [3]uint8
	}{
		{0, 0, [3]uint8{0, 64, 128}}, // (-1, 0, 1) over [-1, 3]
		{1, 1, [3]uint8{0, 64, 128}}, // the same voxel, scaled
		{2, 0, [3]uint8{255, 0, 64}}, // (3, -1, 0)
		{3, 3, [3]uint8{255, 0, 64}}, // height row
		{0, 4, [3]uint8{255, 0, 64}}, // width slice 1
		{3, 5, [3]uint8{48, 48, 48}}, // background right of the 1×1 tile
	} {
		c := img.NRGBAAt(tc.x, tc.y)
		if got := [3]uint8{c.R, c.G, c.B}; got != tc.want {
			t.Errorf("pixel (%d, %d) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n, per int
		want   []int
	}{
		{10, 1, []int{5}}, {10, 3, []int{2, 5, 7}}, {3, 5, []int{0, 1, 2}}, {100, 4, []int{20, 40, 60, 80}},
	} {
		if got := slicePositions(tc.n, tc.per); !slices.Equal(got, tc.want) {
			t.Errorf("slicePositions(%d, %d) = %v, want %v", tc.n, tc.per, got, tc.want)
		}
	}
	big, _ := New(20, 30, 40, 1)
	img, _ = Montage(big, MontageOptions{})
	// Default: 5 slices per axis, gap 2: widest row 5·40 + 4·2; height
	// 30 + 20 + 20 + 2·2.
	if b := img.Bounds(); b.Dx() != 208 || b.Dy() != 74 {
		t.Errorf("default montage %v, want 208×74", b)
	}
}

func TestMontageErrors(t *testing.T) {
	v, _ := New(2, 2, 2, 1)
	for _, tc := range []struct {
		v    *Volume
		o    MontageOptions
		want string
	}{
		{nil, MontageOptions{}, "not a valid volume (nil)"},
		{&Volume{D: 1, H: 1, W: 1, C: 1}, MontageOptions{}, "not a valid volume"},
		{v, MontageOptions{PerAxis: 65}, "65 slices per axis"},
		{v, MontageOptions{Scale: -2}, "scale -2"},
	} {
		if _, err := Montage(tc.v, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestSaveMontagePNG(t *testing.T) {
	v, _ := New(4, 5, 6, 3)
	for i := range v.Data {
		v.Data[i] = float32(i%7) / 6
	}
	p := filepath.Join(t.TempDir(), "m.png")
	if err := SaveMontagePNG(p, v, MontageOptions{PerAxis: 2}); err != nil {
		t.Fatal(err)
	}
	img := testimg.ReadPNG(t, p)
	want, _ := Montage(v, MontageOptions{PerAxis: 2})
	if img.Bounds() != want.Bounds() {
		t.Fatalf("saved %v, drawn %v", img.Bounds(), want.Bounds())
	}
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel (%d, %d) differs after saving", x, y)
			}
		}
	}
	if err := SaveMontagePNG(p, nil, MontageOptions{}); err == nil {
		t.Error("saved a nil volume")
	}
}
