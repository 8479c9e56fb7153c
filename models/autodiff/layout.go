package autodiff

import (
	"fmt"
	"math"
	"slices"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// transposeGrad transposes the gradient back with the inverse permutation.
func transposeGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, err := b.shape(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	perm, err := transposePerm(b.node, len(x))
	if err != nil {
		return nil, err
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	return []string{b.op("Transpose", []string{dy}, onnxgraph.Ints("perm", inv...))}, nil
}

// expandGrad sums the gradient over the broadcast axes.
func expandGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, y, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	return []string{b.reduceTo(dy, y, x)}, nil
}

// globalAveragePoolGrad spreads each channel's gradient evenly over the
// spatial positions with Expand, the fastest of Expand, a broadcasting Mul
// and Resize (BenchmarkGlobalPoolGrad).
func globalAveragePoolGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	if len(x) < 3 {
		return nil, fmt.Errorf("input %v: want rank 3 or more", x)
	}
	count := int64(1)
	for _, d := range x[2:] {
		count *= d
	}
	g := b.op("Mul", []string{dy, b.scalar(float32(1 / float64(count)))})
	return []string{b.op("Expand", []string{g, b.ints(x...)})}, nil
}

// reduceGrad serves ReduceSum and ReduceMean: the gradient, divided by the
// count for a mean, spread over the reduced axes.
func reduceGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	axes, noop, err := reduceAxes(b.ix, b.node, len(x))
	if err != nil {
		return nil, err
	}
	if noop {
		return []string{dy}, nil
	}
	kept := slices.Clone(x)
	count := int64(1)
	for _, a := range axes {
		count *= x[a]
		kept[a] = 1
	}
	g := dy
	if b.node.GetOpType() == "ReduceMean" {
		g = b.op("Mul", []string{g, b.scalar(float32(1 / float64(count)))})
	}
	if onnxgraph.AttrInt(b.node, "keepdims", 1) == 0 {
		g = b.op("Reshape", []string{g, b.ints(kept...)})
	}
	return []string{b.op("Expand", []string{g, b.ints(x...)})}, nil
}

// splitGrad concatenates the outputs' gradients, with zeros for outputs
// no seed depends on.
func splitGrad(b *builder, dys []string, _ []bool) ([]string, error) {
	x, err := b.shape(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(onnxgraph.AttrInt(b.node, "axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(dys))
	for j, d := range dys {
		if d == "" {
			s, err := b.shape(output(b.node, j))
			if err != nil {
				return nil, err
			}
			d = b.op("ConstantOfShape", []string{b.ints(s...)})
		}
		parts[j] = d
	}
	if len(parts) == 1 {
		return []string{parts[0]}, nil
	}
	return []string{b.op("Concat", parts, onnxgraph.Int("axis", int64(axis)))}, nil
}

// sliceGrad places the gradient back where a Slice with constant
// parameters took its elements and fills the rest with zeros. Along an
// axis with a step other than 1, the gradient is reversed for a negative
// step, then spread out by interleaving zeros (Reshape and Pad), so that
// one Pad places everything at the end.
func sliceGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, y, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	sl, err := sliceParams(b.ix, b.node, x)
	if err != nil {
		return nil, err
	}
	r := len(x)
	pads := make([]int64, 2*r)
	g := dy
	cur := slices.Clone(y)
	for _, s := range sl {
		a := s.axis
		if s.count == 0 {
			return []string{b.op("ConstantOfShape", []string{b.ints(x...)})}, nil
		}
		first, step := s.start, s.step
		if step < 0 {
			g = b.op("Slice", []string{g, b.ints(-1), b.ints(math.MinInt64), b.ints(int64(a)), b.ints(-1)})
			first, step = s.start+(s.count-1)*s.step, -s.step
		}
		if step > 1 && s.count > 1 {
			// [.., n, ..] -> [.., n, 1, ..] -> [.., n, step, ..] -> [.., n·step, ..],
			// then drop the zeros after the last element.
			wide := slices.Insert(slices.Clone(cur), a+1, 1)
			g = b.op("Reshape", []string{g, b.ints(wide...)})
			p := make([]int64, 2*len(wide))
			p[len(wide)+a+1] = step - 1
			g = b.op("Pad", []string{g, b.ints(p...)})
			cur[a] = s.count * step
			g = b.op("Reshape", []string{g, b.ints(cur...)})
			span := (s.count-1)*step + 1
			g = b.op("Slice", []string{g, b.ints(0), b.ints(span), b.ints(int64(a))})
			cur[a] = span
		}
		pads[a] = first
		pads[r+a] = x[a] - first - cur[a]
	}
	if slices.ContainsFunc(pads, func(p int64) bool { return p != 0 }) {
		g = b.op("Pad", []string{g, b.ints(pads...)})
	}
	return []string{g}, nil
}

// maxOneHot bounds the one-hot matrix of gatherGrad (64 MB of float32):
// Gathers of channels or positions need far less.
const maxOneHot = 1 << 24

// gatherGrad scatters the gradient back to the elements a Gather with
// constant indices read. A scalar index or a run of consecutive indices is
// a Pad; any other indices (repeats included, which add up) multiply by a
// one-hot matrix along the gathered axis.
func gatherGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	a, err := normAxis(onnxgraph.AttrInt(b.node, "axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	t := b.ix.constant(input(b.node, 1))
	if t == nil {
		return nil, fmt.Errorf("indices %q are computed at run time; only constant indices are supported", input(b.node, 1))
	}
	idx, err := onnxgraph.Int64Data(t)
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	d := x[a]
	for i, v := range idx {
		if v < -d || v >= d {
			return nil, fmt.Errorf("index %d out of range for axis %d of %v", v, a, x)
		}
		if v < 0 {
			idx[i] = v + d
		}
	}
	k := int64(len(idx))
	grouped := slices.Clone(x)
	grouped[a] = k
	g := b.op("Reshape", []string{dy, b.ints(grouped...)})
	consecutive := true
	for i := range idx {
		consecutive = consecutive && idx[i] == idx[0]+int64(i)
	}
	if consecutive && k > 0 {
		pads := make([]int64, 2*len(x))
		pads[a], pads[len(x)+a] = idx[0], d-idx[0]-k
		return []string{b.op("Pad", []string{g, b.ints(pads...)})}, nil
	}
	if k*d > maxOneHot {
		return nil, fmt.Errorf("%d indices into %d elements: a one-hot matrix that large is not supported", k, d)
	}
	oneHot := make([]float32, k*d)
	for i, v := range idx {
		oneHot[int64(i)*d+v] = 1
	}
	p := b.floats("one_hot", []int64{k, d}, oneHot)
	last := len(x) - 1
	if a == last {
		return []string{b.op("MatMul", []string{g, p})}, nil
	}
	perm := make([]int64, 0, len(x))
	for i := range len(x) {
		if i != a {
			perm = append(perm, int64(i))
		}
	}
	perm = append(perm, int64(a))
	inv := make([]int64, len(perm))
	for i, q := range perm {
		inv[q] = int64(i)
	}
	g = b.op("Transpose", []string{g}, onnxgraph.Ints("perm", perm...))
	g = b.op("MatMul", []string{g, p})
	return []string{b.op("Transpose", []string{g}, onnxgraph.Ints("perm", inv...))}, nil
}
