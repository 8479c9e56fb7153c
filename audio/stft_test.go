package audio

import (
	"math"
	"math/cmplx"
	"strings"
	"testing"
)

// snrDB returns the signal-to-noise ratio of y as a copy of x, in dB.
func snrDB(x, y []float32) float64 {
	var sig, noise float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		sig += float64(x[i]) * float64(x[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

// testMix is a known signal with tones, a sweep and noise: a broad-band
// test of the transforms.
func testMix(rate int, seconds float64) []float32 {
	a := HarmonicTone(rate, seconds, 220, 12, 0.4).Samples
	b := Chirp(rate, seconds, 100, 8000, 0.3).Samples
	c := NoiseClicks(rate, seconds, 240, 7, 0.2).Samples
	for i := range a {
		a[i] += b[i] + c[i]
	}
	return a
}

// TestSTFTRoundTrip checks that the inverse STFT of the true (complex)
// STFT gives the signal back with an SNR above 60 dB, for several sizes,
// hops and windows, and for lengths that do and do not fill the last frame.
func TestSTFTRoundTrip(t *testing.T) {
	tests := []struct {
		cfg Config
		n   int
	}{
		{DefaultConfig(), 22050},
		{DefaultConfig(), 22050 + 300},
		{Config{SampleRate: 22050, NFFT: 1024, Hop: 256, Window: "hann"}, 10000},
		{Config{SampleRate: 16000, NFFT: 1000, Hop: 250, Window: "hamming"}, 7777}, // mixed-radix FFT
		{Config{SampleRate: 22050, NFFT: 512, Hop: 256, Window: "hann"}, 4096},     // 50% overlap
		{Config{SampleRate: 22050, NFFT: 64, Hop: 1, Window: "hann"}, 300},
		{Config{SampleRate: 22050, NFFT: 2048, Hop: 512, Window: "hann"}, 100}, // shorter than a frame
	}
	for _, tc := range tests {
		s, err := NewSTFT(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		x := testMix(tc.cfg.SampleRate, float64(tc.n)/float64(tc.cfg.SampleRate))[:tc.n]
		X := s.Forward(x)
		if X.Bins != tc.cfg.NFFT/2+1 || X.Frames != 1+tc.n/tc.cfg.Hop {
			t.Errorf("%+v, %d samples: %d bins × %d frames, want %d × %d", tc.cfg, tc.n, X.Bins, X.Frames, tc.cfg.NFFT/2+1, 1+tc.n/tc.cfg.Hop)
		}
		y, err := s.Inverse(X, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		snr := snrDB(x, y)
		if snr < 60 {
			t.Errorf("%+v, %d samples: SNR %.1f dB, want over 60", tc.cfg, tc.n, snr)
		}
		// The float32 result is usually bit-exact (SNR +Inf); the float64
		// path inside shows the transforms' own error.
		x64 := make([]float64, tc.n)
		for i, v := range x {
			x64[i] = float64(v)
		}
		y64 := make([]float64, tc.n)
		s.inverse(y64, X, s.windowSquares(X.Frames, tc.n), make([]float64, X.Frames*tc.cfg.NFFT))
		var sig, noise float64
		for i := range x64 {
			sig += x64[i] * x64[i]
			noise += (x64[i] - y64[i]) * (x64[i] - y64[i])
		}
		snr64 := 10 * math.Log10(sig/noise)
		if snr64 < 250 {
			t.Errorf("%+v, %d samples: float64 SNR %.1f dB, want over 250", tc.cfg, tc.n, snr64)
		}
		t.Logf("n_fft %d hop %d %s, %d samples: SNR %.1f dB (float32 out), %.1f dB (float64 inside)", tc.cfg.NFFT, tc.cfg.Hop, tc.cfg.Window, tc.n, snr, snr64)
	}
}

// TestSTFTValues checks the forward transform's scale and layout on a sine
// centred on bin 100: an unnormalised hann-windowed DFT puts A·N/4 there,
// A·N/8 in the two neighbouring bins and nothing elsewhere.
func TestSTFTValues(t *testing.T) {
	d, err := NewSTFT(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Config{SampleRate: 22050, NFFT: 512, Hop: 128, Window: "hann"}); d.Config() != want || DefaultConfig() != want {
		t.Errorf("defaults %+v and %+v, want %+v", d.Config(), DefaultConfig(), want)
	}
	// Ulyanov & Lebedev's 2048-point frames every 512 samples.
	s, err := NewSTFT(Config{NFFT: 2048, Hop: 512})
	if err != nil {
		t.Fatal(err)
	}
	const amp = 0.5
	freq := 100 * float64(DefaultSampleRate) / 2048
	x := Sine(DefaultSampleRate, 1, freq, amp).Samples
	X := s.Forward(x)
	frame := X.Data[10*X.Bins : 11*X.Bins] // away from the edges
	for _, tc := range []struct {
		bin  int
		want float64
	}{{100, amp * 2048 / 4}, {99, amp * 2048 / 8}, {101, amp * 2048 / 8}, {98, 0}, {102, 0}, {0, 0}, {500, 0}, {1024, 0}} {
		if got := cmplx.Abs(frame[tc.bin]); math.Abs(got-tc.want) > 1e-3 {
			t.Errorf("|X[%d]| = %.6g, want %g", tc.bin, got, tc.want)
		}
	}
	// The spectrogram is log1p of the magnitude, stored bin by bin.
	spec := LogMagnitude(X)
	if spec.Bins != 1025 || spec.Frames != 1+22050/512 || len(spec.Data) != 1025*44 {
		t.Fatalf("spectrogram %d × %d with %d values", spec.Bins, spec.Frames, len(spec.Data))
	}
	for _, k := range []int{0, 99, 100, 700} {
		for _, f := range []int{0, 10, 43} {
			want := float32(math.Log1p(cmplx.Abs(X.Data[f*X.Bins+k])))
			if got := spec.Row(k)[f]; got != want {
				t.Errorf("spectrogram bin %d frame %d = %v, want %v", k, f, got, want)
			}
		}
	}
	if got, want := spec.Row(100)[10], float32(math.Log1p(256)); math.Abs(float64(got-want)) > 1e-5 {
		t.Errorf("log1p peak %v, want %v", got, want)
	}
	// Analyze is the same as LogMagnitude(Forward).
	a := s.Analyze(x)
	for i := range a.Data {
		if a.Data[i] != spec.Data[i] {
			t.Fatalf("Analyze differs at %d", i)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if got := (Config{NFFT: 1024}).WithDefaults(); got.Hop != 256 || got.SampleRate != 22050 || got.Window != "hann" {
		t.Errorf("WithDefaults for n_fft 1024: %+v, want hop 256", got)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SampleRate: 500, NFFT: 2048, Hop: 512, Window: "hann"}, "sample rate 500 Hz"},
		{Config{SampleRate: 22050, NFFT: 8, Hop: 2, Window: "hann"}, "n_fft 8 is outside 16-65536"},
		{Config{SampleRate: 22050, NFFT: 1 << 17, Hop: 512, Window: "hann"}, "n_fft 131072"},
		{Config{SampleRate: 22050, NFFT: 2048, Hop: 1025, Window: "hann"}, "hop 1025 is outside 1-1024"},
		{Config{SampleRate: 22050, NFFT: 2048, Hop: -1, Window: "hann"}, "hop -1"},
		{Config{SampleRate: 22050, NFFT: 2048, Hop: 512, Window: "kaiser"}, `window "kaiser": want hann or hamming`},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := NewSTFT(tc.cfg); err == nil {
			t.Errorf("NewSTFT accepted %+v", tc.cfg)
		}
	}
}

func TestInverseErrors(t *testing.T) {
	s, _ := NewSTFT(Config{NFFT: 64, Hop: 16})
	X := s.Forward(make([]float32, 100))
	for _, tc := range []struct {
		X    *Spectrum
		n    int
		want string
	}{
		{nil, 10, "no spectrum"},
		{&Spectrum{Bins: 10, Frames: 1, Data: make([]complex128, 10)}, 10, "10 bins, n_fft 64 needs 33"},
		{&Spectrum{Bins: 33, Frames: 2, Data: make([]complex128, 33)}, 10, "33 values for 33 bins × 2 frames"},
		{X, X.Frames*16 + 1, "want 0 to 112"},
	} {
		if _, err := s.Inverse(tc.X, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
