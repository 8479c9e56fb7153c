package audio

import (
	"bytes"
	"context"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// The benchmarks work on 10 s clips at the default rate and STFT (22050 Hz,
// n_fft 512, hop 128: a [257, 1723] spectrogram), the size of a typical
// content or style clip. Run them with -benchtime=3x or so: one Griffin–Lim
// op is seconds.

func benchClip() Clip {
	c := HarmonicTone(DefaultSampleRate, 10, 220, 12, 0.4)
	n := NoiseClicks(DefaultSampleRate, 10, 120, 1, 0.3)
	for i := range c.Samples {
		c.Samples[i] += n.Samples[i]
	}
	return c
}

// BenchmarkFFT2048 is one forward and one inverse real FFT of 2048 points
// with gonum, the unit of work of the STFT.
func BenchmarkFFT2048(b *testing.B) {
	f := fourier.NewFFT(2048)
	x := benchClip().Samples[:2048]
	seq := make([]float64, 2048)
	for i, v := range x {
		seq[i] = float64(v)
	}
	coef := make([]complex128, 1025)
	for b.Loop() {
		f.Coefficients(coef, seq)
		f.Sequence(seq, coef)
	}
}

func BenchmarkSTFT10s(b *testing.B) {
	s, _ := NewSTFT(Config{})
	x := benchClip().Samples
	for b.Loop() {
		s.Analyze(x)
	}
}

func BenchmarkISTFT10s(b *testing.B) {
	s, _ := NewSTFT(Config{})
	x := benchClip().Samples
	X := s.Forward(x)
	for b.Loop() {
		if _, err := s.Inverse(X, len(x)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGriffinLim10s is 100 iterations of fast Griffin–Lim on a 10 s
// spectrogram, the defaults; it reports the spectral convergence reached.
func BenchmarkGriffinLim10s(b *testing.B) {
	s, _ := NewSTFT(Config{})
	x := benchClip().Samples
	spec := s.Analyze(x)
	o := DefaultGriffinLimOptions()
	o.Samples = len(x)
	var r GriffinLimResult
	for b.Loop() {
		var err error
		if r, err = s.GriffinLim(context.Background(), spec, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.ConvergenceDB, "SC-dB")
}

func BenchmarkResample44100To22050_10s(b *testing.B) {
	c := Sine(44100, 10, 440, 0.5)
	for b.Loop() {
		if _, err := Resample(c, 22050); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResample48000To22050_10s(b *testing.B) {
	c := Sine(48000, 10, 440, 0.5)
	for b.Loop() {
		if _, err := Resample(c, 22050); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWAV10sStereo16(b *testing.B) {
	var buf bytes.Buffer
	EncodeWAV(&buf, Sine(44100, 20, 440, 0.5), PCM16) // 20 s mono = 10 s stereo of bytes
	file := buf.Bytes()
	file[22] = 2 // two channels
	file[32] = 4 // block align
	for b.Loop() {
		if _, _, err := DecodeWAV(bytes.NewReader(file), DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(file)))
}
