package unitviz

import (
	"image"
	"math/rand/v2"
	"testing"

	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
)

// The per-step helpers at the size of a dream (256x256 RGB) and of a
// conv1_1 activation plane at 512.

func BenchmarkRoll(b *testing.B) {
	const h, w = 256, 256
	src, dst := randomImage(h, w, 1), make([]float32, 3*h*w)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		roll(dst, src, 3, h, w, i%17-8, 8-i%13)
	}
}

func BenchmarkGaussianBlur(b *testing.B) {
	const h, w = 256, 256
	x := randomImage(h, w, 1)
	g := newGaussianBlur(0.5, len(x))
	b.ReportAllocs()
	for b.Loop() {
		g.apply(x, 3, h, w)
	}
}

func BenchmarkFindPeaks(b *testing.B) {
	const h, w = 512, 384
	rng := rand.New(rand.NewPCG(1, 2))
	plane := make([]float32, h*w)
	for i := range plane {
		plane[i] = rng.Float32()
	}
	taken := make([]bool, h*w)
	dst := make([]peak, 0, 9)
	b.ReportAllocs()
	for b.Loop() {
		dst = findPeaks(dst[:0], taken, plane, h, w, 9, separation{2, 2}, image.Rect(0, 0, w, h))
	}
}

// BenchmarkDreamStep times one evaluation of the dream's objective
// (shift, forward, backward, shift back, TV) on the built-in VGG19 at
// 128x128 up to relu4_2; Adam and the blur add the time of
// BenchmarkGaussianBlur and less.
func BenchmarkDreamStep(b *testing.B) {
	backbone, err := models.Synth("vgg19", 0)
	if err != nil {
		b.Fatal(err)
	}
	const h, w = 128, 128
	network := Network{Backbone: backbone, Pooling: models.PoolingAvg, Preprocess: models.ImageNetPreprocess, Session: ortrt.SessionOptions{Threads: 2}}
	net, err := network.prepare([]string{"conv4_2", "relu4_2"}, w, h, false)
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	x := randomImage(h, w, 1)
	d, err := newDreamer(net, DreamOptions{Layer: "relu4_2", Unit: 17, Width: w, Height: h, TV: 0.1}, x)
	if err != nil {
		b.Fatal(err)
	}
	grad := make([]float32, len(x))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := d.eval(x, grad, i%5-2, 2-i%3); err != nil {
			b.Fatal(err)
		}
	}
}
