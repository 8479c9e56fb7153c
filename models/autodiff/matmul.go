package autodiff

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// matMulGrad gives dA = dY·Bᵀ and dB = Aᵀ·dY, summed over broadcast batch
// axes. A constant 2-D B (a Linear layer's weight) is transposed once
// into a new constant, so the backward MatMul reads pre-packed weights as
// the forward does; other operands are transposed at run time.
func matMulGrad(b *builder, dy string, needs []bool) ([]string, error) {
	a, c, y, err := operandShapes(b)
	if err != nil {
		return nil, err
	}
	if len(a) < 2 || len(c) < 2 {
		return nil, fmt.Errorf("operands %v and %v: 1-D MatMul operands are not supported", a, c)
	}
	batch := y[:len(y)-2]
	out := make([]string, 2)
	if needs[0] {
		bt, err := b.transposedOperand(input(b.node, 1), c)
		if err != nil {
			return nil, err
		}
		g := b.op("MatMul", []string{dy, bt})
		out[0] = b.reduceTo(g, slices.Concat(batch, a[len(a)-2:]), a)
	}
	if needs[1] {
		at, err := b.transposedOperand(input(b.node, 0), a)
		if err != nil {
			return nil, err
		}
		g := b.op("MatMul", []string{at, dy})
		out[1] = b.reduceTo(g, slices.Concat(batch, c[len(c)-2:]), c)
	}
	return out, nil
}

// transposedOperand returns a MatMul operand with its last two axes
// swapped: a new constant for a 2-D float constant, else a Transpose of
// the value the backward pass reads.
func (b *builder) transposedOperand(name string, shape []int64) (string, error) {
	r := len(shape)
	if t := b.ix.constant(name); t != nil && r == 2 && onnx.TensorProto_DataType(t.GetDataType()) == onnx.TensorProto_FLOAT {
		if cached, ok := b.flipped[name+"\x00T"]; ok {
			return cached, nil
		}
		raw := t.GetRawData()
		if len(raw) == 0 {
			v, err := onnxgraph.Float32Data(t)
			if err != nil {
				return "", fmt.Errorf("operand %q: %w", name, err)
			}
			raw = onnxgraph.Floats32("", nil, v).GetRawData()
		}
		rows, cols := int(shape[0]), int(shape[1])
		if len(raw) != 4*rows*cols {
			return "", fmt.Errorf("operand %q: %d bytes for shape %v", name, len(raw), shape)
		}
		// Like the flipped convolution weights, the copy lives in the
		// builder's slab, beside the other weights the backward pass keeps.
		out := b.weights.Bytes(len(raw))
		for i := range rows {
			for j := range cols {
				copy(out[4*(j*rows+i):4*(j*rows+i)+4], raw[4*(i*cols+j):])
			}
		}
		c := b.fresh(name + "_T")
		b.bwd.Initializer = append(b.bwd.Initializer, &onnx.TensorProto{Name: c, Dims: []int64{int64(cols), int64(rows)}, DataType: int32(onnx.TensorProto_FLOAT), RawData: out})
		b.flipped[name+"\x00T"] = c
		return c, nil
	}
	v, err := b.read(name)
	if err != nil {
		return "", err
	}
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
	return b.op("Transpose", []string{v}, onnxgraph.Ints("perm", perm...)), nil
}
