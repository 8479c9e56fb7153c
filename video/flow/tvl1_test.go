package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestShiftEPE checks the flow of a textured frame shifted by a known whole
// number of pixels, in both directions, against the true flow away from the
// border (where part of the content leaves the frame).
func TestShiftEPE(t *testing.T) {
	cases := []struct {
		w, h, dx, dy int
		seed         uint64
	}{
		{128, 96, 3, -2, 1},
		{96, 128, -5, 4, 2},
		{128, 128, 0, 0, 3},
		{160, 120, 12, 7, 4}, // beyond the finest level's reach: needs the pyramid
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d_%+d%+d", c.w, c.h, c.dx, c.dy), func(t *testing.T) {
			a, b := shiftedPair(c.w, c.h, c.dx, c.dy, c.seed)
			ab, ba, err := Bidirectional(context.Background(), a, b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ab.W != c.w || ab.H != c.h || ba.W != c.w || ba.H != c.h {
				t.Fatalf("flow sizes %dx%d and %dx%d, want %dx%d", ab.W, ab.H, ba.W, ba.H, c.w, c.h)
			}
			border := 8 + max(abs(c.dx), abs(c.dy))
			if e := meanEPE(ab, float64(c.dx), float64(c.dy), border); !(e < 0.3) {
				t.Errorf("forward mean end-point error %.3f px, want < 0.3", e)
			} else {
				t.Logf("forward mean end-point error %.4f px", e)
			}
			if e := meanEPE(ba, float64(-c.dx), float64(-c.dy), border); !(e < 0.3) {
				t.Errorf("backward mean end-point error %.3f px, want < 0.3", e)
			}
		})
	}
}

// TestComputeRGB checks that colour frames give the flow of their
// luminance, and that Compute agrees with Bidirectional's forward flow.
func TestComputeRGB(t *testing.T) {
	a, b := shiftedPair(96, 80, 3, -2, 5)
	rgb := func(g Image) Image {
		n := g.W * g.H
		pix := make([]float32, 3*n)
		for i, v := range g.Pix {
			pix[i], pix[n+i], pix[2*n+i] = v, 1-v, 0.5*v
		}
		return Image{C: 3, H: g.H, W: g.W, Pix: pix}
	}
	f, err := Compute(context.Background(), rgb(a), rgb(b), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := meanEPE(f, 3, -2, 11); !(e < 0.3) {
		t.Errorf("mean end-point error %.3f px, want < 0.3", e)
	}
	ab, _, err := Bidirectional(context.Background(), rgb(a), rgb(b), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.U, ab.U) || !slices.Equal(f.V, ab.V) {
		t.Error("Compute and Bidirectional's forward flow differ")
	}
}

// TestDisocclusionIoU checks that the consistency check on the computed
// flows finds the background a moving square uncovers: the pixels marked
// Disoccluded overlap the true region with intersection over union ≥ 0.8,
// away from the frame's edge (where background that pans into view is
// rightly marked too, but is not part of the square's disocclusion).
func TestDisocclusionIoU(t *testing.T) {
	cases := []struct {
		name                   string
		bx, by, sq, fx, fy, sd int
	}{
		{"right", 0, 0, 64, 24, 0, 1},
		{"down", 0, 0, 64, 0, 24, 2},
		{"left_down_panning", 2, -1, 64, -24, 8, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const size, edge = 160, 8
			s := movingSquare(size, size, c.bx, c.by, 48, 48, c.sq, c.fx, c.fy, uint64(c.sd))
			ab, ba, err := Bidirectional(context.Background(), s.a, s.b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			cls, err := Classify(ba, ab)
			if err != nil {
				t.Fatal(err)
			}
			var inter, union int
			for i, k := range cls {
				if x, y := i%size, i/size; x < edge || y < edge || x >= size-edge || y >= size-edge {
					continue
				}
				found := k == Disoccluded
				if found && s.disoccB[i] {
					inter++
				}
				if found || s.disoccB[i] {
					union++
				}
			}
			iou := float64(inter) / float64(union)
			if !(iou >= 0.8) {
				t.Errorf("disoccluded region IoU %.3f, want ≥ 0.8", iou)
			} else {
				t.Logf("disoccluded region IoU %.3f", iou)
			}
		})
	}
}

// TestComputeErrors checks that bad frames, bad options and a cancelled
// context give errors, not panics or wrong flows.
func TestComputeErrors(t *testing.T) {
	ok := Image{C: 1, H: 8, W: 8, Pix: make([]float32, 64)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		a, b Image
		o    Options
		want string
		is   error
	}{
		{"sizes differ", context.Background(), ok, Image{C: 1, H: 8, W: 9, Pix: make([]float32, 72)}, Options{}, "frames differ in size", nil},
		{"two channels", context.Background(), Image{C: 2, H: 8, W: 8, Pix: make([]float32, 128)}, ok, Options{}, "2 channels", nil},
		{"short pixels", context.Background(), ok, Image{C: 3, H: 8, W: 8, Pix: make([]float32, 64)}, Options{}, "has 64 values, want 192", nil},
		{"empty", context.Background(), Image{C: 1}, ok, Options{}, "outside 1x1", nil},
		{"huge", context.Background(), Image{C: 1, H: 1 << 20, W: 1 << 20}, ok, Options{}, "outside 1x1", nil},
		{"negative lambda", context.Background(), ok, ok, Options{Lambda: -1}, "Lambda", nil},
		{"tau too big", context.Background(), ok, ok, Options{Tau: 0.3}, "Tau", nil},
		{"scale 1", context.Background(), ok, ok, Options{Scale: 1}, "Scale", nil},
		{"NaN theta", context.Background(), ok, ok, Options{Theta: math.NaN()}, "Theta", nil},
		{"cancelled", cancelled, ok, ok, Options{}, "", context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compute(c.ctx, c.a, c.b, c.o)
			_, _, err2 := Bidirectional(c.ctx, c.a, c.b, c.o)
			for _, e := range []error{err, err2} {
				switch {
				case e == nil:
					t.Fatal("no error")
				case c.is != nil && !errors.Is(e, c.is):
					t.Errorf("error %q, want one wrapping %v", e, c.is)
				case c.want != "" && !contains(e.Error(), c.want):
					t.Errorf("error %q, want it to mention %q", e, c.want)
				}
			}
		})
	}
}

