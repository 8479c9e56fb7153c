package imageio

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveRoundTrip(t *testing.T) {
	// A smooth image: JPEG keeps it close, and PNG must keep it exactly.
	img := image.NewNRGBA(image.Rect(0, 0, 24, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(10 * x), G: uint8(15 * y), B: uint8(200 - 4*x - 3*y), A: 255})
		}
	}
	tests := []struct {
		name    string
		file    string
		format  string
		quality int
		tol     int // mean error allowed: Go's JPEG encoder subsamples chroma 4:2:0
	}{
		{name: "png", file: "out.png", format: "png"},
		{name: "format from extension", file: "out.PNG"},
		{name: "jpeg", file: "out.jpg", format: "jpeg", quality: 100, tol: 5},
		{name: "jpg default quality", file: "out.jpeg", format: "JPG", tol: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := Save(path, img, tc.format, tc.quality); err != nil {
				t.Fatal(err)
			}
			back, err := Load(path, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			assertNormalised(t, back, 24, 16)
			var sumErr, n int
			for i := range img.Pix {
				d := int(back.Pix[i]) - int(img.Pix[i])
				if tc.tol == 0 && d != 0 {
					t.Fatalf("byte %d = %d, want %d", i, back.Pix[i], img.Pix[i])
				}
				sumErr += max(d, -d)
				n++
			}
			if mean := float64(sumErr) / float64(n); tc.tol > 0 && mean > float64(tc.tol) {
				t.Errorf("mean absolute error %.2f, want <= %d", mean, tc.tol)
			}
		})
	}
}

func TestSaveJPEGFlattensOverWhite(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16)) // fully transparent black
	path := filepath.Join(t.TempDir(), "clear.jpg")
	if err := Save(path, img, "", 90); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := back.NRGBAAt(8, 8); p.R < 250 || p.G < 250 || p.B < 250 {
		t.Errorf("transparent pixel saved as %v, want white", p)
	}
}

func TestSaveErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		img     image.Image
		format  string
		quality int
		want    string
	}{
		{"unknown format", "out.webp", noise(2, 2), "", 0, `unsupported format "webp"`},
		{"quality too high", "out.jpg", noise(2, 2), "jpeg", 101, "JPEG quality 101"},
		{"quality negative", "out.jpg", noise(2, 2), "jpeg", -5, "JPEG quality -5"},
		{"empty image", "out.png", image.NewNRGBA(image.Rect(0, 0, 0, 3)), "png", 0, "image is empty"},
		// The JPEG encoder refuses widths over 65535 only after the
		// temporary file exists: the failure must not touch the old file.
		{"encoder failure", "out.jpg", image.NewGray(image.Rect(0, 0, 1<<16, 1)), "jpeg", 0, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			const old = "previous result"
			if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Save(path, tc.img, tc.format, tc.quality)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || string(got) != old {
				t.Errorf("existing file now %q (%v), want %q", got, rerr, old)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("folder holds %d entries, want only the old file (no temporary left)", len(entries))
			}
		})
	}
}

func TestSaveUnwritableFolder(t *testing.T) {
	// A regular file where the folder should be fails for root as well,
	// unlike permission bits.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(notDir, "out.png")
	err := Save(path, noise(2, 2), "png", 0)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v, want one naming %s", err, path)
	}
}
