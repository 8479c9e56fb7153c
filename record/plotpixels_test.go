package record

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
	"gonum.org/v1/plot/plotutil"
)

// The tests in this file read costs.png back and check what is drawn:
// where each curve's pixels are, against where its values map, and where
// the axes are. They know the plot's colours (plotutil's, in term order)
// and nothing of its layout: the data area is found from the image.

// curvePixels returns, for every column of img, the rows whose pixel is
// the colour c (within the tolerance antialiasing needs).
func curvePixels(img image.Image, c color.Color) map[int][]int {
	cr, cg, cb, _ := c.RGBA()
	near := func(a, b uint32) bool { return math.Abs(float64(a>>8)-float64(b>>8)) <= 24 }
	cols := map[int][]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, cr) && near(g, cg) && near(bl, cb) {
				cols[x] = append(cols[x], y)
			}
		}
	}
	return cols
}

// firstRun returns the first run of columns that hold pixels of cols,
// allowing gaps of a few columns where another curve is drawn over this
// one: a curve runs from its first iteration to its last, and the legend's
// sample of the same colour lies further right, past a wide gap.
func firstRun(t *testing.T, cols map[int][]int, width int) (x0, x1 int) {
	t.Helper()
	x0 = -1
	for x := range width {
		if len(cols[x]) > 0 {
			x0 = x
			break
		}
	}
	if x0 < 0 {
		t.Fatal("no pixel of the curve's colour")
	}
	const maxGap = 6
	x1 = x0
	for gap := 1; gap <= maxGap; gap++ {
		if len(cols[x1+gap]) > 0 {
			x1, gap = x1+gap, 0
		}
	}
	return x0, x1
}

// hasNear reports whether one of the pixel sets holds a pixel within tol
// of (x, y).
func hasNear(x, y, tol float64, sets ...map[int][]int) bool {
	for _, cols := range sets {
		for c := int(math.Floor(x - tol)); c <= int(math.Ceil(x+tol)); c++ {
			for _, r := range cols[c] {
				if math.Hypot(float64(c)-x, float64(r)-y) <= tol {
					return true
				}
			}
		}
	}
	return false
}

