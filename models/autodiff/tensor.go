package autodiff

import (
	"fmt"
	"math"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// concatGrad splits the gradient back into the operands' extents.
func concatGrad(b *builder, dy string, needs []bool) ([]string, error) {
	y, err := b.shape(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(onnxgraph.AttrInt(b.node, "axis", 0), len(y))
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(needs))
	for j := range needs {
		s, err := b.shape(input(b.node, j))
		if err != nil {
			return nil, err
		}
		sizes[j] = s[axis]
	}
	if len(sizes) == 1 {
		return []string{dy}, nil
	}
	return b.opN("Split", []string{dy, b.ints(sizes...)}, len(sizes), onnxgraph.Int("axis", int64(axis))), nil
}

// padGrad undoes a Pad: constant padding drops the padded border (and
// restores cropped parts as zeros); reflect and edge padding also fold the
// border's gradient back onto the elements it copied.
func padGrad(b *builder, dy string, needs []bool) ([]string, error) {
	if len(needs) > 2 && needs[2] {
		return nil, fmt.Errorf("constant_value %q depends on the input; only a constant value is supported", input(b.node, 2))
	}
	x, y, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	pads, err := padAmounts(b.ix, b.node, len(x))
	if err != nil {
		return nil, err
	}
	r := len(x)
	mode := onnxgraph.AttrString(b.node, "mode", "constant")
	switch mode {
	case "constant":
		var starts, ends, axes []int64
		restore := make([]int64, 2*r)
		crops := false
		for i := range r {
			begin, end := pads[i], pads[r+i]
			if begin > 0 || end > 0 {
				starts = append(starts, max(begin, 0))
				ends = append(ends, y[i]-max(end, 0))
				axes = append(axes, int64(i))
			}
			restore[i], restore[r+i] = max(-begin, 0), max(-end, 0)
			crops = crops || begin < 0 || end < 0
		}
		g := dy
		if len(axes) > 0 {
			g = b.op("Slice", []string{g, b.ints(starts...), b.ints(ends...), b.ints(axes...)})
		}
		if crops {
			g = b.op("Pad", []string{g, b.ints(restore...)})
		}
		return []string{g}, nil
	case "reflect", "edge":
		g := dy
		for i := range r {
			begin, end := pads[i], pads[r+i]
			if begin < 0 || end < 0 {
				return nil, fmt.Errorf("negative pads %v in %s mode are not supported", pads, mode)
			}
			if begin == 0 && end == 0 {
				continue
			}
			if mode == "reflect" && (begin >= x[i] || end >= x[i]) {
				return nil, fmt.Errorf("reflect pads %v need to be smaller than the input %v", pads, x)
			}
			g = b.foldPad(g, mode, i, r, x[i], begin, end)
		}
		return []string{g}, nil
	}
	return nil, fmt.Errorf("pad mode %q is not supported (want constant, reflect or edge)", mode)
}

// foldPad returns the gradient of one axis's reflect or edge padding: the
// centre plus every border element's gradient added onto the element it
// copied. n is the axis's input length.
func (b *builder) foldPad(g, mode string, axis, rank int, n, begin, end int64) string {
	ax := b.ints(int64(axis))
	slice := func(start, stop, step int64) string {
		return b.op("Slice", []string{g, b.ints(start), b.ints(stop), ax, b.ints(step)})
	}
	place := func(t string, before, after int64) string {
		pads := make([]int64, 2*rank)
		pads[axis], pads[rank+axis] = before, after
		return b.op("Pad", []string{t, b.ints(pads...)})
	}
	parts := []string{slice(begin, begin+n, 1)}
	switch mode {
	case "reflect":
		// Padded element begin-1-j copies input j+1, and element
		// begin+n+j copies input n-2-j: reversed slices line them up.
		if begin > 0 {
			parts = append(parts, place(slice(begin-1, math.MinInt64, -1), 1, n-1-begin))
		}
		if end > 0 {
			parts = append(parts, place(slice(begin+n+end-1, begin+n-1, -1), n-1-end, 1))
		}
	case "edge":
		sum := func(t string) string { return b.op("ReduceSum", []string{t, ax}) }
		if begin > 0 {
			parts = append(parts, place(sum(slice(0, begin, 1)), 0, n-1))
		}
		if end > 0 {
			parts = append(parts, place(sum(slice(begin+n, begin+n+end, 1)), n-1, 0))
		}
	}
	return b.sum(parts, "")
}
