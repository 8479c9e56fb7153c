package autodiff

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// sigmoidGrad is dy·y·(1−y), from the saved output.
func sigmoidGrad(b *builder, dy string, _ []bool) ([]string, error) {
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	slope := b.op("Mul", []string{y, b.op("Sub", []string{b.scalar(1), y})})
	return []string{b.op("Mul", []string{dy, slope})}, nil
}

// tanhGrad is dy·(1−y²), from the saved output.
func tanhGrad(b *builder, dy string, _ []bool) ([]string, error) {
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	slope := b.op("Sub", []string{b.scalar(1), b.op("Mul", []string{y, y})})
	return []string{b.op("Mul", []string{dy, slope})}, nil
}

// expGrad is dy·y, from the saved output.
func expGrad(b *builder, dy string, _ []bool) ([]string, error) {
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	return []string{b.op("Mul", []string{dy, y})}, nil
}

// sqrtGrad is dy/(2y), from the saved output.
func sqrtGrad(b *builder, dy string, _ []bool) ([]string, error) {
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	return []string{b.op("Div", []string{b.op("Mul", []string{dy, b.scalar(0.5)}), y})}, nil
}

func negGrad(b *builder, dy string, _ []bool) ([]string, error) {
	return []string{b.op("Neg", []string{dy})}, nil
}

// powGrad is dy·p·x^(p−1) for a constant exponent p (a square, the one
// exporters write for variances, is dy·2x).
func powGrad(b *builder, dy string, needs []bool) ([]string, error) {
	if len(needs) > 1 && needs[1] {
		return nil, fmt.Errorf("exponent %q depends on the input; only a constant exponent is supported", input(b.node, 1))
	}
	p, err := b.ix.constFloats(input(b.node, 1))
	if err != nil || len(p) != 1 {
		return nil, fmt.Errorf("exponent %q: want a constant float scalar", input(b.node, 1))
	}
	x, err := b.read(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	var slope string
	switch p[0] {
	case 1:
		return []string{dy}, nil
	case 2:
		slope = b.op("Mul", []string{x, b.scalar(2)})
	default:
		slope = b.op("Mul", []string{b.op("Pow", []string{x, b.scalar(p[0] - 1)}), b.scalar(p[0])})
	}
	return []string{b.op("Mul", []string{dy, slope})}, nil
}

// erfGrad is dy·2/√π·exp(−x²), from the saved input.
func erfGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, err := b.read(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	gauss := b.op("Exp", []string{b.op("Mul", []string{b.op("Mul", []string{x, x}), b.scalar(-1)})})
	slope := b.op("Mul", []string{gauss, b.scalar(float32(2 / math.Sqrt(math.Pi)))})
	return []string{b.op("Mul", []string{dy, slope})}, nil
}

// hardSigmoidGrad passes dy·alpha where the saved output lies strictly
// between 0 and 1, where the input was not clipped.
func hardSigmoidGrad(b *builder, dy string, _ []bool) ([]string, error) {
	alpha := onnxgraph.AttrFloat(b.node, "alpha", 0.2)
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	inside := b.op("And", []string{b.op("Greater", []string{y, b.scalar(0)}), b.op("Less", []string{y, b.scalar(1)})})
	return []string{b.op("Mul", []string{b.applyMask(dy, inside), b.scalar(alpha)})}, nil
}

// hardSwishGrad is dy times the slope of x·HardSigmoid(x) (alpha 1/6, beta
// 1/2), from the saved input: 0 below −3, 1 above 3 and (2x+3)/6 between.
// The output alone cannot tell: it is 0 both at x = 0 (slope 1/2) and
// below −3 (slope 0).
func hardSwishGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, err := b.read(input(b.node, 0))
	if err != nil {
		return nil, err
	}
	inner := b.op("Add", []string{b.op("Mul", []string{x, b.scalar(float32(1.0 / 3))}), b.scalar(0.5)})
	slope := b.op("Where", []string{b.op("Greater", []string{x, b.scalar(3)}), b.scalar(1), inner})
	slope = b.op("Where", []string{b.op("Less", []string{x, b.scalar(-3)}), b.scalar(0), slope})
	return []string{b.op("Mul", []string{dy, slope})}, nil
}

// castGrad passes the gradient through a Cast from float32 to float32,
// which exporters leave in graphs; any other Cast on a gradient path
// would change the gradient's type.
func castGrad(b *builder, dy string, _ []bool) ([]string, error) {
	if to := onnx.TensorProto_DataType(onnxgraph.AttrInt(b.node, "to", 0)); to != onnx.TensorProto_FLOAT {
		return nil, fmt.Errorf("Cast to %v on a gradient path: only float32 graphs are supported", to)
	}
	return []string{dy}, nil
}
