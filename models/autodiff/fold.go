package autodiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// FoldShapes returns g specialised to the given input shapes: every tensor
// computed from constants and tensor shapes alone becomes an initializer
// holding its value at those shapes, and the nodes that computed it are
// dropped. These are the shape computations exporters write for
// dynamic sizes (Shape, Gather, Unsqueeze, Concat, Cast, integer
// arithmetic, Slice, ConstantOfShape, ... feeding a Reshape, Slice or
// Expand), which InferShapes and Differentiate need as constants.
//
// sizeDependent reports whether some folded value depends on the input
// shapes: the result then computes the graph for those shapes only. When
// nothing folds, g itself is returned. Otherwise the result shares g's
// initializers (see onnxgraph.CloneSharingInitializers); g is not modified.
// Shapes that cannot be inferred are left for InferShapes to report.
func FoldShapes(g *onnx.GraphProto, inputs Shapes) (folded *onnx.GraphProto, sizeDependent bool, err error) {
	folded, sizeDependent, _, err = fold(g, inputs)
	return folded, sizeDependent, err
}

// PartialShapes returns the static shapes of g's tensors given its input
// shapes, with shape computations folded as FoldShapes does, as far as
// they can be inferred: unlike InferShapes it skips what it cannot infer
// (an op without a shape rule, a classifier head that fits one input size
// only) and goes on with the rest. It serves descriptions of a graph,
// where an incomplete answer is better than none.
func PartialShapes(g *onnx.GraphProto, inputs Shapes) (Shapes, error) {
	_, _, shapes, err := fold(g, inputs)
	return shapes, err
}

// fold is FoldShapes, also returning the shapes it inferred on the way.
func fold(g *onnx.GraphProto, inputs Shapes) (folded *onnx.GraphProto, sizeDependent bool, shapes Shapes, err error) {
	ix, err := indexGraph(g)
	if err != nil {
		return nil, false, nil, fmt.Errorf("fold shapes: %w", err)
	}
	// ix.inits gains the folded values as they are computed, so that shape
	// rules and later folds read them like any constant; the caller's map
	// is copied first.
	inits := make(map[string]*onnx.TensorProto, len(ix.inits))
	for k, v := range ix.inits {
		inits[k] = v
	}
	ix.inits = inits
	shapes = Shapes{}
	// append, not Clone: a scalar's shape is empty, not nil (unknown).
	for name, s := range inputs {
		shapes[name] = append([]int64{}, s...)
	}
	for name, t := range ix.inits {
		shapes[name] = append([]int64{}, t.GetDims()...)
	}
	declared := declaredShapes(g)
	dependent := map[string]bool{}
	var added []*onnx.TensorProto
	drop := make([]bool, len(g.GetNode()))
	for _, i := range ix.order {
		n := g.GetNode()[i]
		outs, dep, err := foldNode(ix, n, shapes, dependent)
		if err != nil {
			return nil, false, nil, fmt.Errorf("fold shapes: node %s: %w", nodeLabel(n), err)
		}
		if outs != nil {
			drop[i] = true
			for j, t := range outs {
				o := output(n, j)
				if o == "" {
					continue
				}
				t.Name = o
				ix.inits[o] = t
				shapes[o] = append([]int64{}, t.GetDims()...)
				dependent[o] = dep
				sizeDependent = sizeDependent || dep
				added = append(added, t)
			}
			continue
		}
		// Not foldable: infer its shapes where possible, so that a Shape
		// further on can be folded.
		in := make([][]int64, len(n.GetInput()))
		for j, name := range n.GetInput() {
			if name != "" {
				in[j] = shapes[name]
			}
		}
		var out [][]int64
		if f, ok := shapeRules[n.GetOpType()]; ok && standardDomain(n) && !slices.ContainsFunc(n.GetInput(), func(s string) bool { return s != "" && shapes[s] == nil }) {
			out, _ = f(ix, n, in)
		}
		for j, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if j < len(out) && out[j] != nil {
				shapes[o] = out[j]
			} else if d, ok := declared[o]; ok {
				shapes[o] = d
			}
		}
	}
	if len(added) == 0 {
		return g, false, shapes, nil
	}
	out := onnxgraph.CloneSharingInitializers(g)
	nodes := out.Node
	out.Node = nil
	read := map[string]bool{}
	for i, n := range nodes {
		if drop[i] {
			continue
		}
		out.Node = append(out.Node, n)
		for _, in := range n.GetInput() {
			read[in] = true
		}
	}
	for _, v := range g.GetOutput() {
		read[v.GetName()] = true
	}
	for _, t := range added {
		if read[t.GetName()] {
			out.Initializer = append(out.Initializer, t)
		}
	}
	return out, sizeDependent, shapes, nil
}

