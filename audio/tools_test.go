package audio

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool returns the path of an external program a test drives. When
// it is missing the test is skipped on a developer's machine, but fails
// under CI=true: CI must install it (scripts/install-audio-tools.sh), or the
// decoder would go untested against real files without anyone noticing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: run scripts/install-audio-tools.sh", name)
	}
	t.Skipf("%s is not installed (scripts/install-audio-tools.sh installs it)", name)
	return ""
}

// TestEspeakSpeech has espeak-ng speak a sentence to a WAV file and decodes
// it: 16-bit mono PCM at 22050 Hz (espeak-ng's output format), about 3 s
// of speech with pauses, audible and not clipped, whose spectrogram carries
// most of its energy below 4 kHz like any voice; and spoken to a pipe, where
// the header's data size is a placeholder, it decodes to the same samples.
func TestEspeakSpeech(t *testing.T) {
	espeak := requireTool(t, "espeak-ng")
	p := filepath.Join(t.TempDir(), "speech.wav")
	out, err := exec.Command(espeak, "-v", "en", "-s", "160", "-w", p, "The quick brown fox jumps over the lazy dog.").CombinedOutput()
	if err != nil {
		t.Fatalf("espeak-ng: %v\n%s", err, out)
	}
	c, info, err := LoadWAV(p, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.FormatCode != formatPCM || info.Channels != 1 || info.BitsPerSample != 16 || info.SampleRate != 22050 {
		t.Errorf("format %+v, want 16-bit mono PCM at 22050 Hz", info)
	}
	if d := c.Duration(); d < 1.5 || d > 5 {
		t.Errorf("duration %.2f s, want 1.5-5 s for the sentence", d)
	}
	var peak, ss float64
	for _, v := range c.Samples {
		peak = max(peak, math.Abs(float64(v)))
		ss += float64(v) * float64(v)
	}
	rmsDB := 10 * math.Log10(ss/float64(len(c.Samples)))
	if peak < 0.05 || peak >= 1 || rmsDB < -40 {
		t.Errorf("peak %.3f, RMS %.1f dBFS; want audible, unclipped speech", peak, rmsDB)
	}
	s, _ := NewSTFT(Config{})
	X := s.Forward(c.Samples)
	var low, all float64
	cut := 4000 * DefaultNFFT / DefaultSampleRate
	for i, v := range X.Data {
		e := real(v)*real(v) + imag(v)*imag(v)
		all += e
		if i%X.Bins < cut {
			low += e
		}
	}
	if low/all < 0.9 {
		t.Errorf("%.0f%% of the energy below 4 kHz, want over 90%% for speech", 100*low/all)
	}
	t.Logf("espeak-ng: %.2f s, peak %.2f, RMS %.1f dBFS, %.1f%% of energy below 4 kHz", c.Duration(), peak, rmsDB, 100*low/all)

	// Spoken to a pipe, the same sentence has a placeholder data size
	// (0x7FFFF000); decoding the stream gives the same samples.
	cmd := exec.Command(espeak, "-v", "en", "-s", "160", "--stdout", "The quick brown fox jumps over the lazy dog.")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	piped, _, err := DecodeWAV(stdout, DecodeOptions{})
	if werr := cmd.Wait(); err != nil || werr != nil {
		t.Fatalf("decode espeak-ng --stdout: %v (espeak-ng: %v)", err, werr)
	}
	if len(piped.Samples) != len(c.Samples) {
		t.Fatalf("piped: %d samples, from the file %d", len(piped.Samples), len(c.Samples))
	}
	for i := range c.Samples {
		if piped.Samples[i] != c.Samples[i] {
			t.Fatalf("piped sample %d = %v, from the file %v", i, piped.Samples[i], c.Samples[i])
		}
	}
}

// TestSoxEncodings writes a known clip as float32, has sox rewrite it in
// other encodings and layouts (no dither, so the only change is rounding),
// and checks that DecodeWAV reads each back to the same samples within that
// rounding, and names the encoding of one it refuses.
func TestSoxEncodings(t *testing.T) {
	sox := requireTool(t, "sox")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.wav")
	clip := HarmonicTone(22050, 0.1, 330, 8, 0.8)
	if err := SaveWAV(src, clip, Float32); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string // sox output options
		code     uint16
		ext      bool // sox writes WAVE_FORMAT_EXTENSIBLE
		channels int
		bits     int
		tol      float64
	}{
		{"pcm8", []string{"-e", "unsigned-integer", "-b", "8"}, formatPCM, false, 1, 8, 1.0 / 128},
		{"pcm16 stereo", []string{"-b", "16", "-c", "2"}, formatPCM, false, 2, 16, 1.0 / 32768},
		{"pcm24 three channels", []string{"-b", "24", "-c", "3"}, formatPCM, true, 3, 24, 1.0 / (1 << 23)},
		{"pcm32", []string{"-e", "signed-integer", "-b", "32"}, formatPCM, true, 1, 32, 1e-7},
		{"float64", []string{"-e", "floating-point", "-b", "64"}, formatFloat, false, 1, 64, 1e-8}, // sox works in 32-bit integers inside
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".wav")
			args := append(append([]string{"-D", src}, tc.args...), dst)
			if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox %v: %v\n%s", args, err, out)
			}
			c, info, err := LoadWAV(dst, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if info.FormatCode != tc.code || info.Extensible != tc.ext || info.Channels != tc.channels || info.BitsPerSample != tc.bits || c.Rate != 22050 {
				t.Errorf("format %+v, want code %d, extensible %v, %d channels, %d bits", info, tc.code, tc.ext, tc.channels, tc.bits)
			}
			if len(c.Samples) != len(clip.Samples) {
				t.Fatalf("%d samples, want %d", len(c.Samples), len(clip.Samples))
			}
			var worst float64
			for i := range clip.Samples {
				worst = max(worst, math.Abs(float64(c.Samples[i]-clip.Samples[i])))
			}
			if worst > tc.tol {
				t.Errorf("largest difference %g, want at most %g", worst, tc.tol)
			}
		})
	}
	alaw := filepath.Join(dir, "alaw.wav")
	if out, err := exec.Command(sox, src, "-e", "a-law", alaw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	if _, _, err := LoadWAV(alaw, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), "unsupported encoding: format code 0x0006 (A-law)") {
		t.Errorf("A-law: error %v, want it named", err)
	}
}
