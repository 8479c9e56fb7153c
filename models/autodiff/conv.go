package autodiff

import (
	"fmt"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// convGrad builds dJ/dX of a Conv with constant weights.
//
// With unit strides the input gradient is itself a convolution of dY with
// the weights flipped in every spatial axis and with input and output
// channels swapped (per group), stored as a new constant: ONNX Runtime
// pre-packs it and runs it at the forward's speed, where ConvTranspose is
// markedly slower (BenchmarkConvInputGrad). Strided convolutions, and
// weights only known at run time, use ConvTranspose with an exact
// output_padding.
func convGrad(b *builder, dy string, needs []bool) ([]string, error) {
	if needs[1] || len(needs) > 2 && needs[2] {
		return nil, fmt.Errorf("weights or bias depend on the input; only the input gradient of constant weights is supported")
	}
	x, y, err := ioShapes(b)
	if err != nil {
		return nil, err
	}
	w, err := b.shape(input(b.node, 1))
	if err != nil {
		return nil, err
	}
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("input %v and weights %v: want equal ranks of at least 3", x, w)
	}
	win, err := convWindow(b.node, x[2:], w[2:])
	if err != nil {
		return nil, err
	}
	group := onnxgraph.AttrInt(b.node, "group", 1)
	if group <= 0 || w[0]%group != 0 || x[1] != w[1]*group {
		return nil, fmt.Errorf("input %v, weights %v and group %d do not fit", x, w, group)
	}
	if weights := b.ix.constant(input(b.node, 1)); weights != nil && win.unitStrides() {
		channels := x[1]
		if group == 1 && w[0]%blockedChannels == 0 && channels%blockedChannels != 0 {
			channels += blockedChannels - channels%blockedChannels
		}
		flipped, err := b.flippedWeights(input(b.node, 1), w, group, channels)
		if err != nil {
			return nil, err
		}
		dx := b.flippedConv(dy, flipped, win, x, y, group)
		if channels != x[1] {
			dx = b.op("Slice", []string{dx, b.ints(0), b.ints(x[1]), b.ints(1)})
		}
		return []string{dx}, nil
	}
	weights, err := b.read(input(b.node, 1))
	if err != nil {
		return nil, err
	}
	return []string{b.transposedConv(dy, weights, w[2:], win, x, y, group)}, nil
}

// blockedChannels is the channel multiple ONNX Runtime's blocked-layout
// convolutions need (the AVX-512 block; AVX2's 8 divides it).
const blockedChannels = 16

// flippedWeights returns a constant W' of shape [channels, M/group, k...]
// with W'[g*C/group+i, o, k] = W[g*M/group+o, i, K-1-k] for every group g,
// C = group·W.shape[1], and zeros in rows C to channels-1 (group 1 only).
func (b *builder) flippedWeights(name string, w []int64, group, channels int64) (string, error) {
	key := fmt.Sprintf("%s/%d/%d", name, group, channels)
	if f, ok := b.flipped[key]; ok {
		return f, nil
	}
	m, cg := w[0], w[1]
	mg := m / group
	k := int64(1)
	for _, d := range w[2:] {
		k *= d
	}
	order := make([]int, channels*mg)
	for j := range order {
		order[j] = -1
	}
	for g := range group {
		for o := range mg {
			for i := range cg {
				order[(g*cg+i)*mg+o] = int((g*mg+o)*cg + i)
			}
		}
	}
	dims := append([]int64{channels, mg}, w[2:]...)
	t, err := onnxgraph.FlippedFloats32(&b.weights, b.fresh(name+"_flipped"), dims, b.ix.constant(name), int(k), order)
	if err != nil {
		return "", fmt.Errorf("weights %q: %w", name, err)
	}
	b.bwd.Initializer = append(b.bwd.Initializer, t)
	f := t.GetName()
	b.flipped[key] = f
	return f, nil
}

// flippedConv convolves dy with flipped weights. A forward pad larger than
// the kernel extent turns into a negative pad here, which Conv does not
// accept; the rows it would drop are cut from dy first.
func (b *builder) flippedConv(dy, weights string, win window, x, y []int64, group int64) string {
	r := len(win.kernel)
	pads := make([]int64, 2*r)
	var starts, ends, axes []int64
	for i := range r {
		begin := win.extent(i) - 1 - win.padBegin[i]
		end := x[2+i] - y[2+i] + win.padBegin[i]
		cutBegin, cutEnd := max(-begin, 0), max(-end, 0)
		if cutBegin > 0 || cutEnd > 0 {
			starts = append(starts, cutBegin)
			ends = append(ends, y[2+i]-cutEnd)
			axes = append(axes, int64(2+i))
		}
		pads[i], pads[r+i] = max(begin, 0), max(end, 0)
	}
	if len(axes) > 0 {
		dy = b.op("Slice", []string{dy, b.ints(starts...), b.ints(ends...), b.ints(axes...)})
	}
	return b.op("Conv", []string{dy, weights},
		onnxgraph.Ints("kernel_shape", win.kernel...),
		onnxgraph.Ints("dilations", win.dilations...),
		onnxgraph.Ints("pads", pads...),
		onnxgraph.Int("group", group))
}

// transposedConv applies ConvTranspose with the forward's geometry. The end
// pad and output_padding are derived from the static sizes, so the result
// has exactly the input's shape whatever rows the forward's windows skipped.
func (b *builder) transposedConv(dy, weights string, kernel []int64, win window, x, y []int64, group int64) string {
	r := len(kernel)
	pads := make([]int64, 2*r)
	outPad := make([]int64, r)
	for i := range r {
		covered := (y[2+i]-1)*win.strides[i] + win.extent(i) - win.padBegin[i]
		pads[i] = win.padBegin[i]
		pads[r+i] = max(covered-x[2+i], 0)
		outPad[i] = x[2+i] - (covered - pads[r+i])
	}
	return b.op("ConvTranspose", []string{dy, weights},
		onnxgraph.Ints("kernel_shape", kernel...),
		onnxgraph.Ints("strides", win.strides...),
		onnxgraph.Ints("dilations", win.dilations...),
		onnxgraph.Ints("pads", pads...),
		onnxgraph.Ints("output_padding", outPad...),
		onnxgraph.Int("group", group))
}
