package trunks

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Archs lists the trunks Build knows, by torchvision's model names.
var Archs = []string{
	"alexnet", "resnet18", "resnet50", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_large",
	"densenet121", "googlenet", "inception_v3", "efficientnet_b0", "regnet_y_400mf",
	"shufflenet_v2_x1_0", "convnext_tiny",
}

// Options shape a trunk.
type Options struct {
	// Seed seeds the random weights.
	Seed uint64
	// Width multiplies every channel count; 0 means 1, torchvision's.
	Width float64
	// Depth bounds the blocks of each stage; 0 means torchvision's depths.
	Depth int
	// Input names the graph input; "" means "input".
	Input string
	// Dims are the input's dims; nil means [1,3,height,width] with
	// symbolic height and width, as the export script writes.
	Dims []int64
}

// Tap is one of a trunk's graph outputs.
type Tap struct {
	// Name is the graph output's name, as scripts/export_backbone.py
	// names it.
	Name string
	// Channels is the output's channel count.
	Channels int64
	// Stride is how many input pixels an output pixel spans.
	Stride int
}

// trunk is the state of one Build.
type trunk struct {
	*Builder
	o    Options
	taps []Tap
}

// c scales a channel count.
func (t *trunk) c(v int64) int64 { return t.Scale(v) }

// depth bounds a stage's block count.
func (t *trunk) depth(n int) int {
	if t.o.Depth > 0 {
		return min(n, t.o.Depth)
	}
	return n
}

// tap makes x a graph output.
func (t *trunk) tap(name, x string, c int64, stride int) string {
	t.Output(name, x, c)
	t.taps = append(t.taps, Tap{Name: name, Channels: c, Stride: stride})
	return name
}

// Build returns the trunk of arch with random weights and its taps, in
// graph order.
func Build(arch string, o Options) (*onnx.ModelProto, []Tap, error) {
	if o.Input == "" {
		o.Input = "input"
	}
	if o.Dims == nil {
		o.Dims = []int64{1, 3, -1, -1}
	}
	t := &trunk{Builder: New(o.Input, o.Seed, o.Dims...), o: o}
	t.Width = o.Width
	build, ok := map[string]func(x string){
		"alexnet": t.alexnet, "resnet18": t.resnet18, "resnet50": t.resnet50, "squeezenet1_1": t.squeezenet,
		"mobilenet_v2": t.mobilenetV2, "mobilenet_v3_large": t.mobilenetV3, "densenet121": t.densenet121,
		"googlenet": t.googlenet, "inception_v3": t.inceptionV3, "efficientnet_b0": t.efficientnetB0,
		"regnet_y_400mf": t.regnetY400, "shufflenet_v2_x1_0": t.shufflenetV2, "convnext_tiny": t.convnextTiny,
	}[arch]
	if !ok {
		return nil, nil, fmt.Errorf("unknown trunk %q", arch)
	}
	build(o.Input)
	t.g.Name = arch
	return t.Model(), t.taps, nil
}

// alexnet is torchvision's AlexNet.features, a plain chain exported with
// one output; its layers are named conv1_1 ... pool3 from the structure.
func (t *trunk) alexnet(x string) {
	conv := func(x string, in, out, k, s, p int64) string {
		return t.Relu(t.Conv(x, ConvSpec{In: in, Out: out, KH: k, KW: k, Stride: s, PadH: p, PadW: p, Bias: true}))
	}
	c64, c192, c384, c256 := t.c(64), t.c(192), t.c(384), t.c(256)
	x = t.MaxPool(conv(x, 3, c64, 11, 4, 2), 3, 2, 0, false)
	x = t.MaxPool(conv(x, c64, c192, 5, 1, 2), 3, 2, 0, false)
	x = conv(conv(conv(x, c192, c384, 3, 1, 1), c384, c256, 3, 1, 1), c256, c256, 3, 1, 1)
	t.tap("features", t.MaxPool(x, 3, 2, 0, false), c256, 32)
}

