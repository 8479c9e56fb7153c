// Package autodiff turns ONNX forward graphs into ONNX backward graphs by
// reverse-mode differentiation, so that ONNX Runtime computes the gradient
// of a cost with respect to a network's input image, and infers the static
// shapes both need.
//
// Differentiate returns a Plan: a copy of the forward graph with the extra
// outputs the backward pass reads (pooling indices), and a backward graph
// that maps dJ/d(seed) for each seed tensor, plus the saved forward tensors,
// to dJ/d(input). Only input gradients are built: weights are constants.
//
// The rules choose formulations measured to run fast in ONNX Runtime on
// CPU (bench_test.go; docs/performance.md, "The backward graph"): the
// input gradient of a stride-1 convolution is a convolution with flipped,
// channel-swapped constant weights, which runs at the forward's speed where
// ConvTranspose is markedly slower; the ReLU gradient is multiplied by a
// mask cast to float, the mask computed from the saved ReLU output or, for
// a ReLU that is no seed, saved by the forward as one byte per element; two
// gradient contributions meet in an Add, which runs faster than Sum;
// max-pooling gradients scatter through the forward's argmax indices, and a
// ReLU feeding only a max pool is masked at the pooled size.
package autodiff

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// Plan is what Differentiate builds.
type Plan struct {
	// Forward is the graph to run forward: a copy of g with what the
	// backward pass needs from it (MaxPool nodes given an Indices output,
	// an Identity exposing the input when the backward reads it). Its
	// outputs are left for the caller to set. Its initializers are g's own
	// (see onnxgraph.CloneSharingInitializers): neither may be modified.
	Forward *onnx.GraphProto
	// Backward has inputs SeedInputs (in seed order) then Saved, exactly one
	// output, InputGrad, and its own initializers; every input and output
	// is typed with its static shape.
	Backward *onnx.GraphProto
	// Saved lists the forward tensors the backward graph reads, ordered and
	// without duplicates. The caller adds them to the forward session's
	// outputs and feeds them to the backward session under the same names.
	// Seed ReLU outputs are saved for their masks, so Saved usually
	// overlaps the seeds: a tensor that is both is one forward output.
	// With DifferentiateInPlace it never holds a seed.
	// Other ReLUs save their mask (BOOL), computed by a node the plan adds
	// to Forward.
	Saved []string
	// SeedInputs are the backward inputs carrying dJ/d(seeds[i]), with the
	// seeds' shapes.
	SeedInputs []string
	// InputGrad is the backward output dJ/d(input), with the input's shape.
	InputGrad string
}

// UnsupportedOpError is returned when a node on a gradient path has no rule.
type UnsupportedOpError struct {
	// Node is the node's name, or its first output when it has no name.
	Node string
	// Op is the node's op type, prefixed by its domain unless ai.onnx.
	Op string
}

// Error names the node and the op and lists the supported ops.
func (e *UnsupportedOpError) Error() string {
	return fmt.Sprintf("node %q: op %s has no gradient rule (it lies between the input and a seed); supported ops: %s",
		e.Node, e.Op, strings.Join(SupportedOps(), ", "))
}

