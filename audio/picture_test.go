package audio

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
)

// levelSpec returns a 3-bin, 2-frame spectrogram whose magnitudes are the
// given dB levels relative to magnitude 1000 (NaN: silence), bin by bin.
func levelSpec(db ...float64) Spectrogram {
	s := Spectrogram{Bins: 3, Frames: 2, Data: make([]float32, 6)}
	for i, d := range db {
		if !math.IsNaN(d) {
			s.Data[i] = float32(math.Log1p(1000 * math.Pow(10, d/20)))
		}
	}
	return s
}

func TestSpectrogramImage(t *testing.T) {
	// Bin 0 (bottom row): 0 dB and -40 dB; bin 1: -80 dB and -100 dB;
	// bin 2 (top row): silence and -20 dB.
	s := levelSpec(0, -40, -80, -100, math.NaN(), -20)
	if got := s.PeakMagnitude(); math.Abs(got-1000) > 1e-3 {
		t.Errorf("peak %v, want 1000", got)
	}
	tests := []struct {
		name string
		o    PictureOptions
		want [3][2][3]uint8 // [y][x] RGB, y = 0 at the top
	}{
		{"grey, own peak, 80 dB", PictureOptions{Colormap: "grey"}, [3][2][3]uint8{
			{{0, 0, 0}, {191, 191, 191}},       // bin 2: silence, -20 dB → 0.75
			{{0, 0, 0}, {0, 0, 0}},             // bin 1: -80 and -100 dB → 0
			{{255, 255, 255}, {128, 128, 128}}, // bin 0: 0 dB → 1, -40 dB → 0.5
		}},
		{"grey, 40 dB range, reference 10× the peak", PictureOptions{Colormap: "gray", RangeDB: 40, RefMagnitude: 10000}, [3][2][3]uint8{
			{{0, 0, 0}, {0, 0, 0}}, // -20 dB is 40 dB below the reference → 0
			{{0, 0, 0}, {0, 0, 0}},
			{{128, 128, 128}, {0, 0, 0}}, // 0 dB is 20 dB below the reference → 0.5
		}},
		{"magma ends and middle", PictureOptions{}, [3][2][3]uint8{
			{{0, 0, 4}, {251, 135, 97}}, // 0.75 is the seventh stop
			{{0, 0, 4}, {0, 0, 4}},
			{{252, 253, 191}, {181, 54, 122}}, // 1 and 0.5 are the last and middle stops
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := SpectrogramImage(s, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 2 || b.Dy() != 3 {
				t.Fatalf("bounds %v, want 2×3", b)
			}
			for y := range 3 {
				for x := range 2 {
					c := img.NRGBAAt(x, y)
					if got := [3]uint8{c.R, c.G, c.B}; got != tc.want[y][x] || c.A != 255 {
						t.Errorf("pixel (%d, %d) = %v alpha %d, want %v", x, y, got, c.A, tc.want[y][x])
					}
				}
			}
		})
	}
}

// TestSpectrogramImageHeight checks that a shorter picture shows, in each
// row, the loudest of the bins it covers.
func TestSpectrogramImageHeight(t *testing.T) {
	// 5 bins, 1 frame: levels -80, 0, -40, -80, -20 dB from bin 0 up.
	s := Spectrogram{Bins: 5, Frames: 1, Data: make([]float32, 5)}
	for k, db := range []float64{-80, 0, -40, -80, -20} {
		s.Data[k] = float32(math.Log1p(1000 * math.Pow(10, db/20)))
	}
	img, err := SpectrogramImage(s, PictureOptions{Colormap: "grey", Height: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Bottom row covers bins 0-1 (loudest 0 dB), top row bins 2-4 (-20 dB).
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 2 {
		t.Fatalf("bounds %v, want 1×2", b)
	}
	if top, bottom := img.NRGBAAt(0, 0).R, img.NRGBAAt(0, 1).R; top != 191 || bottom != 255 {
		t.Errorf("top %d, bottom %d; want 191 (-20 dB), 255 (0 dB)", top, bottom)
	}
	// A height at or above the bin count draws one row per bin.
	if img, _ := SpectrogramImage(s, PictureOptions{Height: 9}); img.Bounds().Dy() != 5 {
		t.Errorf("height 9 of 5 bins: %d rows", img.Bounds().Dy())
	}
}

func TestSaveSpectrogramPNG(t *testing.T) {
	s, _ := NewSTFT(Config{NFFT: 256, Hop: 64})
	spec := s.Analyze(Chirp(8000, 0.5, 200, 3000, 0.5).Samples)
	p := filepath.Join(t.TempDir(), "chirp.png")
	if err := SaveSpectrogramPNG(p, spec, PictureOptions{}); err != nil {
		t.Fatal(err)
	}
	img := testimg.ReadPNG(t, p)
	if b := img.Bounds(); b.Dx() != spec.Frames || b.Dy() != spec.Bins {
		t.Fatalf("picture %v, want %d×%d", b, spec.Frames, spec.Bins)
	}
	// A rising chirp: the brightest row of an early column lies below
	// (at a larger y than) that of a late column.
	brightest := func(x int) int {
		best, by := -1, 0
		for y := range spec.Bins {
			r, g, b, _ := img.At(x, y).RGBA()
			if v := int(r + g + b); v > best {
				best, by = v, y
			}
		}
		return by
	}
	early, late := brightest(5), brightest(spec.Frames-6)
	if early <= late {
		t.Errorf("brightest row %d early, %d late; want the chirp rising (early lower in the picture)", early, late)
	}
	// 200 Hz at 8000 Hz with n_fft 256 is bin 6.4, drawn at row 128-6.
	if early < spec.Bins-1-9 || early > spec.Bins-1-4 {
		t.Errorf("early brightest row %d, want near %d", early, spec.Bins-1-6)
	}
}

func TestSpectrogramImageErrors(t *testing.T) {
	s := levelSpec(0, 0, 0, 0, 0, 0)
	for _, tc := range []struct {
		s    Spectrogram
		o    PictureOptions
		want string
	}{
		{Spectrogram{}, PictureOptions{}, "0 values for 0 bins × 0 frames"},
		{s, PictureOptions{Colormap: "jet"}, `colormap "jet": want magma or grey`},
		{s, PictureOptions{RangeDB: -3}, "range -3 dB must be positive"},
		{s, PictureOptions{RefMagnitude: math.Inf(1)}, "reference magnitude +Inf"},
		{s, PictureOptions{Height: -1}, "height -1 is negative"},
	} {
		if _, err := SpectrogramImage(tc.s, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	if err := SaveSpectrogramPNG(filepath.Join(t.TempDir(), "x.png"), Spectrogram{}, PictureOptions{}); err == nil {
		t.Error("saved an empty spectrogram")
	}
}
