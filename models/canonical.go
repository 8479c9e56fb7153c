package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// canonical is a graph in the form the rest of nst works on (see the package
// doc) and what normalising learnt about it.
type canonical struct {
	// graph has its nodes in topological order, one input (the image,
	// [1,C,H,W] with H and W free) and no outputs: each use sets its own.
	graph *onnx.GraphProto
	input string
	// channels is C, the input's channel count: 3 for an image backbone
	// (a free channel dimension counts as 3), the spectrogram's bins for
	// an audio one.
	channels int
	// depth says the input is a volume, [1,C,D,H,W] with D, H and W free
	// (a backbone of 3-D convolutions), rather than [1,C,H,W].
	depth bool
	inits map[string]*onnx.TensorProto
	// broken holds nodes that cannot be expressed in opset 17. They stay in
	// the graph so that a model whose classifier head has one still serves
	// the layers before it; a cut that keeps one fails with this error.
	broken map[*onnx.NodeProto]error
	// outputs are the file's graph outputs, in its order: the name the
	// file gives each and the tensor of graph computing it (they differ
	// when the file passes the output through an Identity).
	outputs []namedTensor
}

// namedTensor is a tensor of the graph known by another name.
type namedTensor struct{ name, tensor string }

// canonicalizer carries the state of one normalisation.
type canonicalizer struct {
	opset    int64
	inits    map[string]*onnx.TensorProto
	newInits []*onnx.TensorProto
	alias    map[string]string // Identity and Dropout outputs -> their inputs
	consumed map[string]bool   // tensors some node reads
	used     map[string]bool   // every tensor name, to mint fresh ones
	broken   map[*onnx.NodeProto]error
}