// maxFoldElements bounds the tensors FoldShapes evaluates: shape
// computations are tiny, and anything larger (weights, activations) is
// left to ONNX Runtime.
const maxFoldElements = 1 << 12

// foldable lists the ops FoldShapes evaluates when all their inputs are
// known.
var foldable = map[string]bool{
	"Shape": true, "Size": true, "Identity": true, "Cast": true, "Gather": true,
	"Unsqueeze": true, "Squeeze": true, "Reshape": true, "Flatten": true, "Concat": true, "Slice": true,
	"ConstantOfShape": true, "Range": true, "Add": true, "Sub": true, "Mul": true, "Div": true,
	"Mod": true, "Max": true, "Min": true, "Neg": true, "Abs": true, "Floor": true, "Ceil": true,
	"Sqrt": true, "Equal": true, "Less": true, "Greater": true, "LessOrEqual": true,
	"GreaterOrEqual": true, "Not": true, "And": true, "Or": true, "Where": true,
}

// foldNode evaluates n when FoldShapes can: it returns its outputs (nil
// when n stays in the graph) and whether they depend on input shapes.
func foldNode(ix *graphIndex, n *onnx.NodeProto, shapes Shapes, dependent map[string]bool) ([]*onnx.TensorProto, bool, error) {
	op := n.GetOpType()
	if !standardDomain(n) || !foldable[op] || len(n.GetOutput()) != 1 {
		return nil, false, nil
	}
	if op == "Shape" || op == "Size" {
		x := input(n, 0)
		s, ok := shapes[x]
		if !ok {
			return nil, false, nil
		}
		_, constant := ix.inits[x]
		dep := !constant || dependent[x]
		if op == "Size" {
			total, err := onnxgraph.NumElements(s)
			if err != nil {
				return nil, false, err
			}
			return []*onnx.TensorProto{onnxgraph.Int64s("", nil, []int64{total})}, dep, nil
		}
		r := int64(len(s))
		clamp := func(v int64) int64 {
			if v < 0 {
				v += r
			}
			return min(max(v, 0), r)
		}
		start, end := clamp(onnxgraph.AttrInt(n, "start", 0)), clamp(onnxgraph.AttrInt(n, "end", r))
		v := slices.Clone(s[start:max(start, end)])
		return []*onnx.TensorProto{onnxgraph.Int64s("", []int64{int64(len(v))}, v)}, dep, nil
	}
	args := make([]*hostValue, len(n.GetInput()))
	dep := false
	for j, name := range n.GetInput() {
		if name == "" {
			continue
		}
		t, ok := ix.inits[name]
		if !ok {
			return nil, false, nil
		}
		if size, err := onnxgraph.NumElements(t.GetDims()); err != nil || size > maxFoldElements {
			return nil, false, nil
		}
		v, err := decodeHost(t)
		if err != nil {
			return nil, false, nil // a type this evaluator does not know: ONNX Runtime computes it
		}
		args[j] = v
		dep = dep || dependent[name]
	}
	v, err := evalHost(ix, n, args)
	if errors.Is(err, errNotFolded) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if int64(len(v.data)) > maxFoldElements {
		return nil, false, nil
	}
	t, err := v.encode()
	if err != nil {
		return nil, false, err
	}
	return []*onnx.TensorProto{t}, dep, nil
}

// errNotFolded says a node is left to ONNX Runtime.
var errNotFolded = errors.New("not folded")

// hostValue is a small tensor evaluated in Go: every element type as
// float64, which holds int64 shape values exactly (they are far below
// 2^53) and float32 values exactly.
type hostValue struct {
	elem onnx.TensorProto_DataType
	dims []int64
	data []float64
}

