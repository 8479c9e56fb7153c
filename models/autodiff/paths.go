package autodiff

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// paths is what lies between an input and the seeds.
type paths struct {
	ix *graphIndex
	// live holds the tensors whose values depend on the input through
	// ops that can carry a gradient (see stopsGradient).
	live map[string]bool
	// wanted holds the live tensors some seed depends on through
	// differentiable edges.
	wanted map[string]bool
	// onPath marks, by node index, the nodes a gradient flows through.
	onPath []bool
}

// findPaths checks the input and the seeds and finds the nodes between
// them.
func findPaths(ix *graphIndex, input string, seeds []string) (*paths, error) {
	g := ix.g
	if !ix.inputs[input] {
		return nil, fmt.Errorf("differentiate: %q is not a (non-initializer) input of graph %q", input, g.GetName())
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("differentiate: no seeds")
	}
	nodes := g.GetNode()
	live := map[string]bool{input: true}
	for _, i := range ix.order {
		n := nodes[i]
		if stopsGradient(n) {
			continue
		}
		if slices.ContainsFunc(n.GetInput(), func(s string) bool { return s != "" && live[s] }) {
			for _, o := range n.GetOutput() {
				if o != "" {
					live[o] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, s := range seeds {
		if seen[s] {
			return nil, fmt.Errorf("differentiate: seed %q listed twice", s)
		}
		seen[s] = true
		if !ix.names[s] {
			return nil, fmt.Errorf("differentiate: seed %q is no tensor of the graph", s)
		}
		if !live[s] {
			return nil, fmt.Errorf("differentiate: seed %q does not depend on input %q (or only through its shape)", s, input)
		}
		if p, ok := ix.producer[s]; ok {
			n := nodes[p]
			if j := slices.Index(n.GetOutput(), s); !differentiableOutput(n, j) {
				return nil, fmt.Errorf("differentiate: seed %q is output %d of node %s, which carries no gradient", s, j, nodeLabel(n))
			}
		}
	}
	wanted := map[string]bool{}
	for _, s := range seeds {
		wanted[s] = true
	}
	onPath := make([]bool, len(nodes))
	for k := len(ix.order) - 1; k >= 0; k-- {
		i := ix.order[k]
		n := nodes[i]
		hit := false
		for j, o := range n.GetOutput() {
			if o != "" && wanted[o] && live[o] && differentiableOutput(n, j) {
				hit = true
			}
		}
		if !hit {
			continue
		}
		for j, in := range n.GetInput() {
			if in != "" && live[in] && differentiableInput(n, j) {
				wanted[in] = true
				onPath[i] = true
			}
		}
	}
	return &paths{ix: ix, live: live, wanted: wanted, onPath: onPath}, nil
}

// unsupported returns an *UnsupportedOpError for the nodes on a path that
// have no rule, or nil.
func (p *paths) unsupported() error {
	var e *UnsupportedOpError
	byOp := map[string]int{}
	for _, i := range p.ix.order {
		n := p.ix.g.GetNode()[i]
		if !p.onPath[i] {
			continue
		}
		if _, ok := gradRules[n.GetOpType()]; ok && standardDomain(n) {
			continue
		}
		site := siteOf(n)
		op := opName(n)
		if e == nil {
			e = &UnsupportedOpError{Node: site.Node, Op: op}
		}
		k, ok := byOp[op]
		if !ok {
			k = len(e.Ops)
			byOp[op] = k
			e.Ops = append(e.Ops, UnsupportedOp{Op: op})
		}
		e.Ops[k].Sites = append(e.Ops[k].Sites, site)
	}
	if e == nil {
		return nil
	}
	return e
}

// siteOf describes n for error values.
func siteOf(n *onnx.NodeProto) OpSite {
	name := n.GetName()
	if name == "" {
		name = output(n, 0)
	}
	return OpSite{Node: name, Output: output(n, 0)}
}

// gradientStops lists ops whose outputs carry no gradient to their inputs:
// they read only shapes, compare, count or round, so their outputs are
// integers, booleans or piecewise constant. A path through them is no
// gradient path, and a shape computed from the input (Shape, Gather,
// Concat, ... feeding a Reshape) stays off the backward pass.
var gradientStops = map[string]bool{
	"Shape": true, "Size": true, "ConstantOfShape": true, "EyeLike": true, "NonZero": true,
	"ArgMax": true, "ArgMin": true, "Equal": true, "Greater": true, "GreaterOrEqual": true,
	"Less": true, "LessOrEqual": true, "Not": true, "And": true, "Or": true, "Xor": true,
	"IsNaN": true, "IsInf": true, "Sign": true, "Floor": true, "Ceil": true, "Round": true,
}

// stopsGradient reports whether n's outputs carry no gradient: an op of
// gradientStops, or a Cast to a type other than a float.
func stopsGradient(n *onnx.NodeProto) bool {
	if !standardDomain(n) {
		return false
	}
	if n.GetOpType() == "Cast" {
		return !isFloatType(onnx.TensorProto_DataType(onnxgraph.AttrInt(n, "to", 0)))
	}
	return gradientStops[n.GetOpType()]
}

// isFloatType reports whether t is a floating-point element type.
func isFloatType(t onnx.TensorProto_DataType) bool {
	switch t {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_DOUBLE, onnx.TensorProto_FLOAT16, onnx.TensorProto_BFLOAT16:
		return true
	}
	return false
}
