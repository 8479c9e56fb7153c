package trunks

import (
	"math"
)

// residualGain scales the last convolution of a residual branch, so that
// random-weight trunks keep activations of moderate size through dozens
// of residual additions.
const residualGain = 0.3

// ResNetBasic appends torchvision's BasicBlock (ResNet-18/34), batch
// normalisation folded: conv3x3-ReLU-conv3x3, plus a 1x1 projection when
// the shape changes, then Add and ReLU.
func (b *Builder) ResNetBasic(x string, in, out, stride int64) string {
	h := b.Relu(b.ConvBN(x, in, out, 3, stride, 1))
	h = b.Conv(h, ConvSpec{In: out, Out: out, KH: 3, KW: 3, PadH: 1, PadW: 1, Bias: true, Gain: residualGain})
	return b.Relu(b.Add(h, b.shortcut(x, in, out, stride)))
}

// ResNetBottleneck appends torchvision's Bottleneck (ResNet-50, v1.5:
// the stride on the 3x3): 1x1-3x3-1x1 with ReLUs, out = 4·width.
func (b *Builder) ResNetBottleneck(x string, in, width, stride int64) string {
	out := 4 * width
	h := b.Relu(b.ConvBN(x, in, width, 1, 1, 1))
	h = b.Relu(b.ConvBN(h, width, width, 3, stride, 1))
	h = b.Conv(h, ConvSpec{In: width, Out: out, KH: 1, KW: 1, Bias: true, Gain: residualGain})
	return b.Relu(b.Add(h, b.shortcut(x, in, out, stride)))
}

// shortcut is x, or its 1x1 projection (downsample) when the shape changes.
func (b *Builder) shortcut(x string, in, out, stride int64) string {
	if in == out && stride == 1 {
		return x
	}
	return b.ConvBN(x, in, out, 1, stride, 1)
}

// InvertedResidual appends MobileNet v2's block: 1x1 expansion (unless
// expand is 1), 3x3 depthwise, both with ReLU6, linear 1x1 projection, and
// the residual Add when the shape is kept.
func (b *Builder) InvertedResidual(x string, in, out, stride, expand int64) string {
	hidden := in * expand
	h := x
	if expand != 1 {
		h = b.Relu6(b.ConvBN(h, in, hidden, 1, 1, 1))
	}
	h = b.Relu6(b.ConvBN(h, hidden, hidden, 3, stride, hidden))
	h = b.Conv(h, ConvSpec{In: hidden, Out: out, KH: 1, KW: 1, Bias: true, Gain: residualGain})
	if stride == 1 && in == out {
		return b.Add(x, h)
	}
	return h
}

// SqueezeExcite appends torchvision's SqueezeExcitation: global average
// pooling, 1x1 conv, activation, 1x1 conv, gate, and the gate times x.
func (b *Builder) SqueezeExcite(x string, c, squeeze int64, act, gate func(string) string) string {
	s := b.GlobalAvgPool(x)
	s = act(b.Conv(s, ConvSpec{In: c, Out: squeeze, KH: 1, KW: 1, Bias: true}))
	s = gate(b.Conv(s, ConvSpec{In: squeeze, Out: c, KH: 1, KW: 1, Bias: true, Gain: 1}))
	return b.Mul(s, x)
}

// MakeDivisible is torchvision's _make_divisible(v, 8): v rounded to a
// multiple of 8, at least 8 and not below 90% of v.
func MakeDivisible(v float64) int64 {
	n := max(8, int64(v+4)/8*8)
	if float64(n) < 0.9*v {
		n += 8
	}
	return n
}

// MobileNetV3Block appends MobileNet v3's InvertedResidual: 1x1 expansion
// to exp channels (when it differs from in), k×k depthwise, both with
// HardSwish (hs) or ReLU, optional squeeze-excitation with ReLU and
// Hardsigmoid, linear 1x1 projection, residual Add when the shape is kept.
func (b *Builder) MobileNetV3Block(x string, in, exp, out, k, stride int64, se, hs bool) string {
	act := b.Relu
	if hs {
		act = b.HardSwish
	}
	h := x
	if exp != in {
		h = act(b.ConvBN(h, in, exp, 1, 1, 1))
	}
	h = act(b.ConvBN(h, exp, exp, k, stride, exp))
	if se {
		h = b.SqueezeExcite(h, exp, MakeDivisible(float64(exp)/4), b.Relu, b.HardSigmoid)
	}
	h = b.Conv(h, ConvSpec{In: exp, Out: out, KH: 1, KW: 1, Bias: true, Gain: residualGain})
	if stride == 1 && in == out {
		return b.Add(h, x)
	}
	return h
}