func decodeHost(t *onnx.TensorProto) (*hostValue, error) {
	v := &hostValue{elem: onnx.TensorProto_DataType(t.GetDataType()), dims: append([]int64{}, t.GetDims()...)}
	n, err := onnxgraph.NumElements(v.dims)
	if err != nil {
		return nil, err
	}
	switch v.elem {
	case onnx.TensorProto_INT64, onnx.TensorProto_INT32:
		d, err := onnxgraph.Int64Data(t)
		if err != nil {
			return nil, err
		}
		for _, x := range d {
			v.data = append(v.data, float64(x))
		}
	case onnx.TensorProto_FLOAT:
		d, err := onnxgraph.Float32Data(t)
		if err != nil {
			return nil, err
		}
		for _, x := range d {
			v.data = append(v.data, float64(x))
		}
	case onnx.TensorProto_BOOL:
		raw := t.GetRawData()
		if len(raw) == 0 {
			for _, x := range t.GetInt32Data() {
				raw = append(raw, byte(min(x, 1)))
			}
		}
		if int64(len(raw)) != n {
			return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.GetName(), len(raw), v.dims)
		}
		for _, x := range raw {
			v.data = append(v.data, float64(min(x, 1)))
		}
	default:
		return nil, fmt.Errorf("element type %v", v.elem)
	}
	if int64(len(v.data)) != n {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.GetName(), len(v.data), v.dims)
	}
	return v, nil
}

