package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAudioRun styles a 10 s clip with configs/audio_texture.yaml's
// settings (22050 Hz, 512-point frames every 128 samples, 1024 filters,
// 200 L-BFGS steps, 100 fast Griffin–Lim iterations), the WAV included:
// 55 s on 2 cores.
func BenchmarkAudioRun(b *testing.B) {
	style := writeTexture(b, 22050, 10)
	cfg, err := LoadConfig(filepath.Join("..", "configs", "audio_texture.yaml"), []string{
		"content=" + style, "output.dir=" + filepath.Join(b.TempDir(), "run"), "output.save_every=0", "optimizer.tolerance=0",
	})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Style[0].Path = style
	for b.Loop() {
		start := time.Now()
		res, err := Run(context.Background(), cfg, RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d iterations and the WAV in %v", res.Iterations, time.Since(start))
	}
}