// TestFlatFrames checks that frames without texture (and non-finite
// pixels) give a zero flow rather than NaN.
func TestFlatFrames(t *testing.T) {
	a := Image{C: 1, H: 20, W: 30, Pix: make([]float32, 600)}
	b := Image{C: 1, H: 20, W: 30, Pix: make([]float32, 600)}
	for i := range a.Pix {
		a.Pix[i], b.Pix[i] = 0.5, 0.5
	}
	b.Pix[7] = float32(math.NaN())
	b.Pix[8] = float32(math.Inf(1))
	f, err := Compute(context.Background(), a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.U {
		if !(math.Abs(float64(f.U[i])) < 0.5) || !(math.Abs(float64(f.V[i])) < 0.5) {
			t.Fatalf("flow at %d is (%v, %v), want about 0", i, f.U[i], f.V[i])
		}
	}
}

// TestMedian3 checks the 3×3 median filter against sorting each window,
// with the border replicated, on values with many ties.
func TestMedian3(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, size := range [][2]int{{1, 1}, {2, 1}, {1, 3}, {5, 4}, {17, 33}} {
		w, h := size[0], size[1]
		src := newPlane(w, h)
		for i := range src.p {
			src.p[i] = float32(rng.IntN(5))
		}
		got := median3(src, rows{workers: 2})
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var win []float32
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						xx, yy := min(max(x+dx, 0), w-1), min(max(y+dy, 0), h-1)
						win = append(win, src.p[yy*w+xx])
					}
				}
				slices.Sort(win)
				if g := got.p[y*w+x]; g != win[4] {
					t.Fatalf("%dx%d at (%d, %d): median %v, want %v", w, h, x, y, g, win[4])
				}
			}
		}
	}
}

// TestRowsCoverage checks that the row bands cover every row exactly once
// for many heights and worker counts.
func TestRowsCoverage(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 7, 64} {
		for _, h := range []int{1, 15, 16, 33, 100, 1025} {
			seen := make([]int32, h)
			rows{workers: workers}.do(h, func(y0, y1 int) float64 {
				for y := y0; y < y1; y++ {
					seen[y]++ // bands are disjoint, so no two goroutines share an element
				}
				return 0
			})
			for y, n := range seen {
				if n != 1 {
					t.Fatalf("workers %d, h %d: row %d visited %d times", workers, h, y, n)
				}
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}
