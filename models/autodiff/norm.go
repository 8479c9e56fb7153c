package autodiff

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// layerNormGrad differentiates LayerNormalization with constant scale and
// bias over the axes from axis on: with x̂ = (x−mean)·invstd and
// g = dy·scale, dx = invstd·(g − mean(g) − x̂·mean(g·x̂)), the means over
// the normalised axes. The forward node is made to output its Mean and
// InvStdDev (a value per normalised group), so the backward pass reads
// them rather than recomputing two reductions over x.
func layerNormGrad(b *builder, dy string, needs []bool) ([]string, error) {
	for j := 1; j < len(needs); j++ {
		if needs[j] {
			return nil, fmt.Errorf("parameter %q depends on the input; only constant scale and bias are supported", input(b.node, j))
		}
	}
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(onnxgraph.AttrInt(b.node, "axis", -1), len(x))
	if err != nil {
		return nil, err
	}
	mean, invStd, err := b.layerNormStats(x, axis)
	if err != nil {
		return nil, err
	}
	xs, err := b.read(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	scale, err := b.read(input(b.node, 1))
	if err != nil {
		return nil, err
	}
	axes := make([]int64, 0, len(x)-axis)
	for i := axis; i < len(x); i++ {
		axes = append(axes, int64(i))
	}
	avg := func(t string) string {
		return b.op("ReduceMean", []string{t}, onnxgraph.Ints("axes", axes...), onnxgraph.Int("keepdims", 1))
	}
	xhat := b.op("Mul", []string{b.op("Sub", []string{xs, mean}), invStd})
	g := b.op("Mul", []string{dy, scale})
	centred := b.op("Sub", []string{g, avg(g)})
	dx := b.op("Sub", []string{centred, b.op("Mul", []string{xhat, avg(b.op("Mul", []string{g, xhat}))})})
	return []string{b.op("Mul", []string{dx, invStd})}, nil
}

// layerNormStats makes the forward copy of b.node output its Mean and
// InvStdDev, unless it already does, and returns their saved names.
func (b *builder) layerNormStats(x []int64, axis int) (mean, invStd string, err error) {
	stat := slices.Clone(x)
	for i := axis; i < len(x); i++ {
		stat[i] = 1
	}
	f := b.fwdNode
	names := make([]string, 2)
	for j := range names {
		if o := output(b.node, 1+j); o != "" {
			names[j] = o
			continue
		}
		names[j] = b.fresh(output(b.node, 0) + []string{"_mean", "_inv_std"}[j])
		for len(f.Output) <= 1+j {
			f.Output = append(f.Output, "")
		}
		f.Output[1+j] = names[j]
		b.shapes[names[j]] = slices.Clone(stat)
	}
	for _, n := range names {
		b.save(n, onnx.TensorProto_FLOAT)
	}
	return names[0], names[1], nil
}
