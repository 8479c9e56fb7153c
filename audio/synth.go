package audio

import (
	"math"
	"math/rand/v2"
)

// Synthetic sounds for tests, benchmarks and README examples: generated in
// code, so that no media is committed and every run sees the same bytes.
// Each returns seconds of audio at rate (at least one sample) with peaks at
// most amp.

// Sine returns a sine of freq Hz and amplitude amp, starting at phase zero.
func Sine(rate int, seconds, freq, amp float64) Clip {
	x := make([]float32, samplesFor(rate, seconds))
	w := 2 * math.Pi * freq / float64(rate)
	for i := range x {
		x[i] = float32(amp * math.Sin(w*float64(i)))
	}
	return Clip{Rate: rate, Samples: x}
}

// Chirp returns an exponential (constant octaves per second) sweep from f0
// to f1 Hz, both positive, at amplitude amp: a sound whose spectrogram is a
// single rising or falling line, easy to judge by eye.
func Chirp(rate int, seconds, f0, f1, amp float64) Clip {
	x := make([]float32, samplesFor(rate, seconds))
	k := math.Log(f1/f0) / seconds // instantaneous frequency f0·e^(k·t)
	for i := range x {
		t := float64(i) / float64(rate)
		var phase float64
		if math.Abs(k) < 1e-12 {
			phase = 2 * math.Pi * f0 * t
		} else {
			phase = 2 * math.Pi * f0 * (math.Exp(k*t) - 1) / k
		}
		x[i] = float32(amp * math.Sin(phase))
	}
	return Clip{Rate: rate, Samples: x}
}

// HarmonicTone returns a tone of fundamental f0 with harmonics partials
// (those below the Nyquist frequency) at amplitudes 1/k, scaled so that its
// peak is amp, with 10 ms fades at both ends so that it starts and stops
// without a click: a pitched, stationary "content" sound.
func HarmonicTone(rate int, seconds, f0 float64, harmonics int, amp float64) Clip {
	x := make([]float64, samplesFor(rate, seconds))
	for k := 1; k <= harmonics && float64(k)*f0 < float64(rate)/2; k++ {
		w := 2 * math.Pi * float64(k) * f0 / float64(rate)
		for i := range x {
			x[i] += math.Sin(w*float64(i)) / float64(k)
		}
	}
	fade := max(1, rate/100)
	for i := range x {
		if g := float64(min(i, len(x)-1-i)) / float64(fade); g < 1 {
			x[i] *= g
		}
	}
	return scaleToPeak(rate, x, amp)
}

// NoiseClicks returns a texture of low-passed noise (a steady hiss, peaks
// about amp/4) with a click, a 5 ms burst of decaying white noise, on every
// beat at bpm beats per minute: a "style" sound with a clear rhythm and a
// broad spectrum. seed fixes the noise.
func NoiseClicks(rate int, seconds, bpm float64, seed uint64, amp float64) Clip {
	rng := rand.New(rand.NewPCG(seed, 0x6e7374617564696f)) // "nstaudio"
	x := make([]float64, samplesFor(rate, seconds))
	// One-pole low-pass with its corner near 2 kHz, plus a little white.
	a := math.Exp(-2 * math.Pi * 2000 / float64(rate))
	var lp float64
	for i := range x {
		w := rng.Float64()*2 - 1
		lp = a*lp + (1-a)*w
		x[i] = 3*lp + 0.05*w
	}
	peak := 0.0
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	for i := range x {
		x[i] *= 0.25 / peak
	}
	if bpm > 0 {
		period := 60 / bpm * float64(rate)
		clickLen := max(1, rate/200)
		decay := math.Exp(-5 / float64(clickLen))
		for b := 0; ; b++ {
			start := int(float64(b) * period)
			if start >= len(x) {
				break
			}
			g := 0.75
			for i := start; i < min(len(x), start+clickLen); i++ {
				x[i] += g * (rng.Float64()*2 - 1)
				g *= decay
			}
		}
	}
	return scaleToPeak(rate, x, amp)
}

// samplesFor returns the number of samples in seconds at rate, at least one.
func samplesFor(rate int, seconds float64) int {
	return max(1, int(math.Round(seconds*float64(rate))))
}

// scaleToPeak returns x as float32 samples scaled so that max |x| = amp.
func scaleToPeak(rate int, x []float64, amp float64) Clip {
	peak := 0.0
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	out := make([]float32, len(x))
	if peak > 0 {
		for i, v := range x {
			out[i] = float32(v * amp / peak)
		}
	}
	return Clip{Rate: rate, Samples: out}
}
