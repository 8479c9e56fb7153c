package audio

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Defaults of the time–frequency analysis, the one place the defaults of
// an audio run's keys audio.sample_rate, audio.n_fft, audio.hop and
// audio.window live: at 22050 Hz a 512-point frame is 23 ms and resolves
// 43 Hz, the 128-sample hop is 5.8 ms, and a 10 s clip becomes a
// [257, 1723] spectrogram. Ulyanov & Lebedev used librosa's 2048-point
// frames every 512 samples (1025 bins), but the filters of the built-in
// audio backbone, which takes the bins as its channels, must outnumber
// them several times for the Gram matrices to pin down the spectrum: at
// 1025 bins 1024 filters left flat noise crossed by dark bands of bins,
// and the 4096 they used cost four times the time; at 257 bins 1024
// filters give a mean magnitude spectrum that correlates 0.999 with the
// style's (models.DefaultAudioFilters).
const (
	DefaultSampleRate = 22050
	DefaultNFFT       = 512
	DefaultHop        = 128
	DefaultWindow     = "hann"
)

// Bounds on Config.NFFT: below 16 bins a spectrogram says little, above 64k
// one frame lasts seconds.
const (
	MinNFFT = 16
	MaxNFFT = 1 << 16
)

// Config is the time–frequency analysis of a run; every clip is resampled
// to SampleRate and transformed with the same STFT. Zero fields take the
// defaults above. It is the one definition of these settings: a run's
// config embeds it in its audio block (pipeline.AudioConfig), whose keys
// are its tags.
type Config struct {
	SampleRate int    `mapstructure:"sample_rate" yaml:"sample_rate"` // Hz
	NFFT       int    `mapstructure:"n_fft" yaml:"n_fft"`             // FFT size and window length, MinNFFT to MaxNFFT
	Hop        int    `mapstructure:"hop" yaml:"hop"`                 // samples between frames, 1 to NFFT/2
	Window     string `mapstructure:"window" yaml:"window"`           // "hann" (periodic) or "hamming"
}

// DefaultConfig returns the defaults: 22050 Hz, 512-point hann frames
// every 128 samples.
func DefaultConfig() Config {
	return Config{SampleRate: DefaultSampleRate, NFFT: DefaultNFFT, Hop: DefaultHop, Window: DefaultWindow}
}

// WithDefaults returns c with its zero fields set to the defaults. A zero
// Hop becomes NFFT/4 (128 for the default NFFT), the overlap the defaults
// use.
func (c Config) WithDefaults() Config {
	if c.SampleRate == 0 {
		c.SampleRate = DefaultSampleRate
	}
	if c.NFFT == 0 {
		c.NFFT = DefaultNFFT
	}
	if c.Hop == 0 {
		c.Hop = max(1, c.NFFT/4)
	}
	if c.Window == "" {
		c.Window = DefaultWindow
	}
	return c
}

// Validate reports the first field of c out of its range. The hop is at
// most NFFT/2 so that every sample lies under a non-zero part of some
// window, which the inverse STFT needs.
func (c Config) Validate() error {
	switch {
	case c.SampleRate < MinSampleRate || c.SampleRate > MaxSampleRate:
		return fmt.Errorf("audio config: sample rate %d Hz is outside %d-%d Hz", c.SampleRate, MinSampleRate, MaxSampleRate)
	case c.NFFT < MinNFFT || c.NFFT > MaxNFFT:
		return fmt.Errorf("audio config: n_fft %d is outside %d-%d", c.NFFT, MinNFFT, MaxNFFT)
	case c.Hop < 1 || c.Hop > c.NFFT/2:
		return fmt.Errorf("audio config: hop %d is outside 1-%d (n_fft/2)", c.Hop, c.NFFT/2)
	}
	if _, err := window(c.Window, c.NFFT); err != nil {
		return fmt.Errorf("audio config: %w", err)
	}
	return nil
}

// Bins returns the number of frequency bins of a frame, NFFT/2+1: the
// channels the 1D backbone sees.
func (c Config) Bins() int { return c.NFFT/2 + 1 }

// window returns the named window of length n. Both windows are periodic
// (the DFT-even form), which makes hann sum to a constant at hops of n/4.
func window(name string, n int) ([]float64, error) {
	var a0 float64
	switch name {
	case "hann":
		a0 = 0.5
	case "hamming":
		a0 = 0.54
	default:
		return nil, fmt.Errorf("window %q: want hann or hamming", name)
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = a0 - (1-a0)*math.Cos(2*math.Pi*float64(i)/float64(n))
	}
	return w, nil
}