// resnetStem is conv1 (7x7 stride 2, batch norm folded), ReLU, and the
// 3x3 stride-2 max pooling.
func (t *trunk) resnetStem(x string, c int64) string {
	x = t.tap("relu", t.Relu(t.Conv(x, ConvSpec{In: 3, Out: c, KH: 7, KW: 7, Stride: 2, PadH: 3, PadW: 3, Bias: true})), c, 2)
	return t.MaxPool(x, 3, 2, 1, false)
}

func (t *trunk) resnet18(x string) {
	c := t.c(64)
	x = t.resnetStem(x, c)
	in := c
	for i, w := range []int64{64, 128, 256, 512} {
		w = t.c(w)
		for j := range t.depth(2) {
			stride := int64(1)
			if i > 0 && j == 0 {
				stride = 2
			}
			x = t.ResNetBasic(x, in, w, stride)
			in = w
		}
		x = t.tap(fmt.Sprintf("layer%d", i+1), x, in, 4<<i)
	}
}

func (t *trunk) resnet50(x string) {
	c := t.c(64)
	x = t.resnetStem(x, c)
	in := c
	for i, n := range []int{3, 4, 6, 3} {
		w := t.c(64 << i)
		for j := range t.depth(n) {
			stride := int64(1)
			if i > 0 && j == 0 {
				stride = 2
			}
			x = t.ResNetBottleneck(x, in, w, stride)
			in = 4 * w
		}
		x = t.tap(fmt.Sprintf("layer%d", i+1), x, in, 4<<i)
	}
}

// squeezenet is SqueezeNet 1.1's features; the taps are named after the
// paper's modules (conv1, fire2 ... fire9).
func (t *trunk) squeezenet(x string) {
	c64 := t.c(64)
	x = t.tap("conv1", t.Relu(t.Conv(x, ConvSpec{In: 3, Out: c64, KH: 3, KW: 3, Stride: 2, Bias: true})), c64, 2)
	x = t.MaxPool(x, 3, 2, 0, true)
	in := c64
	fire := func(name string, s, e int64, stride int) {
		s, e = t.c(s), t.c(e)
		x = t.Fire(x, in, s, e, e)
		in = 2 * e
		if name != "" {
			x = t.tap(name, x, in, stride)
		}
	}
	fire("", 16, 64, 0)
	fire("fire3", 16, 64, 4)
	x = t.MaxPool(x, 3, 2, 0, true)
	fire("", 32, 128, 0)
	fire("fire5", 32, 128, 8)
	x = t.MaxPool(x, 3, 2, 0, true)
	fire("", 48, 192, 0)
	fire("fire7", 48, 192, 16)
	fire("", 64, 256, 0)
	fire("fire9", 64, 256, 16)
}

// mobilenetV2 is MobileNet v2's features; taps at the end of each
// resolution: features.1, .3, .6, .13 and .18 of torchvision.
func (t *trunk) mobilenetV2(x string) {
	c := t.c(32)
	x = t.Relu6(t.ConvBN(x, 3, c, 3, 2, 1))
	in := c
	stage := 1
	for _, cfg := range [][4]int64{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}} {
		expand, out, n, s := cfg[0], t.c(cfg[1]), int(cfg[2]), cfg[3]
		for j := range t.depth(n) {
			stride := int64(1)
			if j == 0 {
				stride = s
			}
			x = t.InvertedResidual(x, in, out, stride, expand)
			in = out
		}
		switch cfg[1] {
		case 16, 24, 32, 96:
			x = t.tap(fmt.Sprintf("stage%d", stage), x, in, 2<<(stage-1))
			stage++
		}
	}
	last := t.c(1280)
	t.tap("stage5", t.Relu6(t.ConvBN(x, in, last, 1, 1, 1)), last, 32)
}

