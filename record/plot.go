package record

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/nst-project/nst/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// defaultPlotTerms are the curves PlotCosts draws unless told otherwise: the
// weighted totals, not every layer's term.
var defaultPlotTerms = []string{"total", "content", "style", "tv"}

// PlotOptions controls PlotCosts.
type PlotOptions struct {
	// Width and Height are the image size in pixels, at most 8192 each;
	// zero means 960x600.
	Width, Height int
	// Terms are the cost terms to draw; nil means the weighted totals
	// (total, content, style, tv) the table has.
	Terms []string
	// Title is drawn above the plot when not empty.
	Title string
	// Weights multiply the named terms before they are drawn, so that the
	// curves show what each term adds to the total (α·content, β·style);
	// the legend names the weight.
	Weights map[string]float64
}

// maxPlotSide bounds the plot's size: a chart needs no more, and a typo in
// a size should not allocate gigabytes.
const maxPlotSide = 8192

// logSpan is the ratio of largest to smallest value from which the cost axis
// switches to a log scale: costs typically fall by orders of magnitude, and
// on a linear axis everything after the first iterations looks flat.
const logSpan = 100

// PlotCosts draws the cost curves of t against iteration and writes them to
// path as a PNG image, atomically. A term that is zero throughout (switched
// off) is left out. The cost axis is logarithmic when every value drawn is
// positive and they span at least two decades.
func PlotCosts(path string, t *CostTable, o PlotOptions) error {
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = 960, 600
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > maxPlotSide || o.Height > maxPlotSide {
		return fmt.Errorf("plot costs to %s: size %dx%d is outside 1-%d pixels a side", path, o.Width, o.Height, maxPlotSide)
	}
	p, legend, err := costPlot(t, o)
	if err != nil {
		return fmt.Errorf("plot costs to %s: %w", path, err)
	}
	c := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, o.Width, o.Height))))
	dc := draw.New(c)
	// The legend gets its own strip on the right: inside the axes it would
	// hide the curves, which fill the whole plot on a log scale.
	gap := vg.Points(8)
	r := legend.Rectangle(dc)
	strip := r.Max.X - r.Min.X + 2*gap
	p.Draw(draw.Crop(dc, 0, -strip, 0, 0))
	top := gap
	if o.Title != "" {
		top += p.Title.TextStyle.Rectangle(o.Title).Size().Y + p.Title.Padding
	}
	legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-strip+gap, -gap, 0, -top))
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("plot costs: %w", err)
	}
	return nil
}

// costPlot builds the plot of the chosen terms of t and its legend.
func costPlot(t *CostTable, o PlotOptions) (*plot.Plot, plot.Legend, error) {
	terms := o.Terms
	if terms == nil {
		for _, name := range defaultPlotTerms {
			if slices.Contains(t.Terms, name) {
				terms = append(terms, name)
			}
		}
	}
	type curve struct {
		name string
		xys  plotter.XYs
	}
	var curves []curve
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, name := range terms {
		col, ok := t.Column(name)
		if !ok {
			return nil, plot.Legend{}, fmt.Errorf("no cost term %q (have %q)", name, t.Terms)
		}
		var xys plotter.XYs
		allZero := true
		for i, v := range col {
			// plotter rejects NaN and infinities; a diverged iteration
			// simply leaves a gap.
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if w, ok := o.Weights[name]; ok {
				v *= w
			}
			xys = append(xys, plotter.XY{X: float64(t.Iterations[i]), Y: v})
			allZero = allZero && v == 0
		}
		if len(xys) == 0 || allZero {
			continue
		}
		for _, xy := range xys {
			lo, hi = min(lo, xy.Y), max(hi, xy.Y)
		}
		label := name
		if w, ok := o.Weights[name]; ok {
			label = fmt.Sprintf("%g·%s", w, name)
		}
		curves = append(curves, curve{label, xys})
	}
	if len(curves) == 0 {
		return nil, plot.Legend{}, errors.New("no finite, non-zero costs to plot")
	}

	p := plot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "iteration"
	p.Y.Label.Text = "cost"
	if lo > 0 && hi/lo >= logSpan {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decadeTicks{}
		p.Y.Label.Text = "cost (log scale)"
	}
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	for i, c := range curves {
		line, err := plotter.NewLine(c.xys)
		if err != nil {
			return nil, plot.Legend{}, fmt.Errorf("term %q: %w", c.name, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		legend.Add(c.name, line)
	}
	return p, legend, nil
}

// maxDecadeLabels bounds the labelled ticks on a log axis; a run's costs can
// span twenty decades, and a label for each would overlap.
const maxDecadeLabels = 8

// decadeTicks marks the powers of ten within an axis's range and labels
// every first, second, ... of them so that at most maxDecadeLabels carry a
// label. plot.LogTicks computes the powers with math.Pow, which prints 1e-05
// as 9.999999999999999e-06.
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	// The tolerance keeps exact powers of ten, whose logarithms may come out
	// a rounding error off, inside the range.
	const eps = 1e-9
	first := int(math.Ceil(math.Log10(lo) - eps))
	last := int(math.Floor(math.Log10(hi) + eps))
	if first > last {
		// Within one decade: label the ends.
		return []plot.Tick{
			{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)},
			{Value: hi, Label: strconv.FormatFloat(hi, 'g', 3, 64)},
		}
	}
	step := (last - first + maxDecadeLabels) / maxDecadeLabels // ceil(count/max)
	var ticks []plot.Tick
	for e := first; e <= last; e++ {
		t := plot.Tick{Value: math.Pow10(e)}
		if (e-first)%step == 0 {
			t.Label = strconv.FormatFloat(t.Value, 'g', -1, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}
