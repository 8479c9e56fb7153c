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
//
// Beyond VGG, the rules cover what torch.onnx.export writes at opset 17 for
// torchvision's other trunks (ResNet to ConvNeXt): activations read the
// saved output (Sigmoid, Tanh, HardSigmoid) or input (HardSwish, Erf);
// LayerNormalization reads the Mean and InvStdDev its forward node is made
// to output; a MatMul with a constant 2-D weight multiplies by a
// transposed copy stored as a constant; Slice, Gather with constant
// indices and Split put the gradient back with Pad, Concat or a one-hot
// MatMul. Shape, comparisons and rounding carry no gradient, so a shape
// computed from an activation stays off the backward pass; FoldShapes
// turns such shape computations into constants for one input size before
// InferShapes and Differentiate, which need static shapes. Convolution and
// pooling rules hold in 1, 2 and 3 spatial dimensions.
//
// CheckSupported and Differentiate report every op on a gradient path that
// has no rule (UnsupportedOpError), and a rule that cannot handle a node as
// configured names op and node (NodeError).
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
	// LayerNormalization nodes their Mean and InvStdDev outputs, an
	// Identity exposing the input when the backward reads it). Its
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

// UnsupportedOpError is returned when ops on a gradient path have no rule.
// It lists every such op once, with every node where it appears, so that
// one run tells what a model needs.
type UnsupportedOpError struct {
	// Node is the first such node in graph order: its name, or its first
	// output when it has no name.
	Node string
	// Op is that node's op type, prefixed by its domain unless ai.onnx.
	Op string
	// Ops lists every op without a rule on a gradient path, in order of
	// first appearance, each once.
	Ops []UnsupportedOp
}

// UnsupportedOp is one op without a gradient rule and where it appears.
type UnsupportedOp struct {
	// Op is the op type, prefixed by its domain unless ai.onnx.
	Op string
	// Sites are the nodes computing it on a gradient path, in graph order.
	Sites []OpSite
}

// OpSite is a node on a gradient path.
type OpSite struct {
	// Node is the node's name, or its first output when it has no name.
	Node string
	// Output is the node's first output tensor.
	Output string
	// Layer is the name a caller knows Output by (package models sets it
	// to the backbone's layer name); "" when none was set.
	Layer string
}

// String names the site for messages: the node, and the layer or output.
func (s OpSite) String() string {
	switch {
	case s.Layer != "":
		return fmt.Sprintf("node %q (layer %q)", s.Node, s.Layer)
	case s.Output != "" && s.Output != s.Node:
		return fmt.Sprintf("node %q (output %q)", s.Node, s.Output)
	}
	return fmt.Sprintf("node %q", s.Node)
}

// maxSitesShown bounds the sites an error message lists per op; the error
// value holds them all.
const maxSitesShown = 3

// Error lists every unsupported op with where it appears, then the
// supported ops.
func (e *UnsupportedOpError) Error() string {
	ops := e.Ops
	if len(ops) == 0 {
		ops = []UnsupportedOp{{Op: e.Op, Sites: []OpSite{{Node: e.Node}}}}
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		var sites []string
		for j, s := range op.Sites {
			if j == maxSitesShown {
				sites = append(sites, fmt.Sprintf("and %d more", len(op.Sites)-maxSitesShown))
				break
			}
			sites = append(sites, s.String())
		}
		parts[i] = fmt.Sprintf("%s at %s", op.Op, strings.Join(sites, ", "))
	}
	supported := strings.Join(SupportedOps(), ", ")
	if len(ops) == 1 {
		return fmt.Sprintf("op %s, between the input and a seed, has no gradient rule; supported ops: %s", parts[0], supported)
	}
	return fmt.Sprintf("%d ops between the input and the seeds have no gradient rule: %s; supported ops: %s",
		len(ops), strings.Join(parts, "; "), supported)
}

// NodeError is returned when a node has a gradient rule but the rule
// cannot differentiate it as configured (weights computed from the input,
// training-mode normalisation, an unsupported padding mode and the like).
type NodeError struct {
	// Node is the node's name, or its first output when it has no name.
	Node string
	// Op is the node's op type.
	Op string
	// Output is the node's first output tensor.
	Output string
	// Layer is the name a caller knows Output by (set by package models);
	// "" when none was set.
	Layer string
	// Err says what the rule cannot do.
	Err error
}

// Error names the op, the node and the layer, then the reason.
func (e *NodeError) Error() string {
	where := OpSite{Node: e.Node, Output: e.Output, Layer: e.Layer}.String()
	return fmt.Sprintf("cannot differentiate %s %s: %v", e.Op, where, e.Err)
}

// Unwrap returns the reason.
func (e *NodeError) Unwrap() error { return e.Err }

// SupportedOps lists the ops Differentiate can differentiate, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(gradRules))
	for op := range gradRules {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// CheckSupported returns an *UnsupportedOpError listing every op without a
// gradient rule on a path from input to the seeds, or nil. It needs no
// shapes, so that a caller can report what a model lacks before shape
// inference trips over the same ops with a less telling error. Errors in
// the graph's wiring or the seeds are returned as Differentiate returns
// them.
func CheckSupported(g *onnx.GraphProto, input string, seeds []string) error {
	ix, err := indexGraph(g)
	if err != nil {
		return fmt.Errorf("differentiate: %w", err)
	}
	p, err := findPaths(ix, input, seeds)
	if err != nil {
		return err
	}
	return p.unsupported()
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
	p, err := findPaths(ix, input, seeds)
	if err != nil {
		return nil, err
	}
	if err := p.unsupported(); err != nil {
		return nil, err
	}
	nodes := g.GetNode()
	live, wanted, onPath := p.live, p.wanted, p.onPath

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
		rule := gradRules[n.GetOpType()]
		needs := make([]bool, len(n.GetInput()))
		for j, in := range n.GetInput() {
			needs[j] = in != "" && live[in] && wanted[in] && differentiableInput(n, j)
		}
		var dx []string
		var err error
		if rule.gradN != nil {
			dys := make([]string, len(n.GetOutput()))
			reached := false
			for j, o := range n.GetOutput() {
				if o != "" {
					dys[j] = b.sum(grads[o], "")
					reached = reached || dys[j] != ""
				}
			}
			if !reached {
				continue
			}
			dx, err = rule.gradN(b, dys, needs)
		} else {
			dy := b.sum(grads[output(n, 0)], "")
			if dy == "" {
				continue
			}
			dx, err = rule.grad(b, dy, needs)
		}
		if err != nil {
			return nil, &NodeError{Node: siteOf(n).Node, Op: opName(n), Output: output(n, 0), Err: err}
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
	r, ok := gradRules[n.GetOpType()]
	if !ok || !standardDomain(n) {
		return true
	}
	return j == 0 || r.gradN != nil
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
