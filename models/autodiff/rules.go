package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// gradRule differentiates one op. Only output 0 of a supported op carries
// a gradient (MaxPool's indices and Dropout's mask do not), unless the rule
// sets gradN.
type gradRule struct {
	// inputs lists the inputs a gradient can flow into; nil means all.
	// Integer inputs such as Reshape's shape or Pad's pads are left out,
	// so that a shape computed from the input does not put its ops on the
	// gradient path.
	inputs []int
	// grad appends the backward nodes for b.node given dy = dJ/d(output 0)
	// and returns dJ/d(input j) for every j with needs[j] set.
	grad func(b *builder, dy string, needs []bool) ([]string, error)
	// gradN, when set instead of grad, serves ops whose every output
	// carries a gradient (Split): dys[j] is dJ/d(output j), "" for an
	// output no seed depends on (at least one is set).
	gradN func(b *builder, dys []string, needs []bool) ([]string, error)
}

var gradRules map[string]gradRule

func init() {
	gradRules = map[string]gradRule{
		"Conv":               {grad: convGrad},
		"Relu":               {inputs: []int{0}, grad: reluGrad},
		"LeakyRelu":          {inputs: []int{0}, grad: leakyReluGrad},
		"Clip":               {grad: clipGrad},
		"MaxPool":            {inputs: []int{0}, grad: maxPoolGrad},
		"AveragePool":        {inputs: []int{0}, grad: averagePoolGrad},
		"BatchNormalization": {grad: batchNormGrad},
		"Add":                {grad: addSubGrad},
		"Sub":                {grad: addSubGrad},
		"Mul":                {grad: mulGrad},
		"Div":                {grad: divGrad},
		"Sum":                {grad: sumGrad},
		"Concat":             {grad: concatGrad},
		"Pad":                {inputs: []int{0, 2}, grad: padGrad},
		"Identity":           {grad: identityGrad},
		"Dropout":            {inputs: []int{0}, grad: dropoutGrad},
		"Flatten":            {inputs: []int{0}, grad: reshapeGrad},
		"Reshape":            {inputs: []int{0}, grad: reshapeGrad},
		"Squeeze":            {inputs: []int{0}, grad: reshapeGrad},
		"Unsqueeze":          {inputs: []int{0}, grad: reshapeGrad},
		"Sigmoid":            {grad: sigmoidGrad},
		"HardSigmoid":        {grad: hardSigmoidGrad},
		"HardSwish":          {grad: hardSwishGrad},
		"Tanh":               {grad: tanhGrad},
		"Erf":                {grad: erfGrad},
		"Exp":                {grad: expGrad},
		"Sqrt":               {grad: sqrtGrad},
		"Neg":                {grad: negGrad},
		"Pow":                {grad: powGrad},
		"Cast":               {grad: castGrad},
		"GlobalAveragePool":  {grad: globalAveragePoolGrad},
		"ReduceMean":         {inputs: []int{0}, grad: reduceGrad},
		"ReduceSum":          {inputs: []int{0}, grad: reduceGrad},
		"Transpose":          {grad: transposeGrad},
		"MatMul":             {grad: matMulGrad},
		"LayerNormalization": {grad: layerNormGrad},
		"Slice":              {inputs: []int{0}, grad: sliceGrad},
		"Split":              {inputs: []int{0}, gradN: splitGrad},
		"Gather":             {inputs: []int{0}, grad: gatherGrad},
		"Expand":             {inputs: []int{0}, grad: expandGrad},
	}
}

// ioShapes returns the static shapes of b.node's input 0 and output 0.
func ioShapes(b *builder) (x, y []int64, err error) {
	if x, err = b.shape(input(b.node, 0)); err != nil {
		return nil, nil, err
	}
	if y, err = b.shape(output(b.node, 0)); err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

func identityGrad(_ *builder, dy string, _ []bool) ([]string, error) {
	return []string{dy}, nil
}

// dropoutGrad passes the gradient through: Dropout is the identity in
// inference, which is all this package differentiates.
func dropoutGrad(b *builder, dy string, _ []bool) ([]string, error) {
	if name := input(b.node, 2); name != "" {
		t := b.ix.constant(name)
		if t == nil {
			return nil, fmt.Errorf("training_mode %q is not a constant; only inference-mode Dropout is supported", name)
		}
		v, err := boolData(t)
		if err != nil || v {
			return nil, fmt.Errorf("training_mode %q is not false; only inference-mode Dropout is supported", name)
		}
	}
	if a := onnxgraph.Attr(b.node, "is_test"); a != nil && a.GetI() == 0 {
		return nil, fmt.Errorf("is_test=0; only inference-mode Dropout is supported")
	}
	return []string{dy}, nil
}

// boolData reads a scalar bool initializer.
func boolData(t *onnx.TensorProto) (bool, error) {
	if onnx.TensorProto_DataType(t.GetDataType()) != onnx.TensorProto_BOOL {
		return false, fmt.Errorf("tensor %q is not BOOL", t.GetName())
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		return raw[0] != 0, nil
	}
	if d := t.GetInt32Data(); len(d) > 0 {
		return d[0] != 0, nil
	}
	return false, fmt.Errorf("tensor %q holds no value", t.GetName())
}

// reshapeGrad reshapes the gradient back to the input's static shape; it
// serves Reshape and Flatten.
func reshapeGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	return []string{b.op("Reshape", []string{dy, b.ints(x...)})}, nil
}