// MBConv appends EfficientNet's block: 1x1 expansion with SiLU (unless
// expand is 1), k×k depthwise with SiLU, squeeze-excitation (SiLU,
// Sigmoid) to max(1, in/4) channels, linear 1x1 projection, and the
// residual Add (stochastic depth is the identity in eval mode).
func (b *Builder) MBConv(x string, in, out, expand, k, stride int64) string {
	hidden := in * expand
	h := x
	if expand != 1 {
		h = b.SiLU(b.ConvBN(h, in, hidden, 1, 1, 1))
	}
	h = b.SiLU(b.ConvBN(h, hidden, hidden, k, stride, hidden))
	h = b.SqueezeExcite(h, hidden, max(1, in/4), b.SiLU, b.Sigmoid)
	h = b.Conv(h, ConvSpec{In: hidden, Out: out, KH: 1, KW: 1, Bias: true, Gain: residualGain})
	if stride == 1 && in == out {
		return b.Add(h, x)
	}
	return h
}

// RegNetYBlock appends RegNet's ResBottleneckBlock with squeeze-excitation
// (bottleneck multiplier 1): 1x1 and grouped 3x3 convs with ReLU,
// squeeze-excitation (ReLU, Sigmoid) to round(seRatio·in) channels, 1x1,
// Add with the (projected) input, ReLU.
func (b *Builder) RegNetYBlock(x string, in, out, stride, groupWidth int64, seRatio float64) string {
	groups := max(1, out/groupWidth)
	for out%groups != 0 {
		groups--
	}
	h := b.Relu(b.ConvBN(x, in, out, 1, 1, 1))
	h = b.Relu(b.ConvBN(h, out, out, 3, stride, groups))
	h = b.SqueezeExcite(h, out, max(1, int64(math.Round(seRatio*float64(in)))), b.Relu, b.Sigmoid)
	h = b.Conv(h, ConvSpec{In: out, Out: out, KH: 1, KW: 1, Bias: true, Gain: residualGain})
	return b.Relu(b.Add(b.shortcut(x, in, out, stride), h))
}

// ConvNeXtBlock appends torchvision's CNBlock: 7x7 depthwise conv, NCHW to
// NHWC, LayerNorm, Linear to 4·dim, GELU, Linear back, NHWC to NCHW,
// layer scale (a [dim,1,1] Mul) and the residual Add.
func (b *Builder) ConvNeXtBlock(x string, dim int64) string {
	h := b.Conv(x, ConvSpec{In: dim, Out: dim, KH: 7, KW: 7, PadH: 3, PadW: 3, Group: dim, Bias: true, Gain: 1})
	h = b.Transpose(h, 0, 2, 3, 1)
	h = b.LayerNorm(h, dim)
	h = b.GELU(b.Linear(h, dim, 4*dim))
	h = b.Linear(h, 4*dim, dim)
	h = b.Transpose(h, 0, 3, 1, 2)
	h = b.Mul(b.Uniform(0.1, 0.5, dim, 1, 1), h)
	return b.Add(h, x)
}

// ChannelShuffle appends ShuffleNet's channel_shuffle with two groups as
// the exporter writes it for dynamic height and width: the sizes read with
// Shape and Gather, channels // 2 as an integer Div, the view targets
// assembled by Unsqueeze and Concat; a Transpose between the two Reshapes.
func (b *Builder) ChannelShuffle(x string) string {
	shape := b.Op("Shape", []string{x})
	dim := func(i int64) string {
		g := b.Op("Gather", []string{shape, b.scalarInt(i)})
		return b.Op("Unsqueeze", []string{g, b.Ints(0)})
	}
	n, c, h, w := dim(0), dim(1), dim(2), dim(3)
	perGroup := b.Op("Div", []string{c, b.Ints(2)})
	v := b.Op("Reshape", []string{x, b.Concat(0, n, b.Ints(2), perGroup, h, w)})
	v = b.Transpose(v, 0, 2, 1, 3, 4)
	return b.Op("Reshape", []string{v, b.Concat(0, n, c, h, w)})
}

// ShuffleUnit appends ShuffleNet v2's InvertedResidual: with stride 1 the
// input's halves are split apart, one passing through and the other through
// 1x1, 3x3 depthwise and 1x1 convs; with stride 2 both branches see the
// whole input. The halves meet in a Concat and are shuffled.
func (b *Builder) ShuffleUnit(x string, in, out, stride int64) string {
	bf := out / 2
	branch2 := func(x string, c int64) string {
		h := b.Relu(b.ConvBN(x, c, bf, 1, 1, 1))
		h = b.ConvBN(h, bf, bf, 3, stride, bf)
		return b.Relu(b.ConvBN(h, bf, bf, 1, 1, 1))
	}
	var y string
	if stride == 1 {
		halves := b.Split(x, 1, in/2, in/2)
		y = b.Concat(1, halves[0], branch2(halves[1], in/2))
	} else {
		b1 := b.ConvBN(x, in, in, 3, stride, in)
		b1 = b.Relu(b.ConvBN(b1, in, bf, 1, 1, 1))
		y = b.Concat(1, b1, branch2(x, in))
	}
	return b.ChannelShuffle(y)
}

