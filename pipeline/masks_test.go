package pipeline

import (
	"bytes"
	"image"
	"image/color"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

func TestAreaResize(t *testing.T) {
	tests := []struct {
		name         string
		plane        []float32
		h, w, oh, ow int
		want         []float32
	}{
		{
			name:  "halving is 2x2 average pooling",
			plane: []float32{1, 0, 0, 0, 1, 1, 0, 1, 0.5, 0.5, 1, 1, 0.5, 0.5, 1, 0},
			h:     4, w: 4, oh: 2, ow: 2,
			want: []float32{0.75, 0.25, 0.5, 0.75},
		},
		{
			name:  "3 to 2 weighs the shared pixel by its overlap",
			plane: []float32{1, 0, 0},
			h:     1, w: 3, oh: 1, ow: 2,
			// Cell 0 spans [0, 1.5): (1·1 + 0.5·0)/1.5; cell 1 spans [1.5, 3): 0.
			want: []float32{2.0 / 3, 0},
		},
		{
			name:  "odd size floor-halved, as a pooling layer gives",
			plane: []float32{1, 1, 1, 0, 0},
			h:     1, w: 5, oh: 1, ow: 2,
			want: []float32{1, 0.2},
		},
		{
			name:  "same size is the plane",
			plane: []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6},
			h:     2, w: 3, oh: 2, ow: 3,
			want: []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := areaResize(tt.plane, tt.h, tt.w, tt.oh, tt.ow)
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestAreaResizeKeepsTheMean: every source pixel is shared out in full, so
// whenever the cells tile the plane evenly, the mean is kept.
func TestAreaResizeKeepsTheMean(t *testing.T) {
	const h, w, oh, ow = 21, 32, 5, 8
	plane := make([]float32, h*w)
	var mean float64
	for i := range plane {
		plane[i] = float32(i%7) / 6
		mean += float64(plane[i])
	}
	mean /= h * w
	got := areaResize(plane, h, w, oh, ow)
	var m float64
	for _, v := range got {
		m += float64(v)
	}
	if m /= oh * ow; math.Abs(m-mean) > 1e-5 {
		t.Errorf("mean %v after resizing, %v before", m, mean)
	}
}

func TestMaskPlane(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		img.SetNRGBA(x, 0, color.NRGBA{255, 255, 255, 255})
		img.SetNRGBA(x, 1, color.NRGBA{255, 0, 0, 255})
	}
	got := maskPlane(img, 4, 2)
	for x := range 4 {
		if got[x] != 1 || math.Abs(float64(got[4+x])-0.299) > 1e-6 {
			t.Fatalf("plane %v, want white 1 and red its luminance 0.299", got)
		}
	}
	// Resized masks stay within [0, 1]: no ringing at a hard edge.
	edge := image.NewNRGBA(image.Rect(0, 0, 6, 6))
	for y := range 6 {
		for x := range 6 {
			if x < 3 {
				edge.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			} else {
				edge.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
			}
		}
	}
	for _, v := range maskPlane(edge, 17, 13) {
		if v < 0 || v > 1 {
			t.Fatalf("resized mask value %v outside [0, 1]", v)
		}
	}
}

// TestBlackMaskWarns: a mask black everywhere makes its style apply
// nowhere; nst says so in a warning naming the style, and only for it.
func TestBlackMaskWarns(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	mask := func(v uint8) *image.NRGBA {
		img := image.NewNRGBA(image.Rect(0, 0, 8, 6))
		for i := range img.Pix {
			img.Pix[i] = v
		}
		for i := 3; i < len(img.Pix); i += 4 {
			img.Pix[i] = 255
		}
		return img
	}
	layers := []losses.Activation{{Name: "relu1_1", H: 6, W: 8}}
	styleMasks{mask(255), mask(0), nil}.forLayers(layers, 8, 6)
	out := buf.String()
	if want := "style[1].mask is black everywhere: style[1] applies nowhere"; !strings.Contains(out, want) || strings.Count(out, "level=WARN") != 1 {
		t.Errorf("log %q: want one warning saying %q", out, want)
	}
}
