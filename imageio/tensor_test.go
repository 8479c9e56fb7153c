package imageio

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

func TestToTensorLayout(t *testing.T) {
	// 2x1 image: NCHW puts both red values first, then green, then blue.
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(img.Pix, []uint8{255, 0, 51, 255, 0, 102, 255, 255})
	want := []float32{1, 0, 0, 0.4, 0.2, 1}
	got := ToTensor(img)
	if len(got) != len(want) {
		t.Fatalf("len = %d, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Errorf("t[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestTensorRoundTripExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	full := image.NewNRGBA(image.Rect(0, 0, 31, 17))
	for i := range full.Pix {
		full.Pix[i] = uint8(rng.IntN(256))
	}
	for i := 3; i < len(full.Pix); i += 4 {
		full.Pix[i] = 255
	}
	// Every 8-bit level appears in the first rows.
	for i := 0; i < 256; i++ {
		full.Pix[4*i] = uint8(i)
	}
	tests := []struct {
		name string
		img  *image.NRGBA
	}{
		{"whole image", full},
		{"sub-image with offset bounds", full.SubImage(image.Rect(3, 2, 20, 15)).(*image.NRGBA)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.img.Bounds()
			back := FromTensor(ToTensor(tc.img), b.Dx(), b.Dy())
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					if got, want := back.NRGBAAt(x, y), tc.img.NRGBAAt(b.Min.X+x, b.Min.Y+y); got != want {
						t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, want)
					}
				}
			}
		})
	}
}

func TestFromTensorClampsAndRounds(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		in   float32
		want uint8
	}{
		{-0.5, 0},
		{0, 0},
		{nan, 0},
		{-inf, 0},
		{0.5 / 255, 1}, // halves round up
		{0.49 / 255, 0},
		{0.5, 128}, // 127.5
		{100.4 / 255, 100},
		{100.6 / 255, 101},
		{1, 255},
		{1.7, 255},
		{inf, 255},
	}
	for _, tc := range tests {
		img := FromTensor([]float32{tc.in, tc.in, tc.in}, 1, 1)
		if p := img.Pix; p[0] != tc.want || p[1] != tc.want || p[2] != tc.want || p[3] != 255 {
			t.Errorf("FromTensor(%v) = %v, want %d", tc.in, p, tc.want)
		}
	}
}

func TestFromTensorPanicsOnLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("FromTensor accepted 5 values for a 1x2 image")
		}
	}()
	FromTensor(make([]float32, 5), 2, 1)
}

func BenchmarkToTensor512(b *testing.B) {
	img := noise(512, 512)
	b.ReportAllocs()
	for b.Loop() {
		ToTensor(img)
	}
}

func BenchmarkFromTensor512(b *testing.B) {
	data := ToTensor(noise(512, 512))
	b.ReportAllocs()
	for b.Loop() {
		FromTensor(data, 512, 512)
	}
}
