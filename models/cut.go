package models

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// Pooling modes of Options.Pooling.
const (
	PoolingMax = "max" // pooling as the file has it
	PoolingAvg = "avg" // max pooling replaced by average pooling, as Gatys et al. recommend
)

// cut returns the part of c that computes outputs: the nodes they depend on
// and nothing else (a classifier head goes, and so does every layer deeper
// than the deepest output). With pooling "avg", max pooling becomes average
// pooling over the same windows, padding excluded from the average.
func (c *canonical) cut(outputs []string, pooling string) (*canonical, error) {
	switch pooling {
	case "", PoolingMax, PoolingAvg:
	default:
		return nil, fmt.Errorf("pooling %q: want %q or %q", pooling, PoolingMax, PoolingAvg)
	}
	producer := map[string]*onnx.NodeProto{}
	for _, n := range c.graph.GetNode() {
		for _, out := range n.GetOutput() {
			if out != "" {
				producer[out] = n
			}
		}
	}
	keep := map[*onnx.NodeProto]bool{}
	stack := append([]string(nil), outputs...)
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := c.inits[t]; ok || t == "" || t == c.input {
			continue
		}
		n, ok := producer[t]
		if !ok {
			return nil, fmt.Errorf("tensor %q is not computed by the graph", t)
		}
		if !keep[n] {
			keep[n] = true
			stack = append(stack, n.GetInput()...)
		}
	}

	out := &onnx.GraphProto{Name: c.graph.GetName(), Input: c.graph.GetInput()}
	read := map[string]bool{}
	broken := map[*onnx.NodeProto]error{}
	for _, n := range c.graph.GetNode() {
		if !keep[n] {
			continue
		}
		if err := c.broken[n]; err != nil {
			broken[n] = err
		} else if pooling == PoolingAvg {
			swapped, err := averagePooling(n)
			if err != nil {
				return nil, err
			}
			n = swapped
		}
		out.Node = append(out.Node, n)
		for _, in := range n.GetInput() {
			read[in] = true
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range c.graph.GetInitializer() {
		if read[t.GetName()] {
			out.Initializer = append(out.Initializer, t)
			inits[t.GetName()] = t
		}
	}
	var named []namedTensor
	computed := map[string]bool{c.input: true}
	for _, n := range out.GetNode() {
		for _, o := range n.GetOutput() {
			computed[o] = true
		}
	}
	for _, o := range c.outputs {
		if computed[o.tensor] {
			named = append(named, o)
		}
	}
	return &canonical{graph: out, input: c.input, channels: c.channels, depth: c.depth, inits: inits, broken: broken, outputs: named}, nil
}

// runnable reports the first node of c that cannot run, naming it and its op.
func (c *canonical) runnable() error {
	for _, n := range c.graph.GetNode() {
		if err := c.broken[n]; err != nil {
			return fmt.Errorf("node %q (%s): %w", label(n), n.GetOpType(), err)
		}
	}
	return nil
}

// averagePooling returns the average-pooling twin of a max-pooling node, or
// n itself for any other node.
func averagePooling(n *onnx.NodeProto) (*onnx.NodeProto, error) {
	switch n.GetOpType() {
	case "GlobalMaxPool":
		return onnxgraph.Node("GlobalAveragePool", n.GetName(), n.GetInput(), n.GetOutput()), nil
	case "MaxPool":
	default:
		return n, nil
	}
	if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
		return nil, fmt.Errorf("node %q (MaxPool): its indices output is used, so it cannot become average pooling", label(n))
	}
	for _, d := range onnxgraph.AttrInts(n, "dilations", nil) {
		if d != 1 {
			return nil, fmt.Errorf("node %q (MaxPool): dilated pooling has no average-pooling twin in opset 17", label(n))
		}
	}
	attrs := []*onnx.AttributeProto{onnxgraph.Int("count_include_pad", 0)}
	for _, name := range []string{"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode"} {
		if a := onnxgraph.Attr(n, name); a != nil {
			attrs = append(attrs, a)
		}
	}
	return onnxgraph.Node("AveragePool", n.GetName(), n.GetInput(), n.GetOutput()[:1], attrs...), nil
}
