package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/record"
)

// writeTexture writes audio.NoiseClicks (seconds long at rate, 120 bpm)
// as a WAV file in a folder of the test's and returns its path.
func writeTexture(t testing.TB, rate int, seconds float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "texture.wav")
	if err := audio.SaveWAV(path, audio.NoiseClicks(rate, seconds, 120, 1, 0.8), audio.PCM16); err != nil {
		t.Fatal(err)
	}
	return path
}

// audioTestYAML is a fast audio texture run: 22050 Hz, 512-point frames
// every 128 samples (257 bins), 1024 filters (256 matched the Gram
// matrices as well but left the mean spectrum at a correlation of 0.71),
// content weight 0, noise init, 30 Griffin–Lim iterations. The style
// weight is high because Gram costs of spectrograms are small: at weight
// 1 L-BFGS's gradient tolerance ended the run after 6 steps.
func audioTestYAML(content, style, outDir string, iterations int) string {
	return fmt.Sprintf(`content: %q
style:
  - {path: %q}
init: noise
weights: {content: 0, style: 1e6, tv: 0}
optimizer: {name: lbfgs, iterations: %d, tolerance: 0}
output: {dir: %q, save_every: 0}
runtime: {threads: 1, graph_cache: false}
audio: {sample_rate: 22050, n_fft: 512, hop: 128, filters: 1024, griffin_lim: {iterations: 30}}
`, content, style, iterations, filepath.Join(outDir, "run"))
}

// loadYAML loads a config from YAML text, as nst run would from a file.
func loadYAML(t testing.TB, yaml string, sets ...string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadConfig(path, sets)
}

// meanSpectrum is the mean magnitude expm1(v) of each bin of s over time.
func meanSpectrum(s audio.Spectrogram) []float64 {
	out := make([]float64, s.Bins)
	for k := range s.Bins {
		for _, v := range s.Row(k) {
			out[k] += math.Expm1(float64(max(v, 0)))
		}
		out[k] /= float64(s.Frames)
	}
	return out
}

