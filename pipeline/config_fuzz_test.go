package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/internal/fuzzguard"
)

// FuzzLoadConfig feeds arbitrary bytes to LoadConfig as a config file. It
// must never panic; a config it accepts must be valid, and its resolved form
// must load again and resolve to the same bytes, since a run's config.yaml
// is what nst run --resume reads back.
// Seeds: testdata/fuzz/FuzzLoadConfig plus the configs below.
func FuzzLoadConfig(f *testing.F) {
	for _, seed := range []string{
		minimal,
		minimal + "size: 64\nseed: -3\ninit: noise\nnoise_ratio: 0.5\n",
		minimal + "layers:\n  content: {'input.4': 2}\n  style: {/22/Relu_output_0: 0.5, relu1_1: .25}\n",
		minimal + "model: {path: builtin:vgg16, arch: vgg16, pooling: max, preprocess: {mean: [103.9, 116.8, 123.7], std: [1, 1, 1], scale: 255, channels: bgr}}\n",
		minimal + "optimizer: {name: adam, iterations: 10, lr: 0.02, history: 5}\noutput: {dir: out, save_every: 0, format: jpeg, jpeg_quality: 80}\n",
		minimal + "runtime: {threads: 2, device: cpu, library: /lib/x.so}\nlimits: {max_pixels: 1000}\nweights: {content: 1e5, style: 1e-3, tv: 0}\n",
		minimal + "style:\n  - {path: a.png, weight: 0.7}\n  - {path: b.png, weight: 0.3}\n",
		minimal + "size: [1\n",
		minimal + "weights: {content: .nan, style: -.inf}\n",
		minimal + "optimiser: {lr: 1}\n",
		"content: &a x.png\nstyle: [{path: *a, weight: 1}]\n",
		"- just\n- a list\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "exp.yaml")
	again := filepath.Join(dir, "resolved.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang or a runaway allocation is a finding too: see fuzzguard.
		fuzzguard.Run(t, fuzzguard.For(len(data)), func() {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path, nil)
			if err != nil {
				return
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("LoadConfig accepted a config that does not validate: %v", err)
			}
			first, err := cfg.Resolved()
			if err != nil {
				t.Fatalf("resolve an accepted config: %v", err)
			}
			if err := os.WriteFile(again, first, 0o644); err != nil {
				t.Fatal(err)
			}
			reloaded, err := LoadConfig(again, nil)
			if err != nil {
				t.Fatalf("the resolved config does not load: %v\n%s", err, first)
			}
			second, err := reloaded.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, second) {
				t.Fatalf("the resolved config changed on reload:\n%s\n---\n%s", first, second)
			}
		})
	})
}
