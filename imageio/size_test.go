package imageio

import (
	"image"
	"testing"
)

func TestLongSideSize(t *testing.T) {
	tests := []struct {
		name         string
		w, h, long   int
		wantW, wantH int
	}{
		{"landscape down", 1024, 768, 512, 512, 384},
		{"portrait down", 768, 1024, 512, 384, 512},
		{"square", 300, 300, 256, 256, 256},
		{"upscale", 100, 50, 400, 400, 200},
		{"rounds half up", 4, 3, 2, 2, 2},        // 1.5 -> 2
		{"rounds down", 1000, 333, 100, 100, 33}, // 33.3 -> 33
		{"rounds up", 1000, 337, 100, 100, 34},   // 33.7 -> 34
		{"short side at least 1", 1000, 1, 10, 10, 1},
		{"already at size", 640, 480, 640, 640, 480},
		{"zero long", 10, 10, 0, 0, 0},
		{"negative width", -1, 10, 5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h := LongSideSize(tc.w, tc.h, tc.long)
			if w != tc.wantW || h != tc.wantH {
				t.Errorf("LongSideSize(%d, %d, %d) = %d, %d, want %d, %d", tc.w, tc.h, tc.long, w, h, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestFitLongSide(t *testing.T) {
	tests := []struct {
		name         string
		w, h, long   int
		wantW, wantH int
		same         bool // the input itself must come back
		wantErr      bool
	}{
		{name: "downscale landscape", w: 40, h: 30, long: 20, wantW: 20, wantH: 15},
		{name: "upscale portrait", w: 10, h: 25, long: 50, wantW: 20, wantH: 50},
		{name: "already at size is a no-op", w: 32, h: 18, long: 32, wantW: 32, wantH: 18, same: true},
		{name: "zero size", w: 8, h: 8, long: 0, wantErr: true},
		{name: "empty image", w: 0, h: 0, long: 8, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := noise(tc.w, tc.h)
			got, err := FitLongSide(img, tc.long)
			if tc.wantErr {
				if err == nil {
					t.Fatal("FitLongSide succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Rect != image.Rect(0, 0, tc.wantW, tc.wantH) {
				t.Errorf("bounds = %v, want %dx%d", got.Rect, tc.wantW, tc.wantH)
			}
			if (got == img) != tc.same {
				t.Errorf("returned the input itself: %v, want %v", got == img, tc.same)
			}
		})
	}
}

func TestResize(t *testing.T) {
	img := noise(20, 10)
	same, err := Resize(img, 20, 10)
	if err != nil {
		t.Fatal(err)
	}
	if same != img {
		t.Error("Resize to the same size resampled the image")
	}
	got, err := Resize(img, 7, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rect != image.Rect(0, 0, 7, 9) {
		t.Errorf("bounds = %v, want 7x9", got.Rect)
	}
	if !got.Opaque() {
		t.Error("resized opaque image is not opaque")
	}
	for _, size := range [][2]int{{0, 5}, {5, -1}} {
		if _, err := Resize(img, size[0], size[1]); err == nil {
			t.Errorf("Resize(%dx%d) succeeded, want an error", size[0], size[1])
		}
	}
}

// TestResizeFlatColour checks that the filter preserves a flat colour: a
// Lanczos kernel normalised to sum 1 must not shift it.
func TestResizeFlatColour(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 50, 30))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 10, 128, 250, 255
	}
	got, err := FitLongSide(img, 17)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(got.Pix); i += 4 {
		if p := got.Pix[i : i+4]; p[0] != 10 || p[1] != 128 || p[2] != 250 || p[3] != 255 {
			t.Fatalf("pixel %d = %v, want [10 128 250 255]", i/4, p)
		}
	}
}

func BenchmarkFitLongSide1024To512(b *testing.B) {
	img := noise(1024, 768)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitLongSide(img, 512); err != nil {
			b.Fatal(err)
		}
	}
}
