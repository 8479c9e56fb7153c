package video

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/video/flow"
)

// tinySpec is a three-block VGG with 4, 8 and 8 channels (as pipeline's
// tests use): every code path of a real VGG at a cost small enough for
// many frame runs on two shared cores.
var tinySpec = models.SynthSpec{Blocks: [][]int{{4}, {8}, {8}}}

// writeTinyModel writes the tiny backbone into a folder of the test's.
func writeTinyModel(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	if err := models.WriteSynthFrom(&buf, tinySpec, 7); err != nil {
		t.Fatalf("write tiny backbone: %v", err)
	}
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePan writes n frames of a camera panning right across
// builtin:village, step pixels a frame, each w×h, as frame_01.png, ... in
// a new folder, and returns the folder.
func writePan(t testing.TB, n, w, h, step int) string {
	t.Helper()
	src, err := builtinimg.Load("builtin:village")
	if err != nil {
		t.Fatal(err)
	}
	// Scale the picture so that the pan, w+step·n wide and h high, fits.
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	f := max(float64(w+step*n)/float64(sw), float64(h)/float64(sh))
	sw, sh = int(float64(sw)*f+1), int(float64(sh)*f+1)
	big, err := imageio.Resize(src, sw, sh)
	if err != nil {
		t.Fatal(err)
	}
	y0 := (sh - h) / 2
	dir := t.TempDir()
	for i := range n {
		frame := big.SubImage(image.Rect(i*step, y0, i*step+w, y0+h)).(*image.NRGBA)
		if err := imageio.Save(filepath.Join(dir, fmt.Sprintf("frame_%02d.png", i+1)), frame, "png", 0); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tinyVideoConfig is a video run of the tiny backbone on content (a folder
// or a file) at size pixels, one ONNX Runtime thread (which makes runs
// byte-reproducible), with extra appended as further top-level YAML.
func tinyVideoConfig(t testing.TB, model, content string, size int, extra string) *pipeline.Config {
	t.Helper()
	raw := fmt.Sprintf(`content: %q
style:
  - {path: builtin:swirls, weight: 1}
size: %d
model: {path: %q, arch: auto, pooling: avg}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.3, relu3_1: 0.2}
weights: {content: 10, style: 40, tv: 0.5}
output: {dir: %q, save_every: 0}
runtime: {threads: 1, graph_cache: false}
%s`, content, size, model, filepath.Join(t.TempDir(), "vid"), extra)
	cfg, err := pipeline.LoadConfigBytes([]byte(raw), nil)
	if err != nil {
		t.Fatalf("video config: %v", err)
	}
	return cfg
}

// loadTensor reads the image at path as a 3-plane tensor, and its size.
func loadTensor(t testing.TB, path string) ([]float32, int, int) {
	t.Helper()
	img, err := imageio.Load(path, imageio.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return imageio.ToTensor(img), img.Bounds().Dx(), img.Bounds().Dy()
}

// meanWarpError measures temporal consistency independently of the
// package's own bookkeeping: for each pair of consecutive frames, the flow
// between the content frames (resized to the outputs' size), the previous
// output warped along it, and the mean squared difference on pixels the
// consistency check trusts; averaged over the pairs.
func meanWarpError(t testing.TB, contents, outs []string) float64 {
	t.Helper()
	var sum float64
	for i := 1; i < len(outs); i++ {
		cur, w, h := loadTensor(t, outs[i])
		prevOut, _, _ := loadTensor(t, outs[i-1])
		c1, err := frameTensor(contents[i], w, h, 0)
		if err != nil {
			t.Fatal(err)
		}
		c0, err := frameTensor(contents[i-1], w, h, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := flow.Prepare(context.Background(), flow.Image{C: 3, H: h, W: w, Pix: c1}, flow.Image{C: 3, H: h, W: w, Pix: c0}, prevOut, 3, flow.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sum += WarpError(cur, p.Warped, p.Weights)
	}
	return sum / float64(len(outs)-1)
}