// reluGrad passes the gradient where the ReLU output is positive.
// The output, not the input, decides: ReLU outputs are usually requested
// activations anyway. The gradient is multiplied by the mask cast to
// float, which runs about twice as fast as ONNX Runtime's Where
// (BenchmarkReluGrad). A ReLU whose gradient the following MaxPool
// already masked passes it through (see maxPoolGrad).
//
// An output that is no seed is kept for the backward pass only; the
// forward pass then saves its mask y > 0, one byte per element instead of
// four, and the backward pass reads the mask instead of computing it.
func reluGrad(b *builder, dy string, _ []bool) ([]string, error) {
	y := output(b.node, 0)
	if b.masked[y] {
		return []string{dy}, nil
	}
	var mask string
	if b.seeds[y] && !b.seedsOverwritten {
		saved, err := b.read(y)
		if err != nil {
			return nil, err
		}
		mask = b.op("Greater", []string{saved, b.scalar(0)})
	} else {
		var err error
		if mask, err = b.forwardMask(y); err != nil {
			return nil, err
		}
	}
	return []string{b.applyMask(dy, mask)}, nil
}

// applyMask zeroes dy where the BOOL mask is false (see reluGrad for why
// it multiplies).
func (b *builder) applyMask(dy, mask string) string {
	return b.op("Mul", []string{dy, b.op("Cast", []string{mask}, onnxgraph.Int("to", int64(onnx.TensorProto_FLOAT)))})
}

// leakyReluGrad scales the gradient by 1 or alpha. With alpha >= 0 the sign
// of the output is that of the input, so the saved output decides; a
// negative alpha flips it, so the input is saved instead.
func leakyReluGrad(b *builder, dy string, _ []bool) ([]string, error) {
	alpha := onnxgraph.AttrFloat(b.node, "alpha", 0.01)
	src := output(b.node, 0)
	if alpha < 0 {
		src = input(b.node, 0)
	}
	v, err := b.read(src)
	if err != nil {
		return nil, err
	}
	positive := b.op("Greater", []string{v, b.scalar(0)})
	factor := b.op("Where", []string{positive, b.scalar(1), b.scalar(alpha)})
	return []string{b.op("Mul", []string{dy, factor})}, nil
}

// clipGrad passes the gradient where the saved output lies strictly
// between the bounds (where the input was not clipped).
func clipGrad(b *builder, dy string, needs []bool) ([]string, error) {
	for j := 1; j < len(needs); j++ {
		if needs[j] {
			return nil, fmt.Errorf("bound %q depends on the input; only constant bounds are supported", input(b.node, j))
		}
	}
	bound := func(j int, attr string) (string, error) {
		if name := input(b.node, j); name != "" {
			return b.read(name)
		}
		if a := onnxgraph.Attr(b.node, attr); a != nil {
			return b.scalar(a.GetF()), nil
		}
		return "", nil
	}
	lo, err := bound(1, "min")
	if err != nil {
		return nil, err
	}
	hi, err := bound(2, "max")
	if err != nil {
		return nil, err
	}
	if lo == "" && hi == "" {
		return []string{dy}, nil
	}
	y, err := b.read(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	var cond string
	if lo != "" {
		cond = b.op("Greater", []string{y, lo})
	}
	if hi != "" {
		below := b.op("Less", []string{y, hi})
		if cond == "" {
			cond = below
		} else {
			cond = b.op("And", []string{cond, below})
		}
	}
	return []string{b.applyMask(dy, cond)}, nil
}

// batchNormGrad scales the gradient per channel by scale/sqrt(var+eps).
// The factor is built from the (constant) parameters inside the graph;
// ONNX Runtime folds it to one initializer when the session is created.
func batchNormGrad(b *builder, dy string, needs []bool) ([]string, error) {
	if onnxgraph.AttrInt(b.node, "training_mode", 0) != 0 {
		return nil, fmt.Errorf("training_mode=1; only inference-mode BatchNormalization is supported")
	}
	for j := 1; j < len(needs); j++ {
		if needs[j] {
			return nil, fmt.Errorf("parameter %q depends on the input; only constant parameters are supported", input(b.node, j))
		}
	}
	x, _, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	scale, err := b.read(input(b.node, 1))
	if err != nil {
		return nil, err
	}
	variance, err := b.read(input(b.node, 4))
	if err != nil {
		return nil, err
	}
	eps := onnxgraph.AttrFloat(b.node, "epsilon", 1e-5)
	std := b.op("Sqrt", []string{b.op("Add", []string{variance, b.scalar(eps)})})
	factor := b.op("Div", []string{scale, std})
	perChannel := append([]int64{x[1]}, ones64(len(x)-2)...)
	factor = b.op("Reshape", []string{factor, b.ints(perChannel...)})
	return []string{b.op("Mul", []string{dy, factor})}, nil
}