// DenseBlock appends DenseNet's dense block of layers layers: each reads the
// Concat of the block input and every earlier layer's output and applies
// BatchNorm, ReLU, 1x1 conv (bnSize·growth, batch norm folded), ReLU, 3x3
// conv (growth). It returns the Concat of all and its channel count.
func (b *Builder) DenseBlock(x string, in, layers, growth, bnSize int64) (string, int64) {
	features := []string{x}
	c := in
	for range layers {
		cat := features[0]
		if len(features) > 1 {
			cat = b.Concat(1, features...)
		}
		h := b.Relu(b.BatchNorm(cat, c))
		h = b.Relu(b.ConvBN(h, c, bnSize*growth, 1, 1, 1))
		h = b.Conv(h, ConvSpec{In: bnSize * growth, Out: growth, KH: 3, KW: 3, PadH: 1, PadW: 1})
		features = append(features, h)
		c += growth
	}
	return b.Concat(1, features...), c
}

// Transition appends DenseNet's transition: BatchNorm, ReLU, 1x1 conv
// (no bias), 2x2 average pooling.
func (b *Builder) Transition(x string, in, out int64) string {
	h := b.Relu(b.BatchNorm(x, in))
	h = b.Conv(h, ConvSpec{In: in, Out: out, KH: 1, KW: 1})
	return b.AvgPool(h, 2, 2, 0, false, false)
}

// Fire appends SqueezeNet's Fire module: 1x1 squeeze with ReLU, then 1x1
// and 3x3 expansions with ReLU, concatenated.
func (b *Builder) Fire(x string, in, squeeze, e1, e3 int64) string {
	s := b.Relu(b.ConvBN(x, in, squeeze, 1, 1, 1))
	return b.Concat(1, b.Relu(b.ConvBN(s, squeeze, e1, 1, 1, 1)), b.Relu(b.ConvBN(s, squeeze, e3, 3, 1, 1)))
}

// basic appends Inception's BasicConv2d (batch norm folded, ReLU) with a
// kh×kw kernel.
func (b *Builder) basic(x string, in, out, kh, kw, stride, ph, pw int64) string {
	return b.Relu(b.Conv(x, ConvSpec{In: in, Out: out, KH: kh, KW: kw, Stride: stride, PadH: ph, PadW: pw, Bias: true}))
}

// GoogLeNetInception appends GoogLeNet's Inception module: 1x1; 1x1 then
// 3x3; 1x1 then 3x3 (torchvision's, where the paper has 5x5); 3x3 max
// pooling (stride 1, ceil mode) then 1x1; concatenated.
func (b *Builder) GoogLeNetInception(x string, in, c1, c3r, c3, c5r, c5, pool int64) (string, int64) {
	b1 := b.basic(x, in, c1, 1, 1, 1, 0, 0)
	b2 := b.basic(b.basic(x, in, c3r, 1, 1, 1, 0, 0), c3r, c3, 3, 3, 1, 1, 1)
	b3 := b.basic(b.basic(x, in, c5r, 1, 1, 1, 0, 0), c5r, c5, 3, 3, 1, 1, 1)
	b4 := b.basic(b.MaxPool(x, 3, 1, 1, true), in, pool, 1, 1, 1, 0, 0)
	return b.Concat(1, b1, b2, b3, b4), c1 + c3 + c5 + pool
}

// TransformInput appends the input transform of torchvision's GoogLeNet
// and Inception v3 with pretrained weights: each channel selected (Gather
// of a scalar index), unsqueezed, scaled and shifted from ImageNet
// normalisation to (x−0.5)/0.5, and the three concatenated.
func (b *Builder) TransformInput(x string) string {
	mean, std := []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}
	var chans []string
	for c := range 3 {
		g := b.Op("Gather", []string{x, b.scalarInt(int64(c))}, intAttr("axis", 1))
		u := b.Op("Unsqueeze", []string{g, b.Ints(1)})
		m := b.Mul(u, b.Scalar(std[c]/0.5))
		chans = append(chans, b.Add(m, b.Scalar((mean[c]-0.5)/0.5)))
	}
	return b.Concat(1, chans...)
}

