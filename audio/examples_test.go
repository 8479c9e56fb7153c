package audio

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteExamples writes the synthetic clips a README can show, with
// their spectrogram pictures on one shared scale and a Griffin–Lim
// reconstruction of the content from its spectrogram alone, into the folder
// named by NST_AUDIO_EXAMPLES:
//
//	NST_AUDIO_EXAMPLES=/tmp/examples go test -run TestWriteExamples ./audio/
//
// Without the variable it is skipped: it makes files, it checks nothing.
func TestWriteExamples(t *testing.T) {
	dir := os.Getenv("NST_AUDIO_EXAMPLES")
	if dir == "" {
		t.Skip("set NST_AUDIO_EXAMPLES to a folder to write the example clips and pictures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, _ := NewSTFT(DefaultConfig())
	const seconds = 5
	clips := []struct {
		name string
		clip Clip
	}{
		{"content_tone", HarmonicTone(DefaultSampleRate, seconds, 220, 12, 0.5)},
		{"style_noise_clicks", NoiseClicks(DefaultSampleRate, seconds, 150, 1, 0.5)},
		{"chirp", Chirp(DefaultSampleRate, seconds, 100, 8000, 0.5)},
	}
	specs := make([]Spectrogram, len(clips))
	var ref float64
	for i, c := range clips {
		specs[i] = s.Analyze(c.clip.Samples)
		ref = max(ref, specs[i].PeakMagnitude())
	}
	o := DefaultGriffinLimOptions()
	o.Samples = len(clips[0].clip.Samples)
	gl, err := s.GriffinLim(context.Background(), specs[0], o)
	if err != nil {
		t.Fatal(err)
	}
	gl.Clip.Normalize(0.5)
	clips = append(clips, struct {
		name string
		clip Clip
	}{"content_tone_griffinlim", gl.Clip})
	specs = append(specs, s.Analyze(gl.Clip.Samples))
	for i, c := range clips {
		base := filepath.Join(dir, c.name)
		if err := SaveWAV(base+".wav", c.clip, PCM16); err != nil {
			t.Fatal(err)
		}
		if err := SaveSpectrogramPNG(base+".png", specs[i], PictureOptions{RefMagnitude: ref, Height: 256}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d clips and pictures to %s; Griffin-Lim reached %.1f dB", len(clips), dir, gl.ConvergenceDB)
}