// mobilenetV3 is MobileNet v3 large's features; taps at features.1, .3,
// .6, .12 and .16 of torchvision.
func (t *trunk) mobilenetV3(x string) {
	c := t.c(16)
	x = t.HardSwish(t.ConvBN(x, 3, c, 3, 2, 1))
	in := c
	// kernel, expanded, out, squeeze-excite, HardSwish, stride, tap
	cfgs := []struct {
		k, exp, out int64
		se, hs      bool
		s           int64
		tap         string
		stride      int
	}{
		{3, 16, 16, false, false, 1, "stage1", 2},
		{3, 64, 24, false, false, 2, "", 0},
		{3, 72, 24, false, false, 1, "stage2", 4},
		{5, 72, 40, true, false, 2, "", 0},
		{5, 120, 40, true, false, 1, "", 0},
		{5, 120, 40, true, false, 1, "stage3", 8},
		{3, 240, 80, false, true, 2, "", 0},
		{3, 200, 80, false, true, 1, "", 0},
		{3, 184, 80, false, true, 1, "", 0},
		{3, 184, 80, false, true, 1, "", 0},
		{3, 480, 112, true, true, 1, "", 0},
		{3, 672, 112, true, true, 1, "stage4", 16},
		{5, 672, 160, true, true, 2, "", 0},
		{5, 960, 160, true, true, 1, "", 0},
		{5, 960, 160, true, true, 1, "", 0},
	}
	run := 0
	for _, cfg := range cfgs {
		// Depth bounds runs of blocks at one resolution and width.
		if cfg.s == 1 && cfg.tap == "" && t.o.Depth > 0 && run >= t.o.Depth {
			continue
		}
		out, exp := t.c(cfg.out), t.c(cfg.exp)
		if cfg.s == 2 {
			run = 0
		}
		x = t.MobileNetV3Block(x, in, exp, out, cfg.k, cfg.s, cfg.se, cfg.hs)
		in = out
		run++
		if cfg.tap != "" {
			x = t.tap(cfg.tap, x, in, cfg.stride)
		}
	}
	last := t.c(960)
	t.tap("stage5", t.HardSwish(t.ConvBN(x, in, last, 1, 1, 1)), last, 32)
}

// efficientnetB0 is EfficientNet-B0's features; taps at features.1, .2,
// .3, .5 and .8 of torchvision.
func (t *trunk) efficientnetB0(x string) {
	c := t.c(32)
	x = t.SiLU(t.ConvBN(x, 3, c, 3, 2, 1))
	in := c
	taps := map[int]struct {
		name   string
		stride int
	}{0: {"stage1", 2}, 1: {"stage2", 4}, 2: {"stage3", 8}, 4: {"stage4", 16}}
	// expand, kernel, stride, out, layers
	for i, cfg := range [][5]int64{{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3}, {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}} {
		out := t.c(cfg[3])
		for j := range t.depth(int(cfg[4])) {
			stride := int64(1)
			if j == 0 {
				stride = cfg[2]
			}
			x = t.MBConv(x, in, out, cfg[0], cfg[1], stride)
			in = out
		}
		if tp, ok := taps[i]; ok {
			x = t.tap(tp.name, x, in, tp.stride)
		}
	}
	last := t.c(1280)
	t.tap("stage5", t.SiLU(t.ConvBN(x, in, last, 1, 1, 1)), last, 32)
}

// regnetY400 is RegNetY-400MF's stem and trunk (widths 48, 104, 208, 440,
// depths 1, 3, 6, 6, group width 8, squeeze-excitation ratio 1/4).
func (t *trunk) regnetY400(x string) {
	c := t.c(32)
	x = t.tap("stem", t.Relu(t.ConvBN(x, 3, c, 3, 2, 1)), c, 2)
	in := c
	gw := max(1, int64(math.Round(8*max(t.Width, 0))))
	if t.Width == 0 {
		gw = 8
	}
	for i, cfg := range [][2]int64{{48, 1}, {104, 3}, {208, 6}, {440, 6}} {
		out := t.c(cfg[0])
		for j := range t.depth(int(cfg[1])) {
			stride := int64(1)
			if j == 0 {
				stride = 2
			}
			x = t.RegNetYBlock(x, in, out, stride, gw, 0.25)
			in = out
		}
		x = t.tap(fmt.Sprintf("block%d", i+1), x, in, 4<<i)
	}
}

