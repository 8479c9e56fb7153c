package audio

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadClip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.wav")
	if err := SaveWAV(p, Sine(48000, 0.5, 1000, 0.5), Float32); err != nil {
		t.Fatal(err)
	}
	c, info, err := LoadClip(p, 22050, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != 48000 || c.Rate != 22050 || len(c.Samples) != 11025 {
		t.Fatalf("file at %d Hz became %d samples at %d Hz, want 11025 at 22050", info.SampleRate, len(c.Samples), c.Rate)
	}
	ideal := Sine(22050, 0.5, 1000, 0.5).Samples
	for i := 500; i < len(ideal)-500; i++ {
		if math.Abs(float64(c.Samples[i]-ideal[i])) > 2e-5 {
			t.Fatalf("sample %d = %v, want %v", i, c.Samples[i], ideal[i])
		}
	}
	if _, _, err := LoadClip(p, 5, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), "target rate 5 Hz") || !strings.Contains(err.Error(), p) {
		t.Errorf("bad rate: %v", err)
	}
	if _, _, err := LoadClip(filepath.Join(t.TempDir(), "none.wav"), 22050, DecodeOptions{}); err == nil {
		t.Error("missing file loaded")
	}
}

func TestNormalize(t *testing.T) {
	c := Clip{Rate: 8000, Samples: []float32{0.5, -2, 1}}
	if c.Peak() != 2 {
		t.Errorf("peak %v", c.Peak())
	}
	if g := c.Normalize(0.9); g != 0.45 || c.Samples[0] != 0.225 || c.Samples[1] != -0.9 || c.Samples[2] != 0.45 {
		t.Errorf("gain %v, samples %v; want 0.45, [0.225 -0.9 0.45]", g, c.Samples)
	}
	silent := Clip{Rate: 8000, Samples: []float32{0, 0}}
	if g := silent.Normalize(0.9); g != 1 || silent.Samples[0] != 0 {
		t.Errorf("silence: gain %v", g)
	}
}
