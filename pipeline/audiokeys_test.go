package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/record"
)

// TestAudioKeysShapeTheRun checks what each audio key does to a run, on a
// 1 s texture at 8000 Hz: audio.n_fft sets the bins (n_fft/2+1),
// audio.hop the frames, audio.filters the backbone, audio.window the
// spectrogram the costs see, audio.sample_rate the rate of final.wav, and
// the Griffin–Lim keys final.wav's samples but not the optimisation.
func TestAudioKeysShapeTheRun(t *testing.T) {
	style := writeTexture(t, 8000, 1)
	base := []string{"audio.sample_rate=8000", "audio.n_fft=256", "audio.hop=64", "audio.filters=64", "audio.griffin_lim.iterations=3"}
	config := func(sets ...string) *Config {
		t.Helper()
		cfg, err := loadYAML(t, audioTestYAML(style, style, t.TempDir(), 2), append(slices.Clone(base), sets...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("n_fft, hop and filters", func(t *testing.T) {
		for _, tc := range []struct {
			sets          []string
			bins, filters int
		}{
			{nil, 129, 64},
			{[]string{"audio.n_fft=128"}, 65, 64},
			{[]string{"audio.filters=32"}, 129, 32},
		} {
			e := tinyExperiment(t, config(tc.sets...))
			if got := e.audio.content.Bins; got != tc.bins {
				t.Errorf("%v: %d bins, want %d", tc.sets, got, tc.bins)
			}
			want := fmt.Sprintf("%d bins, %d filters", tc.bins, tc.filters)
			if d := e.backbone.Describe(); !strings.Contains(d, want) {
				t.Errorf("%v: backbone %q, want %q", tc.sets, d, want)
			}
		}
		// 8000 samples: halving the hop doubles the frames (give or take
		// the frames at the ends).
		at64, at32 := tinyExperiment(t, config()).audio.content.Frames, tinyExperiment(t, config("audio.hop=32")).audio.content.Frames
		if d := at32 - 2*at64; d < -2 || d > 2 {
			t.Errorf("%d frames at hop 64, %d at hop 32; want about twice as many", at64, at32)
		}
	})

	run := func(sets ...string) (wav []byte, costs [][]float64, info audio.WAVInfo) {
		t.Helper()
		res, err := Run(context.Background(), config(sets...), RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wav = readFile(t, res.Image)
		table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
		if err != nil {
			t.Fatal(err)
		}
		_, info, err = audio.DecodeWAV(bytes.NewReader(wav), audio.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return wav, table.Values, info
	}
	wav, costs, info := run()
	if info.SampleRate != 8000 {
		t.Errorf("final.wav at %d Hz, want audio.sample_rate's 8000", info.SampleRate)
	}
	t.Run("window", func(t *testing.T) {
		_, hamming, _ := run("audio.window=hamming")
		if slices.Equal(hamming[0], costs[0]) {
			t.Errorf("hann and hamming windows give the same first costs %v", costs[0])
		}
	})
	t.Run("sample_rate", func(t *testing.T) {
		if _, _, info := run("audio.sample_rate=11025"); info.SampleRate != 11025 {
			t.Errorf("final.wav at %d Hz, want 11025", info.SampleRate)
		}
	})
	for _, set := range []string{"audio.griffin_lim.iterations=6", "audio.griffin_lim.momentum=0"} {
		t.Run(set, func(t *testing.T) {
			other, otherCosts, _ := run(set)
			if bytes.Equal(other, wav) {
				t.Errorf("%s: the same final.wav as with the defaults", set)
			}
			for i := range costs {
				if !slices.Equal(otherCosts[i], costs[i]) {
					t.Errorf("%s changed the optimisation: costs.csv row %d %v, was %v", set, i+1, otherCosts[i], costs[i])
				}
			}
		})
	}
}