// canonicalize normalises g, written against ai.onnx opset, into canonical
// form. It never modifies g or anything g points to.
func canonicalize(g *onnx.GraphProto, opset int64) (*canonical, error) {
	c := &canonicalizer{
		opset:    opset,
		inits:    map[string]*onnx.TensorProto{},
		alias:    map[string]string{},
		consumed: map[string]bool{},
		used:     map[string]bool{},
		broken:   map[*onnx.NodeProto]error{},
	}
	for _, t := range g.GetInitializer() {
		if _, dup := c.inits[t.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q is defined twice", t.GetName())
		}
		c.inits[t.GetName()] = t
		c.used[t.GetName()] = true
	}
	input, channels, depth, err := imageInput(g, c.inits)
	if err != nil {
		return nil, err
	}
	c.used[input] = true
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			c.consumed[in] = true
		}
		for _, out := range n.GetOutput() {
			c.used[out] = true
		}
	}

	var nodes []*onnx.NodeProto
	for _, n := range g.GetNode() {
		switch n.GetOpType() {
		case "Constant":
			if t := constantTensor(n); t != nil {
				c.inits[t.GetName()] = t
				c.newInits = append(c.newInits, t)
				continue
			}
		case "Identity":
			if len(n.GetInput()) == 1 && len(n.GetOutput()) == 1 {
				c.alias[n.GetOutput()[0]] = n.GetInput()[0]
				continue
			}
		case "Dropout":
			// Inference: Dropout passes its input through. Its mask output
			// has no inference meaning, so a graph that reads it is broken.
			if len(n.GetInput()) >= 1 && len(n.GetOutput()) >= 1 {
				c.alias[n.GetOutput()[0]] = n.GetInput()[0]
				if len(n.GetOutput()) > 1 && c.consumed[n.GetOutput()[1]] {
					kept := &onnx.NodeProto{Name: n.GetName(), OpType: "Dropout", Input: slices.Clone(n.GetInput()), Output: []string{"", n.GetOutput()[1]}}
					c.broken[kept] = errors.New("the graph reads Dropout's training mask; nst runs models for inference")
					nodes = append(nodes, kept)
				}
				continue
			}
		}
		converted, err := c.convert(n)
		if err != nil {
			for _, k := range converted {
				c.broken[k] = err
			}
		}
		nodes = append(nodes, converted...)
	}
	for _, n := range nodes {
		for i, in := range n.Input {
			n.Input[i] = c.resolve(in)
		}
	}
	sorted, err := topoSort(nodes, input, c.inits)
	if err != nil {
		return nil, err
	}

	out := &onnx.GraphProto{
		Name:  g.GetName(),
		Node:  sorted,
		Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue(input, inputDims(channels, depth)...)},
	}
	read := map[string]bool{}
	for _, n := range sorted {
		for _, in := range n.GetInput() {
			read[in] = true
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range append(append([]*onnx.TensorProto(nil), g.GetInitializer()...), c.newInits...) {
		if read[t.GetName()] {
			out.Initializer = append(out.Initializer, t)
			inits[t.GetName()] = t
		}
	}
	var outputs []namedTensor
	for _, o := range g.GetOutput() {
		outputs = append(outputs, namedTensor{name: o.GetName(), tensor: c.resolve(o.GetName())})
	}
	return &canonical{graph: out, input: input, channels: channels, depth: depth, inits: inits, broken: c.broken, outputs: outputs}, nil
}

// inputDims is the canonical input's shape: [1,C,H,W], or [1,C,D,H,W] for
// a volume backbone, with the spatial dimensions free (-1).
func inputDims(channels int, depth bool) []int64 {
	if depth {
		return []int64{1, int64(channels), -1, -1, -1}
	}
	return []int64{1, int64(channels), -1, -1}
}

// imageInput finds the graph's one non-initializer input, checks that it
// can take a [1,C,H,W] float tensor, or a [1,C,D,H,W] volume (depth
// true), and returns its name and C (3 when the channel dimension is
// free). Whether C suits the run (3 for images) is the caller's check (see
// Load).
func imageInput(g *onnx.GraphProto, inits map[string]*onnx.TensorProto) (name string, channels int, depth bool, err error) {
	var ins []*onnx.ValueInfoProto
	var names []string
	for _, in := range g.GetInput() {
		// Files of IR version < 4 list every initializer as an input too.
		if _, ok := inits[in.GetName()]; !ok {
			ins = append(ins, in)
			names = append(names, in.GetName())
		}
	}
	if len(ins) != 1 {
		return "", 0, false, fmt.Errorf("the model has %d inputs besides its weights (%s); nst needs exactly one image input", len(ins), strings.Join(names, ", "))
	}
	in := ins[0]
	channels = 3
	tt := in.GetType().GetTensorType()
	if tt == nil || onnx.TensorProto_DataType(tt.GetElemType()) != onnx.TensorProto_FLOAT {
		return "", 0, false, fmt.Errorf("input %q is not a float tensor; nst feeds float32 images", in.GetName())
	}
	if shape := tt.GetShape(); shape != nil {
		dims := shape.GetDim()
		if len(dims) != 4 && len(dims) != 5 {
			return "", 0, false, fmt.Errorf("input %q has rank %d; nst feeds images as [1,3,H,W] and volumes as [1,C,D,H,W]", in.GetName(), len(dims))
		}
		depth = len(dims) == 5
		if _, fixed := dims[1].GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); fixed {
			if c := dims[1].GetDimValue(); c < 1 || c > 1<<16 {
				return "", 0, false, fmt.Errorf("input %q has %d channels; want 1 to 65536", in.GetName(), c)
			} else {
				channels = int(c)
			}
		}
		if _, fixed := dims[0].GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); fixed && dims[0].GetDimValue() != 1 {
			return "", 0, false, fmt.Errorf("input %q has a fixed batch of %d; nst feeds one image at a time", in.GetName(), dims[0].GetDimValue())
		}
	}
	return in.GetName(), channels, depth, nil
}

