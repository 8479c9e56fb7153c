package frames

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writePNG writes a w×h PNG with a gradient at path.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 11), uint8(x + y), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestNaturalCompare checks the order of frame names.
func TestNaturalCompare(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{[]string{"frame10.png", "frame9.png", "frame1.png", "frame100.png"}, []string{"frame1.png", "frame9.png", "frame10.png", "frame100.png"}},
		{[]string{"f_0010.jpg", "f_0002.jpg", "f_0001.jpg"}, []string{"f_0001.jpg", "f_0002.jpg", "f_0010.jpg"}},
		// Equal values: the one with more leading zeros first, deterministically.
		{[]string{"a7.png", "a007.png", "a07.png"}, []string{"a007.png", "a07.png", "a7.png"}},
		{[]string{"b2.png", "a10.png", "a2.png", "b1.png"}, []string{"a2.png", "a10.png", "b1.png", "b2.png"}},
		{[]string{"shot2_f10.png", "shot2_f9.png", "shot10_f1.png", "shot1_f50.png"}, []string{"shot1_f50.png", "shot2_f9.png", "shot2_f10.png", "shot10_f1.png"}},
		{[]string{"x.png", "x1.png", "1.png", "01.png"}, []string{"01.png", "1.png", "x.png", "x1.png"}},
		// Digit runs longer than any integer type.
		{[]string{"f123456789012345678902.png", "f123456789012345678901.png"}, []string{"f123456789012345678901.png", "f123456789012345678902.png"}},
	}
	for _, c := range cases {
		got := slices.Clone(c.in)
		slices.SortFunc(got, naturalCompare)
		if !slices.Equal(got, c.want) {
			t.Errorf("sorted %v, want %v", got, c.want)
		}
	}
}

// TestListFolder checks which files count as frames, their order, sizes
// and output names.
func TestListFolder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"frame10.png", "frame2.PNG", "frame1.png", "frame9.jpg"} {
		writePNG(t, filepath.Join(dir, n), 6, 4) // a PNG named .jpg still has a readable header
	}
	writePNG(t, filepath.Join(dir, ".frame0.png"), 6, 4)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "frame5.png"), 0o755)
	if err := os.Symlink(filepath.Join(dir, "frame1.png"), filepath.Join(dir, "frame3.png")); err != nil {
		t.Fatal(err)
	}

	s, err := ListFolder(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range s.Frames {
		names = append(names, f.Name)
		if f.Path != filepath.Join(dir, f.Name) {
			t.Errorf("path %q for %q", f.Path, f.Name)
		}
	}
	want := []string{"frame1.png", "frame2.PNG", "frame3.png", "frame9.jpg", "frame10.png"}
	if !slices.Equal(names, want) {
		t.Errorf("frames %v, want %v", names, want)
	}
	if s.Width != 6 || s.Height != 4 || !s.Rate.IsZero() || s.Audio || s.Source != "" {
		t.Errorf("sequence %dx%d rate %v audio %v source %q, want 6x4 with no rate, audio or source", s.Width, s.Height, s.Rate, s.Audio, s.Source)
	}
	out := s.OutputPaths("/out")
	if out[1] != filepath.Join("/out", "frame2.PNG") || len(out) != 5 {
		t.Errorf("output paths %v", out)
	}
}

// TestListFolderErrors checks that unusable folders are refused with a
// message that says why.
func TestListFolderErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string)
		lim   Limits
		want  string
	}{
		{"empty", func(string) {}, Limits{}, "no PNG or JPEG files"},
		{"only other files", func(d string) { os.WriteFile(filepath.Join(d, "a.txt"), nil, 0o644) }, Limits{}, "no PNG or JPEG files"},
		{"sizes differ", func(d string) {
			writePNG(t, filepath.Join(d, "1.png"), 6, 4)
			writePNG(t, filepath.Join(d, "2.png"), 6, 5)
		}, Limits{}, "2.png is 6x5 but 1.png is 6x4"},
		{"too many frames", func(d string) {
			for _, n := range []string{"1.png", "2.png", "3.png"} {
				writePNG(t, filepath.Join(d, n), 2, 2)
			}
		}, Limits{MaxFrames: 2}, "3 frames, over the limit of 2"},
		{"too many pixels", func(d string) { writePNG(t, filepath.Join(d, "1.png"), 10, 10) }, Limits{MaxPixels: 99}, "over the limit of 99 pixels"},
		{"damaged", func(d string) { os.WriteFile(filepath.Join(d, "1.png"), []byte("not a png"), 0o644) }, Limits{}, "not a readable PNG or JPEG"},
		{"bad limit", func(d string) { writePNG(t, filepath.Join(d, "1.png"), 2, 2) }, Limits{MaxFrames: 1_000_000}, "frame limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			_, err := ListFolder(dir, c.lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := ListFolder(filepath.Join(t.TempDir(), "missing"), Limits{}); err == nil {
		t.Error("missing folder: no error")
	}
}

// TestParseRate checks the accepted spellings of a frame rate.
func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want Rate
		err  bool
	}{
		{"30000/1001", Rate{30000, 1001}, false},
		{"25/1", Rate{25, 1}, false},
		{"50/2", Rate{25, 1}, false},
		{"24", Rate{24, 1}, false},
		{" 29.97 ", Rate{2997, 100}, false},
		{"0/0", Rate{}, true},
		{"0", Rate{}, true},
		{"-25", Rate{}, true},
		{"25/0", Rate{}, true},
		{"1001/1", Rate{}, true},
		{"abc", Rate{}, true},
		{"NaN", Rate{}, true},
		{"1/x", Rate{}, true},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
	if s := (Rate{30000, 1001}).String(); s != "30000/1001" {
		t.Errorf("String %q", s)
	}
}
