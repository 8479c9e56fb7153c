package audio

import (
	"context"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
)

// Defaults of GriffinLimOptions. Perraudin et al. (2013) found momentum
// 0.99 about the fastest that stays stable; 100 iterations bring a
// spectrogram from the network within a few dB of the best the algorithm
// reaches, at about a second per 10 s of audio on two cores.
const (
	DefaultGriffinLimIterations = 100
	DefaultGriffinLimMomentum   = 0.99
)

// GriffinLimOptions controls GriffinLim. Start from
// DefaultGriffinLimOptions: a zero Momentum means plain Griffin–Lim, not
// the default.
type GriffinLimOptions struct {
	// Iterations of projection; 0 returns the signal of the initial random
	// phase.
	Iterations int `mapstructure:"iterations" yaml:"iterations"`
	// Momentum α of the fast Griffin–Lim algorithm, 0 ≤ α < 2; 0 is the
	// plain algorithm of Griffin & Lim (1984).
	Momentum float64 `mapstructure:"momentum" yaml:"momentum"`
	// Seed of the initial phase, uniform in [0, 2π) per bin and frame: the
	// same seed and spectrogram give the same samples, bit for bit.
	Seed uint64 `mapstructure:"seed" yaml:"seed"`
	// Samples is the length of the result; 0 means (Frames−1)·Hop, the
	// shortest clip with that many frames.
	Samples int `mapstructure:"samples" yaml:"samples"`
	// Progress, when set, is called after each iteration with its number
	// (1-based) and the spectral convergence in dB of the signal it started
	// from.
	Progress func(iteration int, convergenceDB float64) `mapstructure:"-" yaml:"-"`
}

// DefaultGriffinLimOptions returns 100 iterations of fast Griffin–Lim with
// momentum 0.99 from seed 0.
func DefaultGriffinLimOptions() GriffinLimOptions {
	return GriffinLimOptions{Iterations: DefaultGriffinLimIterations, Momentum: DefaultGriffinLimMomentum}
}

// GriffinLimResult is a reconstructed clip and how well its STFT magnitude
// matches the target.
type GriffinLimResult struct {
	Clip Clip
	// Convergence is the spectral convergence of the result,
	// ‖ |STFT(x)| − S ‖ / ‖S‖ (Frobenius norms, S the target magnitude):
	// 0 is a perfect match, 1 as far off as silence.
	Convergence float64
	// ConvergenceDB is 20·log10(Convergence).
	ConvergenceDB float64
	// HistoryDB[n] is the spectral convergence in dB after n iterations;
	// HistoryDB[0] is that of the initial random phase, and
	// HistoryDB[Iterations] equals ConvergenceDB.
	HistoryDB []float64
}