// correlation is Pearson's correlation of a and b.
func correlation(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestAudioTexture: a texture run (content weight 0) on a 5 s NoiseClicks
// texture lowers the style cost at least 100x within 300 iterations, its
// result's mean magnitude spectrum correlates >= 0.9 with the style's,
// it writes final.wav and the three spectrogram pictures, and the same
// config gives a byte-identical final.wav.
func TestAudioTexture(t *testing.T) {
	if testing.Short() {
		t.Skip("300 iterations of an audio run")
	}
	style := writeTexture(t, 22050, 5)
	var wavs [][]byte
	// The first run is the texture; the other two, shorter, the same
	// config twice.
	for run, iterations := range []int{300, 20, 20} {
		cfg, err := loadYAML(t, audioTestYAML(style, style, t.TempDir(), iterations))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := Run(context.Background(), cfg, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: %d iterations in %v", run+1, res.Iterations, time.Since(start))
		if filepath.Base(res.Image) != "final.wav" {
			t.Errorf("result %s; want final.wav", res.Image)
		}
		data, err := os.ReadFile(res.Image)
		if err != nil {
			t.Fatal(err)
		}
		if run > 0 {
			wavs = append(wavs, data)
		}
		for _, name := range []string{"content_spectrogram.png", "style1_spectrogram.png", "result_spectrogram.png"} {
			if _, err := os.Stat(filepath.Join(res.Dir, name)); err != nil {
				t.Error(err)
			}
		}
		if run > 0 {
			continue
		}
		table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
		if err != nil {
			t.Fatal(err)
		}
		col, ok := table.Column("style")
		if !ok || len(col) < 2 {
			t.Fatalf("costs.csv has %d style values", len(col))
		}
		first, last := col[0], col[len(col)-1]
		t.Logf("style cost %.4g -> %.4g (%.0fx)", first, last, first/last)
		if !(first/last >= 100) {
			t.Errorf("style cost fell %.4g -> %.4g, %.1fx; want at least 100x", first, last, first/last)
		}
		// The result's spectrum, from the WAV as a listener gets it.
		stft, err := audio.NewSTFT(cfg.Audio.STFT())
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := audio.LoadClip(res.Image, cfg.Audio.SampleRate, audio.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := audio.LoadClip(style, cfg.Audio.SampleRate, audio.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := correlation(meanSpectrum(stft.Analyze(got.Samples)), meanSpectrum(stft.Analyze(want.Samples)))
		t.Logf("mean spectrum correlation %.3f", r)
		if !(r >= 0.9) {
			t.Errorf("mean magnitude spectrum correlates %.3f with the style's; want >= 0.9", r)
		}
	}
	if !bytes.Equal(wavs[0], wavs[1]) {
		t.Error("the same config gave two different final.wav files")
	}
}

// TestAudioConfigRefused: configs mixing media, or giving an audio run
// what only images have, are refused by LoadConfig; a bad WAV by Run,
// with package audio's message.
func TestAudioConfigRefused(t *testing.T) {
	dir := t.TempDir()
	wav := writeTexture(t, 8000, 0.5)
	png := filepath.Join(dir, "style.png")
	writePNG(t, png, 16, 16)
	base := audioTestYAML(wav, wav, dir, 2)
	for _, tc := range []struct {
		name string
		yaml string
		sets []string
		want string
	}{
		{"audio content, image style", audioTestYAML(wav, png, dir, 2), nil, "not a .wav file but content"},
		{"image content, audio style", audioTestYAML(png, wav, dir, 2), nil, "is audio but content"},
		{"colour mode", base, []string{"color=luminance"}, "color:"},
		{"scales", base + "scales: [{size: 64, iterations: 1}, {size: 512, iterations: 1}]\n", nil, "scales:"},
		{"image backbone", base, []string{"model.path=builtin:vgg19"}, "needs builtin:audio"},
		{"audio backbone for images", audioTestYAML(png, png, dir, 2), []string{"model.path=builtin:audio"}, "is for audio runs"},
		{"bad n_fft", base, []string{"audio.n_fft=3"}, "audio:"},
		{"bad momentum", base, []string{"audio.griffin_lim.momentum=2"}, "audio.griffin_lim.momentum"},
		{"bad filters", base, []string{"audio.filters=0"}, "audio.filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, tc.sets...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
	t.Run("bad wav", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.wav")
		if err := os.WriteFile(bad, []byte("RIFF\x04\x00\x00\x00WAVE"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadYAML(t, audioTestYAML(bad, wav, dir, 2))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), cfg, RunOptions{})
		_, _, wantErr := audio.LoadWAV(bad, audio.DecodeOptions{})
		if err == nil || wantErr == nil || !strings.Contains(err.Error(), "content: "+wantErr.Error()) {
			t.Errorf("error %v; want content: %v", err, wantErr)
		}
	})
}

// TestAudioResume interrupts an audio run after its 3rd step and resumes
// it: the run folder (final.wav, spectrogram pictures, intermediate
// spectrograms) and every cost equal an uninterrupted run's, byte for
// byte, and the interrupted run's last.wav is gone. builtin:audio-multi also checks its default layers.
func TestAudioResume(t *testing.T) {
	style := writeTexture(t, 8000, 1)
	yaml := audioTestYAML(style, style, t.TempDir(), 6)
	sets := []string{"audio.sample_rate=8000", "audio.n_fft=256", "audio.hop=64", "audio.filters=64", "output.save_every=2"}
	for _, backbone := range []string{"builtin:audio", "builtin:audio-multi"} {
		t.Run(backbone, func(t *testing.T) {
			cfg, err := loadYAML(t, yaml, append(sets, "model.path="+backbone)...)
			if err != nil {
				t.Fatal(err)
			}
			want := readRunFolder(t, runOK(t, cfg).Dir)
			if cfg, err = loadYAML(t, yaml, append(sets, "model.path="+backbone)...); err != nil {
				t.Fatal(err)
			}
			if _, ok := want.files["final.wav"]; !ok {
				t.Fatal("no final.wav")
			}

			interruptAndResume(t, cfg, "last.wav", want)
		})
	}
}
