package audio

import (
	"fmt"
	"math"
)

// The resampler's low-pass filter: a Kaiser-windowed sinc designed for
// resampleAttenuation of stop-band attenuation, passing up to
// resamplePass and stopping from resampleStop, both as fractions of the
// lower of the two rates (0.5 is its Nyquist frequency). The stop edge sits at the lower Nyquist frequency,
// so nothing above it folds back; the pass edge at 0.45 keeps 9.9 kHz of a
// 22050 Hz run, above the spectral detail a 2048-point STFT shows anyway.
const (
	resampleAttenuation = 90.0 // dB
	resamplePass        = 0.45
	resampleStop        = 0.50
	// resampleMaxTable bounds the precomputed polyphase table, in
	// coefficients; beyond it (an up factor in the tens of thousands, from
	// unusual rate pairs) coefficients are made per output sample.
	// resampleMaxExact bounds the coefficients evaluated exactly (a Bessel
	// series each); beyond it they are interpolated from the kernel sampled
	// resampleDense times per zero crossing, which costs under 1e-6 of
	// error (linear interpolation of a sinc) and keeps set-up in
	// milliseconds.
	resampleMaxTable = 1 << 22
	resampleMaxExact = 1 << 18
	resampleDense    = 1024
)

// Resample returns c at rate Hz: band-limited (polyphase windowed-sinc)
// interpolation by the rational factor rate/c.Rate, reduced by their
// greatest common divisor. Output sample n sits at input time n·c.Rate/rate,
// so there is no delay; the signal is taken as zero outside the clip, and the
// result has ceil(len·rate/c.Rate) samples. The pass band reaches 0.45 times
// the lower of the two rates (90% of its Nyquist frequency), and content
// above the lower Nyquist frequency is attenuated by about 90 dB, so it does
// not alias. A clip already at rate is returned as a copy.
func Resample(c Clip, rate int) (Clip, error) {
	if c.Rate < MinSampleRate || c.Rate > MaxSampleRate {
		return Clip{}, fmt.Errorf("resample: source rate %d Hz is outside %d-%d Hz", c.Rate, MinSampleRate, MaxSampleRate)
	}
	if rate < MinSampleRate || rate > MaxSampleRate {
		return Clip{}, fmt.Errorf("resample: target rate %d Hz is outside %d-%d Hz", rate, MinSampleRate, MaxSampleRate)
	}
	if rate == c.Rate {
		return Clip{Rate: rate, Samples: append([]float32(nil), c.Samples...)}, nil
	}
	g := gcd(c.Rate, rate)
	up, down := rate/g, c.Rate/g
	f := newPolyphase(up, down)
	n := (int64(len(c.Samples))*int64(up) + int64(down) - 1) / int64(down)
	out := make([]float32, n)
	x := c.Samples
	var coef []float64
	if f.table == nil {
		coef = make([]float64, f.taps)
	}
	for i := range out {
		pos := int64(i) * int64(down)
		i0 := int(pos / int64(up))
		phase := int(pos % int64(up))
		if f.table != nil {
			coef = f.table[phase*f.taps : (phase+1)*f.taps]
		} else {
			f.coefficients(coef, phase)
		}
		// coef[j] weighs input sample i0 - f.half + j.
		start := i0 - f.half
		lo, hi := max(0, -start), min(f.taps, len(x)-start)
		var sum float64
		for j := lo; j < hi; j++ {
			sum += coef[j] * float64(x[start+j])
		}
		out[i] = float32(sum)
	}
	return Clip{Rate: rate, Samples: out}, nil
}

// polyphase holds the resampling filter for one up/down pair.
type polyphase struct {
	up, down int
	fc       float64 // cut-off, cycles per input sample
	width    float64 // half-length of the filter, input samples
	beta     float64 // Kaiser window shape
	half     int     // coefficient j weighs input i0 - half + j
	taps     int
	table    []float64 // up phases × taps, nil when too large
	dense    []float64 // the kernel at τ = k·step, k ≥ 0; nil: evaluate exactly
	step     float64
}

func newPolyphase(up, down int) *polyphase {
	r := min(1, float64(up)/float64(down)) // lower rate over input rate
	A := resampleAttenuation
	// Kaiser's design rules: β for the attenuation, and the filter length
	// for a transition from the pass to the stop edge of (stop - pass)·r
	// cycles per input sample.
	beta := 0.1102 * (A - 8.7)
	transition := (resampleStop - resamplePass) * r
	length := (A - 8) / (2.285 * 2 * math.Pi * transition)
	f := &polyphase{
		up: up, down: down,
		fc:    (resamplePass + resampleStop) / 2 * r,
		width: length / 2,
		beta:  beta,
	}
	f.half = int(math.Ceil(f.width))
	f.taps = 2*f.half + 1
	if up*f.taps > resampleMaxExact {
		f.step = 1 / (2 * f.fc * resampleDense)
		f.dense = make([]float64, int(f.width/f.step)+2)
		for k := range f.dense {
			f.dense[k] = f.kernel(float64(k) * f.step)
		}
	}
	if up*f.taps <= resampleMaxTable {
		f.table = make([]float64, up*f.taps)
		for p := range up {
			f.coefficients(f.table[p*f.taps:(p+1)*f.taps], p)
		}
	}
	return f
}

// kernel is the windowed sinc at tau input samples from its centre.
func (f *polyphase) kernel(tau float64) float64 {
	a := math.Abs(tau) / f.width
	if a >= 1 {
		return 0
	}
	return 2 * f.fc * sinc(2*f.fc*tau) * besselI0(f.beta*math.Sqrt(1-a*a)) / besselI0(f.beta)
}

// coefficients fills dst (f.taps long) with the weights of the input samples
// around an output at fractional input offset phase/up, normalised to sum to
// one so that every phase passes DC with gain exactly one.
func (f *polyphase) coefficients(dst []float64, phase int) {
	d := float64(phase) / float64(f.up)
	var sum float64
	for j := range dst {
		tau := d - float64(j-f.half) // output time minus input sample time
		var v float64
		if f.dense == nil {
			v = f.kernel(tau)
		} else if x := math.Abs(tau) / f.step; x < float64(len(f.dense)-1) {
			k := int(x)
			v = f.dense[k] + (x-float64(k))*(f.dense[k+1]-f.dense[k])
		}
		dst[j] = v
		sum += v
	}
	for j := range dst {
		dst[j] /= sum
	}
}

// sinc is sin(πx)/(πx).
func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order zero,
// from its power series (the Kaiser window needs it for arguments up to β).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; term > 1e-17*sum; k++ {
		term *= q / float64(k*k)
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