// GriffinLim returns a signal whose STFT magnitude approximates the
// log1p-magnitude spectrogram spec, by the fast Griffin–Lim algorithm
// (Perraudin, Balazs & Søndergaard 2013): from the magnitude S with random
// phase c₀, alternate the projection onto consistent spectrograms
// (STFT∘ISTFT) and onto spectrograms of magnitude S, extrapolating by the
// momentum:
//
//	tₙ = STFT(ISTFT(S·cₙ₋₁/|cₙ₋₁|)),   cₙ = tₙ + α(tₙ − tₙ₋₁)
//
// and return ISTFT(S·c_N/|c_N|). Negative values in spec become magnitude
// zero. spec must have Config().Bins() bins and finite values. The result is
// at Config().SampleRate and is not clipped: it may exceed ±1 if spec is
// louder than full scale. ctx is checked between iterations.
func (s *STFT) GriffinLim(ctx context.Context, spec Spectrogram, o GriffinLimOptions) (GriffinLimResult, error) {
	if err := spec.check(); err != nil {
		return GriffinLimResult{}, fmt.Errorf("griffin-lim: %w", err)
	}
	n := o.Samples
	if n == 0 {
		n = (spec.Frames - 1) * s.cfg.Hop
	}
	switch {
	case spec.Bins != s.cfg.Bins():
		return GriffinLimResult{}, fmt.Errorf("griffin-lim: spectrogram has %d bins, n_fft %d needs %d", spec.Bins, s.cfg.NFFT, s.cfg.Bins())
	case o.Iterations < 0:
		return GriffinLimResult{}, fmt.Errorf("griffin-lim: %d iterations", o.Iterations)
	case !(o.Momentum >= 0 && o.Momentum < 2):
		return GriffinLimResult{}, fmt.Errorf("griffin-lim: momentum %v is outside [0, 2)", o.Momentum)
	case n < 1 || s.Frames(n) != spec.Frames:
		return GriffinLimResult{}, fmt.Errorf("griffin-lim: %d samples do not make %d frames at hop %d (want %d to %d)",
			n, spec.Frames, s.cfg.Hop, max(1, (spec.Frames-1)*s.cfg.Hop), spec.Frames*s.cfg.Hop-1)
	}
	target := magnitudes(spec)
	var targetNorm float64
	for _, m := range target {
		targetNorm += m * m
	}
	targetNorm = math.Sqrt(targetNorm)

	shape := func() *Spectrum {
		return &Spectrum{Bins: spec.Bins, Frames: spec.Frames, Data: make([]complex128, len(target))}
	}
	c, t, prev := shape(), shape(), shape()
	rng := rand.New(rand.NewPCG(o.Seed, 0x677269666c696d)) // "griflim"
	for i, m := range target {
		c.Data[i] = cmplx.Rect(m, 2*math.Pi*rng.Float64())
	}
	x := make([]float64, n)
	invWSS := s.windowSquares(spec.Frames, n)
	scratch := make([]float64, spec.Frames*s.cfg.NFFT)

	// project replaces c by the signal x of magnitude target with c's phase
	// and t by STFT(x), and returns the spectral convergence of x.
	project := func() float64 {
		for i, v := range c.Data {
			if a := cmplx.Abs(v); a > 0 {
				c.Data[i] = v * complex(target[i]/a, 0)
			} else {
				c.Data[i] = complex(target[i], 0)
			}
		}
		s.inverse(x, c, invWSS, scratch)
		s.forward(t, x)
		var diff float64
		for i, v := range t.Data {
			d := cmplx.Abs(v) - target[i]
			diff += d * d
		}
		if targetNorm == 0 {
			return 0 // silence is matched by silence
		}
		return math.Sqrt(diff) / targetNorm
	}

	res := GriffinLimResult{HistoryDB: make([]float64, 0, o.Iterations+1)}
	for it := 1; it <= o.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return GriffinLimResult{}, fmt.Errorf("griffin-lim: stopped after %d of %d iterations: %w", it-1, o.Iterations, err)
		}
		sc := project()
		res.HistoryDB = append(res.HistoryDB, toDB(sc))
		// c = t + α(t − prev); prev = t. Only c's phase matters next.
		a := complex(o.Momentum, 0)
		for i, v := range t.Data {
			c.Data[i] = v + a*(v-prev.Data[i])
		}
		t, prev = prev, t
		if o.Progress != nil {
			o.Progress(it, res.HistoryDB[it-1])
		}
	}
	res.Convergence = project()
	res.ConvergenceDB = toDB(res.Convergence)
	res.HistoryDB = append(res.HistoryDB, res.ConvergenceDB)
	out := make([]float32, n)
	for i, v := range x {
		out[i] = float32(v)
	}
	res.Clip = Clip{Rate: s.cfg.SampleRate, Samples: out}
	return res, nil
}

// SpectralConvergence returns ‖ |STFT(x)| − S ‖ / ‖S‖ for the magnitude S of
// the log1p spectrogram spec, which must have as many frames as x makes: how
// close x comes to the spectrogram it was reconstructed from.
func (s *STFT) SpectralConvergence(x []float32, spec Spectrogram) (float64, error) {
	if err := spec.check(); err != nil {
		return 0, fmt.Errorf("spectral convergence: %w", err)
	}
	if spec.Bins != s.cfg.Bins() || spec.Frames != s.Frames(len(x)) {
		return 0, fmt.Errorf("spectral convergence: spectrogram of %d×%d, %d samples make %d×%d",
			spec.Bins, spec.Frames, len(x), s.cfg.Bins(), s.Frames(len(x)))
	}
	target := magnitudes(spec)
	X := s.Forward(x)
	var diff, norm float64
	for i, v := range X.Data {
		d := cmplx.Abs(v) - target[i]
		diff += d * d
		norm += target[i] * target[i]
	}
	if norm == 0 {
		if diff == 0 {
			return 0, nil
		}
		return math.Inf(1), nil
	}
	return math.Sqrt(diff / norm), nil
}

// toDB returns 20·log10(r), −Inf for 0.
func toDB(r float64) float64 { return 20 * math.Log10(r) }
