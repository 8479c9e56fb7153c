package record

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
	"gonum.org/v1/plot"
)

// decayTable is a typical run: costs falling over several decades.
func decayTable(n int) *CostTable {
	t := &CostTable{Terms: []string{"content:relu4_2", "content", "style", "tv", "total"}}
	for i := range n {
		c := 1e3 * math.Exp(-float64(i)/20)
		s := 1e7 * math.Exp(-float64(i)/5)
		tv := 50 + float64(i)
		t.Iterations = append(t.Iterations, i)
		t.Seconds = append(t.Seconds, float64(i)/2)
		t.Values = append(t.Values, []float64{c, c, s, tv, c + s + tv})
	}
	return t
}

func TestPlotCostsWritesPNG(t *testing.T) {
	flat := decayTable(30)
	for _, row := range flat.Values {
		row[1], row[2], row[3], row[4] = 5, 6, 0, 11 // tv switched off
	}
	diverged := decayTable(30)
	diverged.Values[29][4] = math.NaN()
	diverged.Values[28][2] = math.Inf(1)
	tests := []struct {
		name string
		t    *CostTable
		o    PlotOptions
	}{
		{"default size", decayTable(50), PlotOptions{}},
		{"requested size and title", decayTable(50), PlotOptions{Width: 321, Height: 123, Title: "cat.jpg in the style of wave.jpg"}},
		{"linear range, zero term left out", flat, PlotOptions{Width: 400, Height: 300}},
		{"non-finite values skipped", diverged, PlotOptions{Width: 400, Height: 300}},
		{"one row", decayTable(1), PlotOptions{Width: 200, Height: 150}},
		{"explicit terms", decayTable(10), PlotOptions{Width: 300, Height: 200, Terms: []string{"content:relu4_2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CostsPNGName)
			if err := PlotCosts(path, tc.t, tc.o); err != nil {
				t.Fatal(err)
			}
			img := testimg.ReadPNG(t, path)
			w, h := tc.o.Width, tc.o.Height
			if w == 0 {
				w, h = 960, 600
			}
			if img.Bounds() != image.Rect(0, 0, w, h) {
				t.Errorf("size %v, want %dx%d", img.Bounds().Size(), w, h)
			}
			if v := lumaVariance(img); v <= 0 {
				t.Errorf("plot is blank (luma variance %v)", v)
			}
		})
	}
}

func TestPlotCostsScale(t *testing.T) {
	narrow := decayTable(5) // style falls 1e7 -> 4.5e6: under two decades
	tests := []struct {
		name    string
		t       *CostTable
		terms   []string
		wantLog bool
	}{
		{"decades apart", decayTable(50), nil, true},
		{"within two decades", narrow, []string{"style"}, false},
		{"negative values", &CostTable{Terms: []string{"total"}, Iterations: []int{0, 1}, Values: [][]float64{{-1}, {1000}}}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := costPlot(tc.t, PlotOptions{Terms: tc.terms})
			if err != nil {
				t.Fatal(err)
			}
			_, isLog := p.Y.Scale.(plot.LogScale)
			if isLog != tc.wantLog {
				t.Errorf("log scale = %v, want %v", isLog, tc.wantLog)
			}
		})
	}
}

func TestPlotCostsErrors(t *testing.T) {
	zero := &CostTable{Terms: []string{"total"}, Iterations: []int{0}, Values: [][]float64{{0}}}
	tests := []struct {
		name string
		t    *CostTable
		o    PlotOptions
		want string
	}{
		{"unknown term", decayTable(3), PlotOptions{Terms: []string{"gram"}}, `no cost term "gram"`},
		{"no rows", &CostTable{Terms: []string{"total"}}, PlotOptions{}, "no finite"},
		{"only zeros", zero, PlotOptions{}, "no finite"},
		{"negative size", decayTable(3), PlotOptions{Width: -1, Height: 10}, "outside 1-8192"},
		{"huge size", decayTable(3), PlotOptions{Width: 100000, Height: 10}, "outside 1-8192"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CostsPNGName)
			err := PlotCosts(path, tc.t, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Error("a failed plot left a file")
			}
		})
	}
}

func lumaVariance(img image.Image) float64 {
	b := img.Bounds()
	var sum, sumSq, n float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			v := float64(r+g+bl) / 3
			sum += v
			sumSq += v * v
			n++
		}
	}
	mean := sum / n
	return sumSq/n - mean*mean
}

func BenchmarkPlotCosts(b *testing.B) {
	table := decayTable(1000)
	path := filepath.Join(b.TempDir(), CostsPNGName)
	for b.Loop() {
		if err := PlotCosts(path, table, PlotOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecadeTicks(t *testing.T) {
	tests := []struct {
		name      string
		lo, hi    float64
		wantTicks int
		labels    []string // the labelled ticks, in order
	}{
		{"few decades", 3e-5, 2e2, 7, []string{"0.0001", "0.001", "0.01", "0.1", "1", "10", "100"}},
		{"nine decades", 1e-4, 1e4, 9, []string{"0.0001", "0.01", "1", "100", "10000"}},
		{"twenty decades", 1e-10, 1e10, 21, []string{"1e-10", "1e-07", "0.0001", "0.1", "100", "100000", "1e+08"}},
		{"within a decade", 2, 5, 2, []string{"2", "5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := decadeTicks{}.Ticks(tc.lo, tc.hi)
			var labels []string
			for _, tk := range ticks {
				if tk.Label != "" {
					labels = append(labels, tk.Label)
				}
			}
			if len(ticks) != tc.wantTicks {
				t.Errorf("%d ticks, want %d", len(ticks), tc.wantTicks)
			}
			if strings.Join(labels, " ") != strings.Join(tc.labels, " ") {
				t.Errorf("labels %q, want %q", labels, tc.labels)
			}
		})
	}
}