// shufflenetV2 is ShuffleNet v2 x1.0 without its classifier (conv1,
// max pooling, stages 2-4 of 4, 8, 4 units, conv5), with a tap at every
// module.
func (t *trunk) shufflenetV2(x string) {
	c := t.c(24)
	x = t.tap("conv1", t.Relu(t.ConvBN(x, 3, c, 3, 2, 1)), c, 2)
	x = t.tap("maxpool", t.MaxPool(x, 3, 2, 1, false), c, 4)
	in := c
	for i, cfg := range [][2]int64{{116, 4}, {232, 8}, {464, 4}} {
		out := t.c(cfg[0])
		for j := range t.depth(int(cfg[1])) {
			stride := int64(1)
			if j == 0 {
				stride = 2
			}
			x = t.ShuffleUnit(x, in, out, stride)
			in = out
		}
		x = t.tap(fmt.Sprintf("stage%d", i+2), x, in, 8<<i)
	}
	last := t.c(1024)
	t.tap("conv5", t.Relu(t.ConvBN(x, in, last, 1, 1, 1)), last, 32)
}

// densenet121 is DenseNet-121's features (growth 32, blocks of 6, 12, 24
// and 16 layers): conv0 with norm0 folded, relu0, pool0, dense blocks and
// transitions, norm5. Taps: relu0, denseblock1-3 (before their
// transitions) and norm5.
func (t *trunk) densenet121(x string) {
	c := t.c(64)
	x = t.Relu(t.Conv(x, ConvSpec{In: 3, Out: c, KH: 7, KW: 7, Stride: 2, PadH: 3, PadW: 3, Bias: true}))
	x = t.tap("relu0", x, c, 2)
	x = t.MaxPool(x, 3, 2, 1, false)
	in, growth := c, t.c(32)
	for i, n := range []int{6, 12, 24, 16} {
		x, in = t.DenseBlock(x, in, int64(t.depth(n)), growth, 4)
		if i == 3 {
			t.tap("norm5", t.BatchNorm(x, in), in, 32)
			break
		}
		x = t.tap(fmt.Sprintf("denseblock%d", i+1), x, in, 4<<i)
		x = t.Transition(x, in, in/2)
		in /= 2
	}
}

// googlenet is GoogLeNet without aux classifiers or classifier; the input
// transform of the pretrained model is left to the preprocessing (see
// scripts/export_backbone.py).
func (t *trunk) googlenet(x string) {
	x = t.tap("conv1", t.basic(x, 3, t.c(64), 7, 7, 2, 3, 3), t.c(64), 2)
	x = t.MaxPool(x, 3, 2, 0, true)
	x = t.basic(x, t.c(64), t.c(64), 1, 1, 1, 0, 0)
	x = t.tap("conv3", t.basic(x, t.c(64), t.c(192), 3, 3, 1, 1, 1), t.c(192), 4)
	x = t.MaxPool(x, 3, 2, 0, true)
	in := t.c(192)
	inception := func(name string, stride int, cfg ...int64) {
		for i := range cfg {
			cfg[i] = t.c(cfg[i])
		}
		x, in = t.GoogLeNetInception(x, in, cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5])
		if name != "" {
			x = t.tap(name, x, in, stride)
		}
	}
	inception("", 0, 64, 96, 128, 16, 32, 32)
	inception("inception3b", 8, 128, 128, 192, 32, 96, 64)
	x = t.MaxPool(x, 3, 2, 0, true)
	inception("", 0, 192, 96, 208, 16, 48, 64)
	if t.o.Depth == 0 {
		inception("", 0, 160, 112, 224, 24, 64, 64)
		inception("", 0, 128, 128, 256, 24, 64, 64)
		inception("", 0, 112, 144, 288, 32, 64, 64)
	}
	inception("inception4e", 16, 256, 160, 320, 32, 128, 128)
	x = t.MaxPool(x, 2, 2, 0, true)
	inception("", 0, 256, 160, 320, 32, 128, 128)
	inception("inception5b", 32, 384, 192, 384, 48, 128, 128)
}

