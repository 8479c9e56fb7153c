package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/pipeline"
)

// TestEveryShippedConfigRuns: from a fresh clone without a network, every
// config in configs/ runs (shrunk to a few pixels and steps), except those
// naming a zoo: backbone, which fail within seconds with a one-line
// message naming the fetch command and the offline alternative. Audio
// configs read the sounds in examples/sounds; here they read shorter
// stand-ins the test writes (1 s of the same texture, a chirp for the
// speech), to keep the test fast.
func TestEveryShippedConfigRuns(t *testing.T) {
	sounds := t.TempDir()
	standIns := map[string]audio.Clip{
		"texture.wav": audio.NoiseClicks(8000, 1, 120, 1, 0.8),
		"speech.wav":  audio.Chirp(8000, 1, 200, 2000, 0.5),
	}
	for name, clip := range standIns {
		if err := audio.SaveWAV(filepath.Join(sounds, name), clip, audio.PCM16); err != nil {
			t.Fatal(err)
		}
	}
	paths, err := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	if err != nil || len(paths) < 5 {
		t.Fatalf("configs: %v, %v", paths, err)
	}
	t.Setenv("NST_MODEL_DIR", t.TempDir())
	t.Setenv("NST_MODEL_MIRROR", "http://127.0.0.1:1/") // nothing listens: offline
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			cfg, err := pipeline.LoadConfig(p, []string{"output.dir=" + filepath.Join(t.TempDir(), "run"), "output.save_every=0", "runtime.graph_cache=false"})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Size = 64
			cfg.Optimizer.Iterations = 2
			if cfg.IsAudio() {
				cfg.Content = filepath.Join(sounds, filepath.Base(cfg.Content))
				for i := range cfg.Style {
					cfg.Style[i].Path = filepath.Join(sounds, filepath.Base(cfg.Style[i].Path))
				}
				cfg.Audio.SampleRate, cfg.Audio.NFFT, cfg.Audio.Hop = 8000, 256, 64
				cfg.Audio.Filters, cfg.Audio.GriffinLim.Iterations = 32, 4
			}
			if cfg.IsVolume() {
				cfg.Volume.Size = 16
			}
			if len(cfg.Scales) > 0 {
				cfg.Scales = []pipeline.ScaleConfig{{Size: 32, Iterations: 1}, {Size: 64, Iterations: 1}}
			}
			start := time.Now()
			res, err := pipeline.Run(context.Background(), cfg, pipeline.RunOptions{})
			if strings.HasPrefix(cfg.Model.Path, "zoo:") {
				name := strings.TrimPrefix(cfg.Model.Path, "zoo:")
				if err == nil {
					t.Fatal("a zoo backbone ran without a network")
				}
				msg := err.Error()
				for _, want := range []string{"nst model fetch " + name, "--set model.path=builtin:" + name} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q does not say %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") || time.Since(start) > 10*time.Second {
					t.Errorf("message of %d lines after %v; want one line within seconds", strings.Count(msg, "\n")+1, time.Since(start))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(res.Image); err != nil {
				t.Error(err)
			}
		})
	}
}
