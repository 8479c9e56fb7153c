package unitviz

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
)

// luminance weights (Rec. 601) the detector's edge filters sum colours with.
var luminance = [3]float64{0.299, 0.587, 0.114}

// detector is a two-block VGG-style backbone built so that unit 0 of every
// layer detects vertical edges that go from dark on the left to bright on
// the right, and unit 1 of conv1_1 horizontal edges (dark above, bright
// below); the other units have random weights:
//
//	conv1_1 (4 units) relu1_1 pool1 (2x2 max) conv2_1 (3 units) relu2_1
//
// Unit 0 of conv2_1 passes pool1's unit 0 through its centre tap, so the
// deeper layers see the same edges through a larger field.
type detector struct {
	w1, w2 []float32 // [4,3,3,3] and [3,4,3,3]
	b      *models.Backbone
}

// newDetector writes the detector as an ONNX file and loads it, so that it
// gets VGG naming like any file would.
func newDetector(t testing.TB) *detector {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	d := &detector{w1: make([]float32, 4*3*9), w2: make([]float32, 3*4*9)}
	sobelRows := [3]float64{0.25, 0.5, 0.25}
	gradient := [3]float64{-1, 0, 1}
	for c := range 3 {
		for ky := range 3 {
			for kx := range 3 {
				d.w1[(0*3+c)*9+ky*3+kx] = float32(luminance[c] * sobelRows[ky] * gradient[kx])
				d.w1[(1*3+c)*9+ky*3+kx] = float32(luminance[c] * sobelRows[kx] * gradient[ky])
			}
		}
	}
	for i := 2 * 27; i < len(d.w1); i++ {
		d.w1[i] = float32(rng.NormFloat64() * 0.2)
	}
	d.w2[(0*4+0)*9+4] = 1
	for i := 36; i < len(d.w2); i++ {
		d.w2[i] = float32(rng.NormFloat64() * 0.2)
	}
	g := &onnx.GraphProto{
		Name:  "edge-detector",
		Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("image", 1, 3, -1, -1)},
		Initializer: []*onnx.TensorProto{
			onnxgraph.Floats32("w1", []int64{4, 3, 3, 3}, d.w1), onnxgraph.Floats32("b1", []int64{4}, make([]float32, 4)),
			onnxgraph.Floats32("w2", []int64{3, 4, 3, 3}, d.w2), onnxgraph.Floats32("b2", []int64{3}, make([]float32, 3)),
		},
		Node: []*onnx.NodeProto{
			onnxgraph.Node("Conv", "c1", []string{"image", "w1", "b1"}, []string{"c1"}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1)),
			onnxgraph.Node("Relu", "r1", []string{"c1"}, []string{"r1"}),
			onnxgraph.Node("MaxPool", "p1", []string{"r1"}, []string{"p1"}, onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("strides", 2, 2)),
			onnxgraph.Node("Conv", "c2", []string{"p1", "w2", "b2"}, []string{"c2"}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1)),
			onnxgraph.Node("Relu", "r2", []string{"c2"}, []string{"r2"}),
		},
		Output: []*onnx.ValueInfoProto{onnxgraph.FloatValue("r2", 1, 3, -1, -1)},
	}
	data, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "detector.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if d.b, err = models.Load(path); err != nil {
		t.Fatal(err)
	}
	return d
}

// network runs the detector as a run would, with ImageNet preprocessing so
// that the preprocessing's chain rule is part of every gradient checked.
func (d *detector) network() Network {
	return Network{Backbone: d.b, Pooling: models.PoolingMax, Preprocess: models.ImageNetPreprocess, Session: ortrt.SessionOptions{Threads: 1}}
}

// fmap is a [C,H,W] feature map in float64.
type fmap struct {
	c, h, w int
	d       []float64
}

func (m fmap) at(c, y, x int) float64 { return m.d[(c*m.h+y)*m.w+x] }

// conv3x3 is a 3x3, padding-1, stride-1 convolution without bias.
func conv3x3(x fmap, w []float32, cout int) fmap {
	out := fmap{cout, x.h, x.w, make([]float64, cout*x.h*x.w)}
	for o := range cout {
		for y := range x.h {
			for xx := range x.w {
				var s float64
				for c := range x.c {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := y+ky-1, xx+kx-1
							if iy < 0 || ix < 0 || iy >= x.h || ix >= x.w {
								continue
							}
							s += float64(w[((o*x.c+c)*3+ky)*3+kx]) * x.at(c, iy, ix)
						}
					}
				}
				out.d[(o*x.h+y)*x.w+xx] = s
			}
		}
	}
	return out
}

func relu(x fmap) fmap {
	out := fmap{x.c, x.h, x.w, make([]float64, len(x.d))}
	for i, v := range x.d {
		out.d[i] = math.Max(v, 0)
	}
	return out
}

func maxPool2(x fmap) fmap {
	out := fmap{x.c, x.h / 2, x.w / 2, make([]float64, x.c*(x.h/2)*(x.w/2))}
	for c := range x.c {
		for y := range out.h {
			for xx := range out.w {
				m := math.Inf(-1)
				for dy := range 2 {
					for dx := range 2 {
						m = math.Max(m, x.at(c, 2*y+dy, 2*xx+dx))
					}
				}
				out.d[(c*out.h+y)*out.w+xx] = m
			}
		}
	}
	return out
}

// reference computes every layer of the detector in float64 for an RGB
// image in [0,1], preprocessed as network() says.
func (d *detector) reference(img []float64, h, w int) map[string]fmap {
	p := models.ImageNetPreprocess
	in := fmap{3, h, w, make([]float64, len(img))}
	for i, v := range img {
		c := i / (h * w)
		in.d[i] = (v*float64(p.Scale) - float64(p.Mean[c])) / float64(p.Std[c])
	}
	out := map[string]fmap{}
	out["conv1_1"] = conv3x3(in, d.w1, 4)
	out["relu1_1"] = relu(out["conv1_1"])
	out["pool1"] = maxPool2(out["relu1_1"])
	out["conv2_1"] = conv3x3(out["pool1"], d.w2, 3)
	out["relu2_1"] = relu(out["conv2_1"])
	return out
}