// SupportedOps lists the ops Differentiate can differentiate, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(gradRules))
	for op := range gradRules {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Differentiate builds the backward graph of g for dJ/d(input) given
// dJ/d(seed) for each seed tensor. Seeds may be any tensors of g that
// depend on input, several on one path (relu1_1 and relu3_1): contributions
// accumulate. Nodes that do not lie between input and a seed are dropped
// from the backward pass, so unsupported ops there (a classifier head) are
// fine. shapes must hold the static shape of every tensor (InferShapes).
func Differentiate(g *onnx.GraphProto, shapes Shapes, input string, seeds []string) (*Plan, error) {
	return build(g, shapes, input, seeds, false)
}

// DifferentiateInPlace is Differentiate for a caller that writes each
// seed's gradient over the seed tensor itself, in the forward pass's
// output, before running the backward pass: then no buffer the size of the
// seeds holds the gradients. The backward graph never reads a seed's value: a ReLU that is
// a seed has its mask saved by the forward pass (one byte per element),
// like any other ReLU, and a rule that reads a seed's value reads a copy
// the forward pass saves under another name.
func DifferentiateInPlace(g *onnx.GraphProto, shapes Shapes, input string, seeds []string) (*Plan, error) {
	return build(g, shapes, input, seeds, true)
}

func build(g *onnx.GraphProto, shapes Shapes, input string, seeds []string, inPlace bool) (*Plan, error) {
	ix, err := indexGraph(g)
	if err != nil {
		return nil, fmt.Errorf("differentiate: %w", err)
	}
	if !ix.inputs[input] {
		return nil, fmt.Errorf("differentiate: %q is not a (non-initializer) input of graph %q", input, g.GetName())
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("differentiate: no seeds")
	}
	nodes := g.GetNode()

	// live: tensors that depend on input.
	live := map[string]bool{input: true}
	for _, i := range ix.order {
		n := nodes[i]
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
			return nil, fmt.Errorf("differentiate: seed %q does not depend on input %q", s, input)
		}
		if p, ok := ix.producer[s]; ok {
			n := nodes[p]
			if j := slices.Index(n.GetOutput(), s); !differentiableOutput(n, j) {
				return nil, fmt.Errorf("differentiate: seed %q is output %d of node %s, which carries no gradient", s, j, nodeLabel(n))
			}
		}
	}

	// wanted: tensors some seed depends on through differentiable edges.
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
	for _, i := range ix.order {
		if n := nodes[i]; onPath[i] {
			if _, ok := gradRules[n.GetOpType()]; !ok || !standardDomain(n) {
				name := n.GetName()
				if name == "" {
					name = output(n, 0)
				}
				return nil, &UnsupportedOpError{Node: name, Op: opName(n)}
			}
		}
	}

	b := newBuilder(ix, shapes, seeds)
	b.seedsOverwritten = inPlace
	plan := &Plan{Forward: b.fwd, Backward: b.bwd}
	grads := map[string][]string{}
	for _, s := range seeds {
		shape, err := b.shape(s)
		if err != nil {
			return nil, fmt.Errorf("differentiate: seed: %w", err)
		}
		name := b.fresh("grad_" + s)
		plan.SeedInputs = append(plan.SeedInputs, name)
		b.bwd.Input = append(b.bwd.Input, onnxgraph.FloatValue(name, shape...))
		grads[s] = append(grads[s], name)
	}
	for k := len(ix.order) - 1; k >= 0; k-- {
		i := ix.order[k]
		if !onPath[i] {
			continue
		}
		n := nodes[i]
		b.node = n
		b.fwdNode = b.fwd.GetNode()[i]
		dy := b.sum(grads[output(n, 0)], "")
		if dy == "" {
			continue
		}
		needs := make([]bool, len(n.GetInput()))
		for j, in := range n.GetInput() {
			needs[j] = in != "" && live[in] && wanted[in] && differentiableInput(n, j)
		}
		dx, err := gradRules[n.GetOpType()].grad(b, dy, needs)
		if err != nil {
			return nil, fmt.Errorf("differentiate: node %s: %w", nodeLabel(n), err)
		}
		for j, d := range dx {
			if j < len(needs) && needs[j] && d != "" {
				grads[n.GetInput()[j]] = append(grads[n.GetInput()[j]], d)
			}
		}
	}
	inShape, err := b.shape(input)
	if err != nil {
		return nil, fmt.Errorf("differentiate: %w", err)
	}
	plan.InputGrad = b.fresh("grad_" + input)
	if len(grads[input]) == 0 {
		return nil, fmt.Errorf("differentiate: no gradient reaches %q from the seeds", input)
	}
	b.finish(grads[input], plan.InputGrad)
	b.bwd.Output = []*onnx.ValueInfoProto{onnxgraph.FloatValue(plan.InputGrad, inShape...)}
	plan.Saved = b.saved
	for _, s := range b.saved {
		shape, err := b.shape(s)
		if err != nil {
			return nil, fmt.Errorf("differentiate: saved tensor: %w", err)
		}
		b.bwd.Input = append(b.bwd.Input, onnxgraph.Value(s, b.savedType[s], shape...))
	}
	return plan, nil
}

// differentiableOutput reports whether output j of n can carry a gradient.
// Ops without a rule are assumed differentiable everywhere, so that a path
// through them is found and reported as unsupported.
func differentiableOutput(n *onnx.NodeProto, j int) bool {
	if _, ok := gradRules[n.GetOpType()]; !ok || !standardDomain(n) {
		return true
	}
	return j == 0
}

// differentiableInput reports whether input j of n can carry a gradient.
func differentiableInput(n *onnx.NodeProto, j int) bool {
	r, ok := gradRules[n.GetOpType()]
	if !ok || !standardDomain(n) || r.inputs == nil {
		return true
	}
	return slices.Contains(r.inputs, j)
}

// cloneGraph copies g so that the plan's changes never reach the caller's
// graph; the weights, which the plan does not change, are shared.
func cloneGraph(g *onnx.GraphProto) *onnx.GraphProto {
	return onnxgraph.CloneSharingInitializers(g)
}