// TestPlotCostsDrawsTheValues draws known series and checks that every
// value lands where the axes map it. The first term is monotone over the
// whole range of values drawn, so its first point marks the data area's
// top left corner and its last the bottom right; every point of every
// curve must then lie at its linear (or, on a log axis, logarithmic)
// position within that box, weights applied.
func TestPlotCostsDrawsTheValues(t *testing.T) {
	const n = 41
	table := func(cols ...func(i int) float64) *CostTable {
		ct := &CostTable{Terms: []string{"total", "content", "style"}[:len(cols)]}
		for i := range n {
			row := make([]float64, len(cols))
			for j, f := range cols {
				row[j] = f(i)
			}
			ct.Iterations = append(ct.Iterations, 10+i) // iterations need not start at 0
			ct.Values = append(ct.Values, row)
		}
		return ct
	}
	tests := []struct {
		name    string
		t       *CostTable
		o       PlotOptions
		log     bool
		weights []float64 // multiplier per term, as drawn
	}{
		{
			name: "linear, a straight line and a parabola",
			t: table(
				func(i int) float64 { return 200 - 3*float64(i) },                      // 200 -> 80
				func(i int) float64 { return 80 + 120*math.Pow(float64(i-20)/20, 2) }), // 200 -> 80 -> 200
			o: PlotOptions{Width: 500, Height: 400, Terms: []string{"total", "content"}},
		},
		{
			name: "log, exponential decays are straight lines",
			t: table(
				func(i int) float64 { return 1e6 * math.Pow(10, -float64(i)/10) },  // 1e6 -> 1e2
				func(i int) float64 { return 1e4 * math.Pow(10, -float64(i)/40) }), // 1e4 -> 1e3
			o:   PlotOptions{Width: 600, Height: 400, Terms: []string{"total", "content"}},
			log: true,
		},
		{
			name: "weights scale the curve drawn",
			t: table(
				func(i int) float64 { return 1000 - 15*float64(i) },  // 1000 -> 400
				func(i int) float64 { return 400 - 2.5*float64(i) }), // drawn ×2: 800 -> 600
			o:       PlotOptions{Width: 500, Height: 400, Terms: []string{"total", "content"}, Weights: map[string]float64{"content": 2}},
			weights: []float64{1, 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CostsPNGName)
			if err := PlotCosts(path, tc.t, tc.o); err != nil {
				t.Fatal(err)
			}
			img := testimg.ReadPNG(t, path)
			curves := make([][]float64, len(tc.o.Terms))
			lo, hi := math.Inf(1), math.Inf(-1)
			for k, name := range tc.o.Terms {
				col, _ := tc.t.Column(name)
				w := 1.0
				if tc.weights != nil {
					w = tc.weights[k]
				}
				for _, v := range col {
					curves[k] = append(curves[k], w*v)
					lo, hi = min(lo, w*v), max(hi, w*v)
				}
			}
			scale := func(v float64) float64 { return v }
			if tc.log {
				scale = math.Log10
			}

			// The first curve is monotone and spans [lo, hi], which the
			// others stay inside of (by construction of the tables), so
			// that no other curve hides its ends.
			first := curves[0]
			falling := first[0] > first[n-1]
			if !(first[0] == hi && first[n-1] == lo) && !(first[0] == lo && first[n-1] == hi) {
				t.Fatalf("test set-up: the first curve runs %v -> %v, not over [%v, %v]", first[0], first[n-1], lo, hi)
			}
			ref := curvePixels(img, plotutil.Color(0))
			x0, x1 := firstRun(t, ref, img.Bounds().Dx())
			yAt := func(x int, top bool) float64 {
				rows := ref[x]
				y := rows[0]
				for _, r := range rows {
					if (top && r < y) || (!top && r > y) {
						y = r
					}
				}
				return float64(y)
			}
			// The line's ends are 1.5 points wide: the pixel centre of its
			// end is half a line width inside the run of its pixels.
			const halfWidth = 1.0
			yTop, yBottom := yAt(x0, falling)+halfWidth, yAt(x1, !falling)-halfWidth
			if !falling {
				yTop, yBottom = yAt(x1, true)+halfWidth, yAt(x0, false)-halfWidth
			}
			width, height := float64(x1-x0), yBottom-yTop
			b := img.Bounds()
			if width < 0.6*float64(b.Dx()) || height < 0.6*float64(b.Dy()) {
				t.Fatalf("data area %.0fx%.0f px of a %dx%d image: too small to be the plot's", width, height, b.Dx(), b.Dy())
			}
			it0, it1 := float64(tc.t.Iterations[0]), float64(tc.t.Iterations[n-1])
			pixels := make([]map[int][]int, len(curves))
			for k := range curves {
				pixels[k] = curvePixels(img, plotutil.Color(k))
			}
			for k, values := range curves {
				for i, v := range values {
					x := float64(x0) + (float64(tc.t.Iterations[i])-it0)/(it1-it0)*width
					y := yTop + (scale(hi)-scale(v))/(scale(hi)-scale(lo))*height
					// Where curves cross, the one drawn later covers the
					// point.
					if !hasNear(x, y, 3, pixels[k:]...) {
						t.Errorf("%s at iteration %d = %g: no pixel of its colour within 3 px of (%.1f, %.1f)",
							tc.o.Terms[k], tc.t.Iterations[i], v, x, y)
					}
				}
			}
			checkAxes(t, img, x0, x1, yTop, yBottom)
		})
	}
}

// checkAxes checks that the axes are drawn as dark lines (darker than the
// light grey grid, in no curve's colour) just outside the data area: a row below it spanning its width (iterations) and a column
// left of it spanning its height (costs), and that no such line crosses
// the data area itself.
func checkAxes(t *testing.T, img image.Image, x0, x1 int, yTop, yBottom float64) {
	t.Helper()
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r>>8 < 170 && g>>8 < 170 && b>>8 < 170
	}
	span := func(n int, at func(i int) bool) float64 {
		c := 0
		for i := range n {
			if at(i) {
				c++
			}
		}
		return float64(c) / float64(n)
	}
	top, bottom := int(math.Round(yTop)), int(math.Round(yBottom))
	axisRow := -1
	for y := bottom + 1; y <= bottom+20 && axisRow < 0; y++ {
		if span(x1-x0+1, func(i int) bool { return dark(x0+i, y) }) > 0.98 {
			axisRow = y
		}
	}
	if axisRow < 0 {
		t.Errorf("no dark line across the data area's width within 20 px below it (row %d): the iteration axis is missing or misplaced", bottom)
	}
	axisCol := -1
	for x := x0 - 1; x >= x0-20 && axisCol < 0; x-- {
		if span(bottom-top+1, func(i int) bool { return dark(x, top+i) }) > 0.98 {
			axisCol = x
		}
	}
	if axisCol < 0 {
		t.Errorf("no dark line along the data area's height within 20 px left of it (column %d): the cost axis is missing or misplaced", x0)
	}
	for y := top + 3; y < bottom-3; y++ {
		if span(x1-x0+1, func(i int) bool { return dark(x0+i, y) }) > 0.5 {
			t.Errorf("row %d inside the data area is a dark line", y)
			break
		}
	}
}