// Spectrum is a complex STFT: Bins frequency bins (0 to the Nyquist
// frequency) for each of Frames frames, stored frame by frame: bin k of
// frame t is Data[t*Bins+k].
type Spectrum struct {
	Bins, Frames int
	Data         []complex128
}

// Spectrogram is the log-magnitude STFT log1p(|X|) as a [Bins, Frames]
// float32 signal, stored bin by bin: bin k of frame t is Data[k*Frames+t].
// It is the 1D backbone's input of Bins channels over Frames time steps
// (NCL layout with N = 1), and what the optimiser changes.
type Spectrogram struct {
	Bins, Frames int
	Data         []float32
}

// Row returns the time series of bin k (aliasing Data).
func (s Spectrogram) Row(k int) []float32 { return s.Data[k*s.Frames : (k+1)*s.Frames] }

// check reports a Spectrogram whose Data does not match its shape or holds
// NaN or ±Inf.
func (s Spectrogram) check() error {
	if s.Bins < 1 || s.Frames < 1 || len(s.Data) != s.Bins*s.Frames {
		return fmt.Errorf("spectrogram of %d values for %d bins × %d frames", len(s.Data), s.Bins, s.Frames)
	}
	for i, v := range s.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("spectrogram bin %d, frame %d is %v", i/s.Frames, i%s.Frames, v)
		}
	}
	return nil
}

// STFT computes short-time Fourier transforms for one Config. Frames are
// centred: frame t covers samples t·Hop − NFFT/2 up to t·Hop + NFFT/2, the
// signal being zero outside the clip, so a clip of n samples has
// 1 + n/Hop frames and its ends are analysed like its middle. The forward
// transform is unnormalised (Σ x·w·e^(−iωn), as librosa's), which fixes
// where log1p's knee falls relative to the signal's level. An STFT is safe
// for concurrent use; the transforms use up to GOMAXPROCS goroutines and
// give the same bits whatever that number is.
type STFT struct {
	cfg    Config
	window []float64
	ffts   sync.Pool // *fourier.FFT of length NFFT; each holds scratch space
}

// NewSTFT returns an STFT for cfg with its zero fields set to the defaults.
func NewSTFT(cfg Config) (*STFT, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, _ := window(cfg.Window, cfg.NFFT)
	s := &STFT{cfg: cfg, window: w}
	s.ffts.New = func() any { return fourier.NewFFT(cfg.NFFT) }
	return s, nil
}

// Config returns the configuration, with defaults filled in.
func (s *STFT) Config() Config { return s.cfg }

// Frames returns the number of frames of a clip of n samples, 1 + n/Hop.
func (s *STFT) Frames(n int) int { return 1 + n/s.cfg.Hop }

// Forward returns the STFT of x.
func (s *STFT) Forward(x []float32) *Spectrum {
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	X := &Spectrum{Bins: s.cfg.Bins(), Frames: s.Frames(len(x))}
	X.Data = make([]complex128, X.Bins*X.Frames)
	s.forward(X, x64)
	return X
}

// Analyze returns the log-magnitude spectrogram log1p(|STFT(x)|).
func (s *STFT) Analyze(x []float32) Spectrogram {
	return LogMagnitude(s.Forward(x))
}

// Inverse returns the n-sample signal whose STFT is closest to X in the
// least-squares sense (Griffin & Lim 1984): the windowed inverse FFTs of the
// frames overlap-added and divided by the overlapping squared windows. For a
// consistent X, such as Forward's output, it returns the original samples.
// X must have Config().Bins() bins; n must be at most Frames·Hop, and is
// usually the length of the analysed clip.
func (s *STFT) Inverse(X *Spectrum, n int) ([]float32, error) {
	if err := s.checkSpectrum(X, n); err != nil {
		return nil, fmt.Errorf("inverse stft: %w", err)
	}
	y := make([]float64, n)
	s.inverse(y, X, s.windowSquares(X.Frames, n), make([]float64, X.Frames*s.cfg.NFFT))
	out := make([]float32, n)
	for i, v := range y {
		out[i] = float32(v)
	}
	return out, nil
}

func (s *STFT) checkSpectrum(X *Spectrum, n int) error {
	switch {
	case X == nil:
		return errors.New("no spectrum")
	case X.Bins != s.cfg.Bins():
		return fmt.Errorf("spectrum has %d bins, n_fft %d needs %d", X.Bins, s.cfg.NFFT, s.cfg.Bins())
	case X.Frames < 1 || len(X.Data) != X.Bins*X.Frames:
		return fmt.Errorf("spectrum of %d values for %d bins × %d frames", len(X.Data), X.Bins, X.Frames)
	case n < 0 || n > X.Frames*s.cfg.Hop:
		return fmt.Errorf("%d samples asked of %d frames, want 0 to %d", n, X.Frames, X.Frames*s.cfg.Hop)
	}
	return nil
}

