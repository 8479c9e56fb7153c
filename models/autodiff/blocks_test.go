package autodiff

import (
	"testing"

	"github.com/nst-project/nst/models/internal/trunks"
)

// TestTrunkBlocksGradient differentiates the characteristic block of each
// torchvision family, built as torch.onnx.export writes it at opset 17
// (see package trunks), and checks the gradient against finite
// differences, for a caller that keeps the seeds and for one that
// overwrites them (DifferentiateInPlace). Graphs with shapes computed at
// run time are folded first, as package models does.
func TestTrunkBlocksGradient(t *testing.T) {
	cases := []struct {
		name  string
		in    []int64
		width float64 // scales the blocks' fixed channel counts
		build func(b *trunks.Builder) []string
		opts  fdOptions
		want  []string // ops the forward graph must hold (the block is what it claims)
	}{
		{name: "AlexNet conv 11 stride 4, overlapping max pool", in: []int64{1, 3, 23, 23}, build: func(b *trunks.Builder) []string {
			c := b.Relu(b.Conv("x", trunks.ConvSpec{In: 3, Out: 4, KH: 11, KW: 11, Stride: 4, PadH: 2, PadW: 2, Bias: true}))
			return []string{c, b.MaxPool(c, 3, 2, 0, false)}
		}, want: []string{"Conv", "MaxPool"}},
		{name: "ResNet basic block, downsample", in: []int64{1, 4, 8, 8}, build: func(b *trunks.Builder) []string {
			x := b.ResNetBasic("x", 4, 4, 1)
			return []string{x, b.ResNetBasic(x, 4, 6, 2)}
		}, want: []string{"Add"}},
		{name: "ResNet bottleneck, batch norm not folded", in: []int64{1, 4, 6, 6}, build: func(b *trunks.Builder) []string {
			c := b.Relu(b.BatchNorm(b.Conv("x", trunks.ConvSpec{In: 4, Out: 4, KH: 3, KW: 3, PadH: 1, PadW: 1}), 4))
			return []string{b.ResNetBottleneck(c, 4, 2, 2)}
		}, want: []string{"BatchNormalization"}},
		{name: "MobileNet v2 inverted residual", in: []int64{1, 4, 6, 6}, build: func(b *trunks.Builder) []string {
			x := b.InvertedResidual("x", 4, 4, 1, 3)
			return []string{b.InvertedResidual(x, 4, 6, 2, 3)}
		}, want: []string{"Clip"}},
		{name: "MobileNet v3 blocks, squeeze-excite with HardSigmoid", in: []int64{1, 4, 6, 6}, opts: fdOptions{eps: 1e-3}, build: func(b *trunks.Builder) []string {
			x := b.MobileNetV3Block("x", 4, 8, 4, 3, 1, true, true)
			return []string{x, b.MobileNetV3Block(x, 4, 12, 6, 5, 2, true, false)}
		}, want: []string{"HardSwish", "HardSigmoid", "GlobalAveragePool", "Mul"}},
		{name: "EfficientNet MBConv, SiLU", in: []int64{1, 4, 6, 6}, opts: fdOptions{eps: 1e-3}, build: func(b *trunks.Builder) []string {
			x := b.MBConv("x", 4, 4, 4, 3, 1)
			return []string{b.MBConv(x, 4, 6, 1, 5, 2)}
		}, want: []string{"Sigmoid", "GlobalAveragePool"}},
		{name: "RegNetY block, grouped conv", in: []int64{1, 4, 6, 6}, opts: fdOptions{eps: 1e-3}, build: func(b *trunks.Builder) []string {
			x := b.RegNetYBlock("x", 4, 8, 2, 2, 0.25)
			return []string{b.RegNetYBlock(x, 8, 8, 1, 2, 0.25)}
		}, want: []string{"Sigmoid"}},
		{name: "ConvNeXt stem, block, downsample", in: []int64{1, 3, 16, 16}, opts: fdOptions{eps: 1e-3}, build: func(b *trunks.Builder) []string {
			x := b.LayerNorm2d(b.Conv("x", trunks.ConvSpec{In: 3, Out: 8, KH: 4, KW: 4, Stride: 4, Bias: true, Gain: 1}), 8)
			x = b.ConvNeXtBlock(x, 8)
			y := b.Conv(b.LayerNorm2d(x, 8), trunks.ConvSpec{In: 8, Out: 8, KH: 2, KW: 2, Stride: 2, Bias: true, Gain: 1})
			return []string{x, y}
		}, want: []string{"Transpose", "LayerNormalization", "MatMul", "Erf"}},
		{name: "ShuffleNet units, Split and dynamic channel shuffle", in: []int64{1, 4, 8, 8}, build: func(b *trunks.Builder) []string {
			x := b.ShuffleUnit("x", 4, 8, 2)
			return []string{b.ShuffleUnit(x, 8, 8, 1)}
		}, want: []string{"Split", "Reshape", "Transpose"}},
		{name: "DenseNet block and transition", in: []int64{1, 4, 6, 6}, build: func(b *trunks.Builder) []string {
			x, c := b.DenseBlock("x", 4, 3, 2, 2)
			return []string{b.Transition(x, c, c/2)}
		}, want: []string{"Concat", "BatchNormalization", "AveragePool"}},
		{name: "SqueezeNet Fire, ceil-mode pooling", in: []int64{1, 4, 8, 8}, build: func(b *trunks.Builder) []string {
			return []string{b.Fire(b.MaxPool("x", 3, 2, 0, true), 4, 2, 3, 3)}
		}},
		{name: "GoogLeNet input transform and Inception", in: []int64{1, 3, 6, 6}, width: 1.0 / 32, build: func(b *trunks.Builder) []string {
			x, _ := b.GoogLeNetInception(b.TransformInput("x"), 3, 2, 2, 3, 2, 2, 2)
			return []string{x}
		}, want: []string{"Gather", "Unsqueeze", "MaxPool"}},
		{name: "Inception v3 A, C, E (average pooling counting the padding)", in: []int64{1, 4, 7, 7}, width: 1.0 / 64, build: func(b *trunks.Builder) []string {
			x, c := b.InceptionA("x", 4, 2)
			y, c := b.InceptionC(x, c, 2)
			z, _ := b.InceptionE(y, c)
			return []string{x, z}
		}, want: []string{"AveragePool"}},
		{name: "Inception v3 B, D (halving)", in: []int64{1, 4, 11, 11}, width: 1.0 / 64, build: func(b *trunks.Builder) []string {
			x, c := b.InceptionB("x", 4)
			y, _ := b.InceptionD(x, c)
			return []string{y}
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := trunks.New("x", uint64(5000+i), c.in...)
			b.Width = c.width
			seeds := c.build(b)
			g := b.Graph()
			ops := map[string]bool{}
			for _, n := range g.GetNode() {
				ops[n.GetOpType()] = true
			}
			for _, op := range c.want {
				if !ops[op] {
					t.Errorf("the block has no %s", op)
				}
			}
			folded, _, err := FoldShapes(g, Shapes{"x": c.in})
			if err != nil {
				t.Fatal(err)
			}
			for _, inPlace := range []bool{false, true} {
				tg := newTestGraph(uint64(6000+i), c.in...)
				tg.g = folded
				opts := c.opts
				opts.inPlace = inPlace
				checkGradient(t, tg, seeds, opts)
			}
		})
	}
}