// constantTensor turns a Constant node's value into an initializer named
// after its output, or returns nil for value kinds left to the Constant op.
func constantTensor(n *onnx.NodeProto) *onnx.TensorProto {
	if len(n.GetOutput()) != 1 || len(n.GetAttribute()) != 1 {
		return nil
	}
	name := n.GetOutput()[0]
	a := n.GetAttribute()[0]
	switch a.GetName() {
	case "value":
		if a.GetT() == nil {
			return nil
		}
		t := proto.Clone(a.GetT()).(*onnx.TensorProto)
		t.Name = name
		return t
	case "value_float":
		return onnxgraph.Floats32(name, nil, []float32{a.GetF()})
	case "value_floats":
		return onnxgraph.Floats32(name, []int64{int64(len(a.GetFloats()))}, a.GetFloats())
	case "value_int":
		return onnxgraph.Int64s(name, nil, []int64{a.GetI()})
	case "value_ints":
		return onnxgraph.Int64s(name, []int64{int64(len(a.GetInts()))}, a.GetInts())
	}
	return nil
}

// resolve follows Identity and Dropout aliases to the tensor they pass on.
func (c *canonicalizer) resolve(name string) string {
	for i := 0; i <= len(c.alias); i++ {
		next, ok := c.alias[name]
		if !ok {
			return name
		}
		name = next
	}
	return name // a cycle of Identities; topoSort reports it
}

// fresh returns an unused tensor name derived from base.
func (c *canonicalizer) fresh(base string) string {
	name := base
	for i := 1; c.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	c.used[name] = true
	return name
}

// addInit adds an initializer under a fresh name derived from base.
func (c *canonicalizer) addInit(t *onnx.TensorProto, base string) string {
	t.Name = c.fresh(base)
	c.inits[t.Name] = t
	c.newInits = append(c.newInits, t)
	return t.Name
}

// removeAttrs deletes the named attributes of n.
func removeAttrs(n *onnx.NodeProto, names ...string) {
	kept := n.Attribute[:0]
	for _, a := range n.Attribute {
		drop := false
		for _, name := range names {
			if a.GetName() == name {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, a)
		}
	}
	n.Attribute = kept
}

// setInput sets input i of n, padding skipped optional inputs with "".
func setInput(n *onnx.NodeProto, i int, name string) {
	for len(n.Input) <= i {
		n.Input = append(n.Input, "")
	}
	n.Input[i] = name
}

// label names a node for error messages: its name, else its first output.
func label(n *onnx.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOutput()[0]
	}
	return "(unnamed)"
}

// reductionsWithAxesAttr are the reductions that still take axes as an
// attribute in opset 17 but as an input from opset 18.
var reductionsWithAxesAttr = map[string]bool{
	"ReduceMean": true, "ReduceMax": true, "ReduceMin": true, "ReduceProd": true,
	"ReduceL1": true, "ReduceL2": true, "ReduceLogSum": true, "ReduceLogSumExp": true, "ReduceSumSquare": true,
}

// legacyBroadcastOps took broadcast and axis attributes before opset 7.
var legacyBroadcastOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true,
	"And": true, "Or": true, "Xor": true, "Equal": true, "Greater": true, "Less": true,
}