// inceptionV3 is Inception v3 up to Mixed_7c, without aux classifier,
// input transform (see googlenet) or classifier.
func (t *trunk) inceptionV3(x string) {
	c32, c64, c80, c192 := t.c(32), t.c(64), t.c(80), t.c(192)
	x = t.basic(x, 3, c32, 3, 3, 2, 0, 0)
	x = t.basic(x, c32, c32, 3, 3, 1, 0, 0)
	x = t.tap("Conv2d_2b_3x3", t.basic(x, c32, c64, 3, 3, 1, 1, 1), c64, 2)
	x = t.MaxPool(x, 3, 2, 0, false)
	x = t.basic(x, c64, c80, 1, 1, 1, 0, 0)
	x = t.tap("Conv2d_4a_3x3", t.basic(x, c80, c192, 3, 3, 1, 0, 0), c192, 4)
	x = t.MaxPool(x, 3, 2, 0, false)
	in := c192
	x, in = t.InceptionA(x, in, t.c(32))
	if t.o.Depth == 0 {
		x, in = t.InceptionA(x, in, t.c(64))
	}
	x, in = t.InceptionA(x, in, t.c(64))
	x = t.tap("Mixed_5d", x, in, 8)
	x, in = t.InceptionB(x, in)
	c7s := []int64{128, 160, 160, 192}
	if t.o.Depth > 0 {
		c7s = []int64{128, 192}
	}
	for _, c7 := range c7s {
		x, in = t.InceptionC(x, in, t.c(c7))
	}
	x = t.tap("Mixed_6e", x, in, 16)
	x, in = t.InceptionD(x, in)
	x, in = t.InceptionE(x, in)
	if t.o.Depth == 0 {
		x, in = t.InceptionE(x, in)
	}
	t.tap("Mixed_7c", x, in, 32)
}

// convnextTiny is ConvNeXt-T's features: 4x4 stride-4 stem with
// LayerNorm2d, stages of 3, 3, 9, 3 blocks of 96, 192, 384, 768 channels,
// LayerNorm2d and a 2x2 stride-2 conv between stages.
func (t *trunk) convnextTiny(x string) {
	dims := []int64{t.c(96), t.c(192), t.c(384), t.c(768)}
	x = t.Conv(x, ConvSpec{In: 3, Out: dims[0], KH: 4, KW: 4, Stride: 4, Bias: true, Gain: 1})
	x = t.tap("stem", t.LayerNorm2d(x, dims[0]), dims[0], 4)
	for i, n := range []int{3, 3, 9, 3} {
		if i > 0 {
			x = t.LayerNorm2d(x, dims[i-1])
			x = t.Conv(x, ConvSpec{In: dims[i-1], Out: dims[i], KH: 2, KW: 2, Stride: 2, Bias: true, Gain: 1})
		}
		for range t.depth(n) {
			x = t.ConvNeXtBlock(x, dims[i])
		}
		x = t.tap(fmt.Sprintf("stage%d", i+1), x, dims[i], 4<<i)
	}
}

// Recommended returns the layers scripts/export_backbone.py suggests for
// arch: one content layer and the style layers. They follow Gatys et
// al.'s VGG choice by analogy (style at the first four resolutions,
// content at stride 8); they are a starting point, not tuned.
func Recommended(arch string, taps []Tap) (content string, style []string) {
	if arch == "alexnet" {
		return "relu2_1", []string{"relu1_1", "relu2_1", "relu3_1", "relu3_3"}
	}
	for _, tp := range taps[:min(4, len(taps))] {
		style = append(style, tp.Name)
	}
	if len(taps) > 2 {
		content = taps[2].Name
	}
	return content, style
}
