package pipeline_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// TestSpecialFilesAreRefused: a named pipe or a device given as a config,
// an image, a model, or found where a run's records are read back (arrays,
// costs.csv, manifest.json, an input hashed for the manifest) is refused at once, naming what it is, instead of blocking
// in open() or being read without end. Each call is bounded by a timer,
// so a regression fails the test rather than hanging it.
func TestSpecialFilesAreRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	load := map[string]func(string) error{
		"config":     func(p string) error { _, err := pipeline.LoadConfig(p, nil); return err },
		"image":      func(p string) error { _, err := imageio.Load(p, imageio.LoadOptions{}); return err },
		"model":      func(p string) error { _, err := models.Load(p); return err },
		"array":      func(p string) error { _, _, err := record.ReadNPY(p); return err },
		"costs.csv":  func(p string) error { _, err := record.ReadCosts(p); return err },
		"manifest":   func(p string) error { _, err := record.ReadManifest(p); return err },
		"input hash": func(p string) error { _, err := record.FileSHA256(p); return err },
		"resume costs.csv": func(p string) error {
			_, err := record.ResumeCostLog(p, []string{"content", "total"}, 1)
			return err
		},
	}
	for what, f := range load {
		for _, c := range []struct{ path, want string }{{fifo, "named pipe"}, {"/dev/zero", "device"}} {
			done := make(chan error, 1)
			go func() { done <- f(c.path) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s %s: %v, want an error saying %q", what, c.path, err, c.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s %s: still reading after 5 s", what, c.path)
			}
		}
	}
}

// TestThreadsAreBounded: runtime.threads far above the machine's CPUs is
// refused by the config check (10000 once started 32,000 threads).
func TestThreadsAreBounded(t *testing.T) {
	_, err := pipeline.LoadConfigBytes([]byte("content: builtin:village\nstyle: [{path: builtin:swirls}]\n"), []string{"runtime.threads=10000"})
	if err == nil || !strings.Contains(err.Error(), "runtime.threads: 10000") {
		t.Errorf("err = %v, want runtime.threads refused", err)
	}
}

// TestUndersizedImagesAreRefused: an output or style image too small for
// the deepest requested layer is refused before the network is prepared,
// naming the layer and what size works.
func TestUndersizedImagesAreRefused(t *testing.T) {
	tests := []struct {
		sets []string
		want string
	}{
		{[]string{"size=16"}, "size 16 gives a 16x11 image, too small for layer relu5_1 (stride 16): its shorter side must be at least 16 px; use a size of at least 24"},
		{[]string{"size=32", "scales=[{size: 16, iterations: 1}, {size: 32, iterations: 1}]"}, "size 16 gives a 16x11 image"},
		{[]string{"size=32", "style=[{path: builtin:swirls, scale: 0.5}]"}, "style[0] at size 32 is 16x12, too small for layer relu5_1"},
	}
	for _, tt := range tests {
		cfg, err := pipeline.LoadConfigBytes([]byte("content: builtin:village\nstyle: [{path: builtin:swirls}]\n"), append(tt.sets, "output.dir="+t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = pipeline.Run(t.Context(), cfg, pipeline.RunOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error saying %q", tt.sets, err, tt.want)
		}
	}
}