// convert rewrites one node into opset-17 form. It returns the nodes that
// replace it; with an error, they are the node unchanged (but for attributes
// no opset uses any more) and the error says why it cannot run.
func (c *canonicalizer) convert(orig *onnx.NodeProto) ([]*onnx.NodeProto, error) {
	n := proto.Clone(orig).(*onnx.NodeProto)
	removeAttrs(n, "consumed_inputs") // opset < 6 bookkeeping for in-place ops
	one := []*onnx.NodeProto{n}
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return one, fmt.Errorf("ops of domain %q are not supported", d)
	}
	v := c.opset
	op := n.GetOpType()
	switch {
	case op == "Clip" && v < 11:
		// Clip took min and max as attributes; absent means unbounded.
		var lo, hi string
		if a := onnxgraph.Attr(n, "min"); a != nil {
			lo = c.addInit(onnxgraph.Floats32("", nil, []float32{a.GetF()}), n.Output[0]+"_min")
		}
		if a := onnxgraph.Attr(n, "max"); a != nil {
			hi = c.addInit(onnxgraph.Floats32("", nil, []float32{a.GetF()}), n.Output[0]+"_max")
		}
		removeAttrs(n, "min", "max")
		if lo != "" || hi != "" {
			setInput(n, 1, lo)
		}
		if hi != "" {
			setInput(n, 2, hi)
		}
	case op == "Pad" && v < 11:
		pads := onnxgraph.AttrInts(n, "pads", nil)
		if pads == nil {
			pads = onnxgraph.AttrInts(n, "paddings", nil) // opset 1's name
		}
		value := onnxgraph.AttrFloat(n, "value", 0)
		removeAttrs(n, "pads", "paddings", "value")
		setInput(n, 1, c.addInit(onnxgraph.Int64s("", []int64{int64(len(pads))}, pads), n.Output[0]+"_pads"))
		setInput(n, 2, c.addInit(onnxgraph.Floats32("", nil, []float32{value}), n.Output[0]+"_value"))
	case op == "Pad" && len(n.Input) > 3 && n.Input[3] != "":
		return one, errors.New("Pad with an axes input (opset 18) is not supported")
	case op == "Reshape" && v < 5:
		shape := onnxgraph.AttrInts(n, "shape", nil)
		removeAttrs(n, "shape")
		setInput(n, 1, c.addInit(onnxgraph.Int64s("", []int64{int64(len(shape))}, shape), n.Output[0]+"_shape"))
	case op == "BatchNormalization":
		if v < 9 && onnxgraph.AttrInt(n, "spatial", 1) == 0 {
			return one, errors.New("BatchNormalization with spatial=0 (per-activation statistics) is not supported")
		}
		if onnxgraph.AttrInt(n, "training_mode", 0) != 0 {
			return one, errors.New("BatchNormalization in training mode is not supported")
		}
		removeAttrs(n, "spatial", "is_test", "training_mode")
		for _, out := range n.Output[1:] {
			if out != "" && c.consumed[out] {
				return one, fmt.Errorf("the graph reads BatchNormalization's training output %q; nst runs models for inference", out)
			}
		}
		n.Output = n.Output[:1]
	case op == "Gemm":
		removeAttrs(n, "broadcast") // opset 7 made C broadcast unconditionally
	case legacyBroadcastOps[op] && v < 7:
		if onnxgraph.AttrInt(n, "broadcast", 0) != 0 && onnxgraph.Attr(n, "axis") != nil {
			return one, fmt.Errorf("legacy %s broadcasting along axis %d (opset < 7) is not supported", op, onnxgraph.AttrInt(n, "axis", 0))
		}
		removeAttrs(n, "broadcast", "axis")
	case op == "Concat" && v < 4 && onnxgraph.Attr(n, "axis") == nil:
		n.Attribute = append(n.Attribute, onnxgraph.Int("axis", 1))
	case (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && v < 13:
		return c.legacySoftmax(n), nil
	case (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") && v < 13:
		if a := onnxgraph.Attr(n, "axes"); a != nil {
			axes := a.GetInts()
			removeAttrs(n, "axes")
			setInput(n, 1, c.addInit(onnxgraph.Int64s("", []int64{int64(len(axes))}, axes), n.Output[0]+"_axes"))
		}
	case op == "Split":
		if a := onnxgraph.Attr(n, "split"); a != nil && v < 13 {
			split := a.GetInts()
			removeAttrs(n, "split")
			setInput(n, 1, c.addInit(onnxgraph.Int64s("", []int64{int64(len(split))}, split), n.Output[0]+"_split"))
		}
		// Opset 18's num_outputs repeats what the output count already says.
		removeAttrs(n, "num_outputs")
	case reductionsWithAxesAttr[op] && len(n.Input) > 1 && n.Input[1] != "":
		t, ok := c.inits[c.resolve(n.Input[1])]
		if !ok {
			return one, fmt.Errorf("%s axes computed at run time are not supported", op)
		}
		axes, err := onnxgraph.Int64Data(t)
		if err != nil {
			return one, err
		}
		n.Input = n.Input[:1]
		n.Attribute = append(n.Attribute, onnxgraph.Ints("axes", axes...))
	case op == "AveragePool":
		for _, d := range onnxgraph.AttrInts(n, "dilations", nil) {
			if d != 1 {
				return one, errors.New("dilated AveragePool (opset 19) is not supported")
			}
		}
		removeAttrs(n, "dilations")
	case op == "Resize":
		if v == 10 { // inputs were (X, scales); opset 11 put roi between
			n.Input = []string{n.Input[0], "", n.Input[1]}
		}
		if onnxgraph.AttrInt(n, "antialias", 0) != 0 || onnxgraph.Attr(n, "axes") != nil || onnxgraph.Attr(n, "keep_aspect_ratio_policy") != nil {
			return one, errors.New("Resize with opset-18 attributes (antialias, axes, keep_aspect_ratio_policy) is not supported")
		}
	case op == "Upsample":
		return one, errors.New("Upsample (deprecated since opset 10) is not supported; re-export the model with Resize")
	case op == "Cast" && v < 6:
		if a := onnxgraph.Attr(n, "to"); a != nil && a.GetType() == onnx.AttributeProto_STRING {
			to, ok := onnx.TensorProto_DataType_value[string(a.GetS())]
			if !ok {
				return one, fmt.Errorf("Cast to unknown type %q", a.GetS())
			}
			removeAttrs(n, "to")
			n.Attribute = append(n.Attribute, onnxgraph.Int("to", int64(to)))
		}
	}
	return one, nil
}

// legacySoftmax expresses an opset < 13 Softmax (or LogSoftmax, Hardmax),
// which normalised over all dimensions from axis on, in opset 13 terms:
// flatten to 2-D at axis, normalise over the last dimension, restore the
// shape.
func (c *canonicalizer) legacySoftmax(n *onnx.NodeProto) []*onnx.NodeProto {
	x, y := n.Input[0], n.Output[0]
	axis := onnxgraph.AttrInt(n, "axis", 1)
	flat, norm, shape := c.fresh(y+"_2d"), c.fresh(y+"_2d_out"), c.fresh(y+"_shape")
	return []*onnx.NodeProto{
		onnxgraph.Node("Flatten", n.GetName()+"/flatten", []string{x}, []string{flat}, onnxgraph.Int("axis", axis)),
		onnxgraph.Node(n.GetOpType(), n.GetName(), []string{flat}, []string{norm}, onnxgraph.Int("axis", 1)),
		onnxgraph.Node("Shape", n.GetName()+"/shape", []string{x}, []string{shape}),
		onnxgraph.Node("Reshape", n.GetName()+"/reshape", []string{norm, shape}, []string{y}),
	}
}

// topoSort orders nodes so that each comes after the producers of its
// inputs, keeping the file's order where it is free, and checks that every
// input is defined.
func topoSort(nodes []*onnx.NodeProto, input string, inits map[string]*onnx.TensorProto) ([]*onnx.NodeProto, error) {
	producer := map[string]int{}
	for i, n := range nodes {
		for _, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if j, dup := producer[out]; dup {
				return nil, fmt.Errorf("tensor %q is produced by both node %q and node %q", out, label(nodes[j]), label(n))
			}
			producer[out] = i
		}
	}
	waiting := make([]int, len(nodes))     // inputs not yet produced
	consumers := make([][]int, len(nodes)) // by producer index
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if in == "" || in == input {
				continue
			}
			if _, ok := inits[in]; ok {
				continue
			}
			p, ok := producer[in]
			if !ok {
				return nil, fmt.Errorf("node %q (%s) reads %q, which no node, initializer or input defines (truncated or damaged file?)", label(n), n.GetOpType(), in)
			}
			waiting[i]++
			consumers[p] = append(consumers[p], i)
		}
	}
	// Exported graphs are nearly always sorted already: taking the lowest
	// ready index keeps the file's order and, scanning from the first node
	// not yet placed, costs linear time for them.
	done := make([]bool, len(nodes))
	sorted := make([]*onnx.NodeProto, 0, len(nodes))
	first := 0
	for len(sorted) < len(nodes) {
		for done[first] {
			first++
		}
		next := -1
		for i := first; i < len(nodes); i++ {
			if !done[i] && waiting[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			n := nodes[first]
			return nil, fmt.Errorf("the graph has a cycle through node %q (%s)", label(n), n.GetOpType())
		}
		done[next] = true
		sorted = append(sorted, nodes[next])
		for _, cns := range consumers[next] {
			waiting[cns]--
		}
	}
	return sorted, nil
}