// forward fills X (already shaped for len(x) samples) with the STFT of x.
func (s *STFT) forward(X *Spectrum, x []float64) {
	nfft, hop, half := s.cfg.NFFT, s.cfg.Hop, s.cfg.NFFT/2
	s.parallel(X.Frames, func(lo, hi int) {
		fft := s.ffts.Get().(*fourier.FFT)
		defer s.ffts.Put(fft)
		buf := make([]float64, nfft)
		for t := lo; t < hi; t++ {
			start := t*hop - half
			for j := range buf {
				if i := start + j; i >= 0 && i < len(x) {
					buf[j] = x[i] * s.window[j]
				} else {
					buf[j] = 0
				}
			}
			fft.Coefficients(X.Data[t*X.Bins:(t+1)*X.Bins], buf)
		}
	})
}

// windowSquares returns, for each of n output samples, the sum of the
// squared windows of the frames over it, inverted (zero where the sum
// vanishes): the normalisation of the least-squares inverse.
func (s *STFT) windowSquares(frames, n int) []float64 {
	hop, half := s.cfg.Hop, s.cfg.NFFT/2
	wss := make([]float64, n)
	for t := range frames {
		start := t*hop - half
		for j, w := range s.window {
			if i := start + j; i >= 0 && i < n {
				wss[i] += w * w
			}
		}
	}
	for i, v := range wss {
		if v > 1e-10 {
			wss[i] = 1 / v
		} else {
			wss[i] = 0
		}
	}
	return wss
}

// inverse writes into y the least-squares inverse of X, given the inverted
// window sums from windowSquares and scratch space of Frames·NFFT values.
func (s *STFT) inverse(y []float64, X *Spectrum, invWSS, scratch []float64) {
	nfft, hop, half := s.cfg.NFFT, s.cfg.Hop, s.cfg.NFFT/2
	scale := 1 / float64(nfft) // gonum's inverse is unnormalised
	s.parallel(X.Frames, func(lo, hi int) {
		fft := s.ffts.Get().(*fourier.FFT)
		defer s.ffts.Put(fft)
		for t := lo; t < hi; t++ {
			frame := scratch[t*nfft : (t+1)*nfft]
			fft.Sequence(frame, X.Data[t*X.Bins:(t+1)*X.Bins])
			for j := range frame {
				frame[j] *= s.window[j] * scale
			}
		}
	})
	// Overlap-add in frame order, so the sums do not depend on the
	// number of goroutines.
	clear(y)
	for t := range X.Frames {
		start := t*hop - half
		frame := scratch[t*nfft : (t+1)*nfft]
		j0, j1 := max(0, -start), min(nfft, len(y)-start)
		for j := j0; j < j1; j++ {
			y[start+j] += frame[j]
		}
	}
	for i := range y {
		y[i] *= invWSS[i]
	}
}

// parallel runs fn over [0, n) split into contiguous ranges, one per
// goroutine, at most GOMAXPROCS of them and none shorter than 8 items.
func (s *STFT) parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+7)/8)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// LogMagnitude returns log1p(|X|) as a [Bins, Frames] Spectrogram. log1p
// compresses the dynamic range like a decibel scale for loud bins while
// staying finite and near-linear for silent ones, so the optimiser sees
// neither −Inf nor a floor it must pick.
func LogMagnitude(X *Spectrum) Spectrogram {
	s := Spectrogram{Bins: X.Bins, Frames: X.Frames, Data: make([]float32, len(X.Data))}
	for t := range X.Frames {
		frame := X.Data[t*X.Bins : (t+1)*X.Bins]
		for k, c := range frame {
			s.Data[k*X.Frames+t] = float32(math.Log1p(math.Hypot(real(c), imag(c))))
		}
	}
	return s
}

// magnitudes returns expm1 of a log1p spectrogram, frame by frame like a
// Spectrum (bin k of frame t at t*Bins+k). Negative values, which an
// optimiser can produce but no magnitude has, become zero.
func magnitudes(s Spectrogram) []float64 {
	m := make([]float64, len(s.Data))
	for k := range s.Bins {
		row := s.Data[k*s.Frames : (k+1)*s.Frames]
		for t, v := range row {
			m[t*s.Bins+k] = math.Expm1(max(0, float64(v)))
		}
	}
	return m
}
