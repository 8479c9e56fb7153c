package pipeline_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// TestInitImageEndToEnd: init: image starts from that image (a run of no
// iterations writes it back, resized) and the manifest records its
// SHA-256 under the role "init".
func TestInitImageEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.png")
	img := image.NewNRGBA(image.Rect(0, 0, 64, 43))
	for i := range img.Pix {
		img.Pix[i] = uint8(37 * (i % 7))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res, err := pipeline.Run(context.Background(), tinyExternalConfig(t, "init=image", "init_image="+path, "optimizer.iterations=0", "weights.tv=0"), pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := imageio.Load(res.Image, imageio.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := imageio.Resize(img, out.Bounds().Dx(), out.Bounds().Dy())
	if err != nil {
		t.Fatal(err)
	}
	for i := range out.Pix {
		if d := int(out.Pix[i]) - int(want.Pix[i]); d > 1 || d < -1 {
			t.Fatalf("byte %d: %d, the init image resized has %d", i, out.Pix[i], want.Pix[i])
		}
	}
	m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := record.FileSHA256(path)
	found := false
	for _, in := range m.Inputs {
		found = found || (in.Role == "init" && in.SHA256 == sum)
	}
	if !found {
		t.Errorf("manifest inputs %+v lack the init image with sha256 %s", m.Inputs, sum)
	}
}

// TestJPEGOutputThroughResume: output.format: jpeg writes JPEG images, and
// a resumed run finishes with them too.
func TestJPEGOutputThroughResume(t *testing.T) {
	stopAt := 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := tinyExternalConfig(t, "output.format=jpeg", "optimizer.iterations=6")
	res, err := pipeline.Run(ctx, cfg, pipeline.RunOptions{Observers: []pipeline.Observer{pipeline.ObserverFunc(func(ev *pipeline.Event) error {
		if ev.Kind == pipeline.EventIteration && ev.Iteration == stopAt {
			cancel()
		}
		return nil
	})}})
	if err == nil || filepath.Ext(res.Image) != ".jpg" {
		t.Fatalf("interrupted run: %+v, %v", res, err)
	}
	res, err = pipeline.Resume(context.Background(), res.Dir, pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(res.Image)
	if err != nil || filepath.Base(res.Image) != "final.jpg" || len(raw) < 3 || raw[0] != 0xff || raw[1] != 0xd8 {
		t.Errorf("final image %s is not a JPEG file (%v)", res.Image, err)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "last.jpg")); err == nil {
		t.Error("the interrupted run's last.jpg is left behind")
	}
}

// TestCUDAOnACPULibrary: runtime.device: cuda with a CPU-only ONNX Runtime
// stops with one line that says so.
func TestCUDAOnACPULibrary(t *testing.T) {
	_, err := pipeline.Run(context.Background(), tinyExternalConfig(t, "runtime.device=cuda"), pipeline.RunOptions{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(strings.ToLower(err.Error()), "cuda") {
		t.Errorf("err = %v, want one line naming CUDA", err)
	}
}