// encode makes an initializer of the value.
func (v *hostValue) encode() (*onnx.TensorProto, error) {
	t := &onnx.TensorProto{Dims: slices.Clone(v.dims), DataType: int32(v.elem)}
	switch v.elem {
	case onnx.TensorProto_INT64:
		t.RawData = make([]byte, 8*len(v.data))
		for i, x := range v.data {
			binary.LittleEndian.PutUint64(t.RawData[8*i:], uint64(int64(x)))
		}
	case onnx.TensorProto_INT32:
		t.RawData = make([]byte, 4*len(v.data))
		for i, x := range v.data {
			binary.LittleEndian.PutUint32(t.RawData[4*i:], uint32(int32(x)))
		}
	case onnx.TensorProto_FLOAT:
		t.RawData = make([]byte, 4*len(v.data))
		for i, x := range v.data {
			binary.LittleEndian.PutUint32(t.RawData[4*i:], math.Float32bits(float32(x)))
		}
	case onnx.TensorProto_BOOL:
		t.RawData = make([]byte, len(v.data))
		for i, x := range v.data {
			if x != 0 {
				t.RawData[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("element type %v", v.elem)
	}
	return t, nil
}

// isInt reports whether the value holds integers (or booleans).
func (v *hostValue) isInt() bool { return v.elem != onnx.TensorProto_FLOAT }

// strides returns row-major strides for dims.
func strides(dims []int64) []int64 {
	s := make([]int64, len(dims))
	acc := int64(1)
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// evalHost computes n's single output from its input values (nil for
// omitted optional inputs). It returns errNotFolded for forms it leaves to
// ONNX Runtime.
func evalHost(ix *graphIndex, n *onnx.NodeProto, args []*hostValue) (*hostValue, error) {
	arg := func(i int) *hostValue {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	x := arg(0)
	if x == nil {
		return nil, errNotFolded // every op folded here reads input 0
	}
	shapeOf := func() [][]int64 {
		in := make([][]int64, len(args))
		for i, a := range args {
			if a != nil {
				in[i] = a.dims
			}
		}
		return in
	}
	// reshaped returns x's data under the output shape the op's shape rule
	// gives.
	reshaped := func() (*hostValue, error) {
		out, err := shapeRules[n.GetOpType()](ix, n, shapeOf())
		if err != nil {
			return nil, err
		}
		return &hostValue{elem: x.elem, dims: out[0], data: x.data}, nil
	}
	switch op := n.GetOpType(); op {
	case "Identity":
		return x, nil
	case "Unsqueeze", "Squeeze", "Reshape", "Flatten":
		return reshaped()
	case "Cast":
		to := onnx.TensorProto_DataType(onnxgraph.AttrInt(n, "to", 0))
		out := &hostValue{elem: to, dims: x.dims, data: slices.Clone(x.data)}
		switch to {
		case onnx.TensorProto_INT64, onnx.TensorProto_INT32:
			for i, v := range out.data {
				out.data[i] = math.Trunc(v)
			}
		case onnx.TensorProto_BOOL:
			for i, v := range out.data {
				if v != 0 {
					out.data[i] = 1
				}
			}
		case onnx.TensorProto_FLOAT:
			for i, v := range out.data {
				out.data[i] = float64(float32(v))
			}
		default:
			return nil, errNotFolded
		}
		return out, nil
	case "Gather":
		return gatherHost(n, x, arg(1))
	case "Concat":
		return concatHost(n, args)
	case "Slice":
		return sliceHost(ix, n, x)
	case "ConstantOfShape":
		dims := make([]int64, len(x.data))
		for i, v := range x.data {
			dims[i] = int64(v)
		}
		total, err := onnxgraph.NumElements(dims)
		if err != nil {
			return nil, err
		}
		if total > maxFoldElements {
			return nil, errNotFolded
		}
		out := &hostValue{elem: onnx.TensorProto_FLOAT, dims: dims, data: make([]float64, total)}
		if a := onnxgraph.Attr(n, "value"); a != nil && a.GetT() != nil {
			fill, err := decodeHost(a.GetT())
			if err != nil || len(fill.data) != 1 {
				return nil, errNotFolded
			}
			out.elem = fill.elem
			for i := range out.data {
				out.data[i] = fill.data[0]
			}
		}
		return out, nil
	case "Range":
		start, limit, delta := x, arg(1), arg(2)
		if start == nil || limit == nil || delta == nil || len(start.data) != 1 || len(limit.data) != 1 || len(delta.data) != 1 || delta.data[0] == 0 {
			return nil, errNotFolded
		}
		count := int64(max(math.Ceil((limit.data[0]-start.data[0])/delta.data[0]), 0))
		if count > maxFoldElements {
			return nil, errNotFolded
		}
		out := &hostValue{elem: start.elem, dims: []int64{count}}
		for i := range count {
			out.data = append(out.data, start.data[0]+float64(i)*delta.data[0])
		}
		return out, nil
	case "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Not":
		out := &hostValue{elem: x.elem, dims: x.dims, data: make([]float64, len(x.data))}
		for i, v := range x.data {
			switch op {
			case "Neg":
				v = -v
			case "Abs":
				v = math.Abs(v)
			case "Floor":
				v = math.Floor(v)
			case "Ceil":
				v = math.Ceil(v)
			case "Sqrt":
				v = math.Sqrt(v)
			case "Not":
				v = 1 - min(math.Abs(v), 1)
			}
			if out.elem == onnx.TensorProto_FLOAT {
				v = float64(float32(v))
			}
			out.data[i] = v
		}
		return out, nil
	}
	return broadcastHost(n, args)
}

// broadcastHost evaluates the element-wise ops with numpy broadcasting.
func broadcastHost(n *onnx.NodeProto, args []*hostValue) (*hostValue, error) {
	op := n.GetOpType()
	var dims [][]int64
	for _, a := range args {
		if a == nil {
			return nil, errNotFolded
		}
		dims = append(dims, a.dims)
	}
	if len(args) == 0 {
		return nil, errNotFolded
	}
	shape, err := broadcast(dims...)
	if err != nil {
		return nil, err
	}
	total, err := onnxgraph.NumElements(shape)
	if err != nil {
		return nil, err
	}
	if total > maxFoldElements {
		return nil, errNotFolded
	}
	elem := args[0].elem
	switch op {
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or":
		elem = onnx.TensorProto_BOOL
	case "Where":
		if len(args) != 3 {
			return nil, errNotFolded
		}
		elem = args[1].elem
	}
	out := &hostValue{elem: elem, dims: shape, data: make([]float64, total)}
	outStrides := strides(shape)
	at := func(a *hostValue, flat int64) float64 {
		off := len(shape) - len(a.dims)
		st := strides(a.dims)
		idx := int64(0)
		for k := range a.dims {
			c := (flat / outStrides[off+k]) % shape[off+k]
			if a.dims[k] == 1 {
				c = 0
			}
			idx += c * st[k]
		}
		return a.data[idx]
	}
	isInt := args[0].isInt()
	for f := range total {
		a := at(args[0], f)
		var b float64
		if len(args) > 1 {
			b = at(args[1], f)
		}
		var v float64
		switch op {
		case "Add":
			v = a + b
		case "Sub":
			v = a - b
		case "Mul":
			v = a * b
		case "Div":
			if isInt {
				if b == 0 {
					return nil, fmt.Errorf("integer division by zero")
				}
				v = math.Trunc(a / b)
			} else {
				v = a / b
			}
		case "Mod":
			if !isInt || b == 0 || onnxgraph.AttrInt(n, "fmod", 0) != 0 {
				return nil, errNotFolded
			}
			v = a - math.Floor(a/b)*b
		case "Max", "Min":
			v = a
			for _, arg := range args[1:] {
				if c := at(arg, f); (op == "Max") == (c > v) {
					v = c
				}
			}
		case "Equal":
			v = b2f(a == b)
		case "Less":
			v = b2f(a < b)
		case "Greater":
			v = b2f(a > b)
		case "LessOrEqual":
			v = b2f(a <= b)
		case "GreaterOrEqual":
			v = b2f(a >= b)
		case "And":
			v = b2f(a != 0 && b != 0)
		case "Or":
			v = b2f(a != 0 || b != 0)
		case "Where":
			v = at(args[2], f)
			if a != 0 {
				v = b
			}
		default:
			return nil, errNotFolded
		}
		if elem == onnx.TensorProto_FLOAT {
			v = float64(float32(v))
		}
		out.data[f] = v
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// gatherHost is Gather along one axis.
func gatherHost(n *onnx.NodeProto, x, idx *hostValue) (*hostValue, error) {
	if idx == nil || !idx.isInt() {
		return nil, errNotFolded
	}
	a, err := normAxis(onnxgraph.AttrInt(n, "axis", 0), len(x.dims))
	if err != nil {
		return nil, err
	}
	outer, inner := int64(1), int64(1)
	for _, d := range x.dims[:a] {
		outer *= d
	}
	for _, d := range x.dims[a+1:] {
		inner *= d
	}
	d := x.dims[a]
	out := &hostValue{elem: x.elem, dims: slices.Concat(x.dims[:a], idx.dims, x.dims[a+1:])}
	for o := range outer {
		for _, fi := range idx.data {
			i := int64(fi)
			if i < 0 {
				i += d
			}
			if i < 0 || i >= d {
				return nil, fmt.Errorf("index %d out of range for %v", int64(fi), x.dims)
			}
			start := (o*d + i) * inner
			out.data = append(out.data, x.data[start:start+inner]...)
		}
	}
	return out, nil
}

// concatHost is Concat along one axis.
func concatHost(n *onnx.NodeProto, args []*hostValue) (*hostValue, error) {
	in := make([][]int64, len(args))
	for i, a := range args {
		if a == nil {
			return nil, errNotFolded
		}
		in[i] = a.dims
	}
	shape, err := concatShape(nil, n, in)
	if err != nil {
		return nil, err
	}
	a, _ := normAxis(onnxgraph.AttrInt(n, "axis", 0), len(shape[0]))
	outer := int64(1)
	for _, d := range shape[0][:a] {
		outer *= d
	}
	out := &hostValue{elem: args[0].elem, dims: shape[0]}
	for o := range outer {
		for _, v := range args {
			block := int64(len(v.data)) / max(outer, 1)
			out.data = append(out.data, v.data[o*block:(o+1)*block]...)
		}
	}
	return out, nil
}

// sliceHost is Slice with constant parameters.
func sliceHost(ix *graphIndex, n *onnx.NodeProto, x *hostValue) (*hostValue, error) {
	sl, err := sliceParams(ix, n, x.dims)
	if err != nil {
		return nil, err
	}
	starts, steps := make([]int64, len(x.dims)), ones64(len(x.dims))
	dims := slices.Clone(x.dims)
	for _, s := range sl {
		starts[s.axis], steps[s.axis], dims[s.axis] = s.start, s.step, s.count
	}
	total, err := onnxgraph.NumElements(dims)
	if err != nil {
		return nil, err
	}
	out := &hostValue{elem: x.elem, dims: dims, data: make([]float64, total)}
	inStrides, outStrides := strides(x.dims), strides(dims)
	for f := range total {
		idx := int64(0)
		for k := range dims {
			c := (f / outStrides[k]) % dims[k]
			idx += (starts[k] + c*steps[k]) * inStrides[k]
		}
		out.data[f] = x.data[idx]
	}
	return out, nil
}