// InceptionA appends Inception v3's InceptionA (Mixed_5b-d): 1x1; 1x1
// then 5x5; 1x1 then two 3x3; 3x3 average pooling counting the padding,
// then 1x1. Fixed channel counts are scaled by b.Width; it returns the
// output and its channel count (224+pool at width 1).
func (b *Builder) InceptionA(x string, in, pool int64) (string, int64) {
	c48, c64, c96 := b.Scale(48), b.Scale(64), b.Scale(96)
	b1 := b.basic(x, in, c64, 1, 1, 1, 0, 0)
	b5 := b.basic(b.basic(x, in, c48, 1, 1, 1, 0, 0), c48, c64, 5, 5, 1, 2, 2)
	b3 := b.basic(b.basic(b.basic(x, in, c64, 1, 1, 1, 0, 0), c64, c96, 3, 3, 1, 1, 1), c96, c96, 3, 3, 1, 1, 1)
	bp := b.basic(b.AvgPool(x, 3, 1, 1, true, false), in, pool, 1, 1, 1, 0, 0)
	return b.Concat(1, b1, b5, b3, bp), 2*c64 + c96 + pool
}

// InceptionB appends Inception v3's InceptionB (Mixed_6a), which halves
// the size: 3x3 stride 2; 1x1, 3x3, 3x3 stride 2; 3x3 max pooling.
func (b *Builder) InceptionB(x string, in int64) (string, int64) {
	c64, c96, c384 := b.Scale(64), b.Scale(96), b.Scale(384)
	b3 := b.basic(x, in, c384, 3, 3, 2, 0, 0)
	d := b.basic(b.basic(b.basic(x, in, c64, 1, 1, 1, 0, 0), c64, c96, 3, 3, 1, 1, 1), c96, c96, 3, 3, 2, 0, 0)
	return b.Concat(1, b3, d, b.MaxPool(x, 3, 2, 0, false)), c384 + c96 + in
}

// InceptionC appends Inception v3's InceptionC (Mixed_6b-e) with
// factorised 7x7 convolutions (1x7 and 7x1) of c7 channels.
func (b *Builder) InceptionC(x string, in, c7 int64) (string, int64) {
	row := func(x string, i, o int64) string { return b.basic(x, i, o, 1, 7, 1, 0, 3) }
	col := func(x string, i, o int64) string { return b.basic(x, i, o, 7, 1, 1, 3, 0) }
	c192 := b.Scale(192)
	b1 := b.basic(x, in, c192, 1, 1, 1, 0, 0)
	b7 := col(row(b.basic(x, in, c7, 1, 1, 1, 0, 0), c7, c7), c7, c192)
	d := b.basic(x, in, c7, 1, 1, 1, 0, 0)
	d = row(col(row(col(d, c7, c7), c7, c7), c7, c7), c7, c192)
	bp := b.basic(b.AvgPool(x, 3, 1, 1, true, false), in, c192, 1, 1, 1, 0, 0)
	return b.Concat(1, b1, b7, d, bp), 4 * c192
}

// InceptionD appends Inception v3's InceptionD (Mixed_7a), which halves
// the size.
func (b *Builder) InceptionD(x string, in int64) (string, int64) {
	c192, c320 := b.Scale(192), b.Scale(320)
	b3 := b.basic(b.basic(x, in, c192, 1, 1, 1, 0, 0), c192, c320, 3, 3, 2, 0, 0)
	b7 := b.basic(x, in, c192, 1, 1, 1, 0, 0)
	b7 = b.basic(b.basic(b7, c192, c192, 1, 7, 1, 0, 3), c192, c192, 7, 1, 1, 3, 0)
	b7 = b.basic(b7, c192, c192, 3, 3, 2, 0, 0)
	return b.Concat(1, b3, b7, b.MaxPool(x, 3, 2, 0, false)), c320 + c192 + in
}

// InceptionE appends Inception v3's InceptionE (Mixed_7b-c), whose 3x3
// branches fork into 1x3 and 3x1 convolutions. Output 2048 channels.
func (b *Builder) InceptionE(x string, in int64) (string, int64) {
	c192, c320, c384, c448 := b.Scale(192), b.Scale(320), b.Scale(384), b.Scale(448)
	fork := func(x string, c int64) string {
		return b.Concat(1, b.basic(x, c, c384, 1, 3, 1, 0, 1), b.basic(x, c, c384, 3, 1, 1, 1, 0))
	}
	b1 := b.basic(x, in, c320, 1, 1, 1, 0, 0)
	b3 := fork(b.basic(x, in, c384, 1, 1, 1, 0, 0), c384)
	d := fork(b.basic(b.basic(x, in, c448, 1, 1, 1, 0, 0), c448, c384, 3, 3, 1, 1, 1), c384)
	bp := b.basic(b.AvgPool(x, 3, 1, 1, true, false), in, c192, 1, 1, 1, 0, 0)
	return b.Concat(1, b1, b3, d, bp), c320 + 4*c384 + c192
}
