package audio

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestResampleTone checks that a tone in the pass band comes out at the new
// rate with its frequency, phase (no delay) and amplitude: away from the
// clip's edges the output matches the same sine generated at the new rate.
func TestResampleTone(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
		maxErr   float64 // largest |output - ideal| away from the edges, amplitude 0.5
	}{
		{44100, 22050, 1000, 2e-5},
		{48000, 22050, 3000, 2e-5},
		{22050, 44100, 440, 2e-5},
		{16000, 22050, 5000, 2e-5},
		{8000, 22050, 440, 2e-5},
		{96000, 22050, 9000, 2e-5},
		{11025, 22050, 4000, 2e-5},
		{22050, 22051, 440, 2e-5},  // 22051 phases: table interpolated from the dense kernel
		{44099, 44100, 1000, 2e-5}, // 44100 phases: coefficients made per output sample
	}
	for _, tc := range tests {
		t.Run(rateName(tc.from, tc.to), func(t *testing.T) {
			in := Sine(tc.from, 0.25, tc.freq, 0.5)
			out, err := Resample(in, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			wantLen := int(math.Ceil(float64(len(in.Samples)) * float64(tc.to) / float64(tc.from)))
			if out.Rate != tc.to || len(out.Samples) != wantLen {
				t.Fatalf("rate %d, %d samples; want %d, %d", out.Rate, len(out.Samples), tc.to, wantLen)
			}
			ideal := Sine(tc.to, 0.25, tc.freq, 0.5).Samples
			edge := tc.to / 50 // 20 ms, more than the filter's half-length
			var worst float64
			for i := edge; i < len(out.Samples)-edge; i++ {
				worst = max(worst, math.Abs(float64(out.Samples[i]-ideal[i])))
			}
			if worst > tc.maxErr {
				t.Errorf("largest deviation from the ideal %g Hz sine: %.3g, want at most %g", tc.freq, worst, tc.maxErr)
			}
			t.Logf("%g Hz: largest deviation %.2g (%.0f dB below the tone)", tc.freq, worst, 20*math.Log10(worst/0.5))
		})
	}
}

// TestResampleAliasing checks that tones above the lower Nyquist frequency,
// which a naive decimation would fold into the pass band, are suppressed by
// at least 80 dB.
func TestResampleAliasing(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64 // above to/2
	}{
		{44100, 22050, 15000}, // would alias to 7050 Hz
		{44100, 22050, 11600}, // just above the new Nyquist, aliases to 10450 Hz
		{48000, 22050, 13000},
		{96000, 22050, 30000},
		{22050, 8000, 5000},
	}
	for _, tc := range tests {
		t.Run(rateName(tc.from, tc.to), func(t *testing.T) {
			out, err := Resample(Sine(tc.from, 0.25, tc.freq, 0.5), tc.to)
			if err != nil {
				t.Fatal(err)
			}
			edge := tc.to / 50
			var ss float64
			inner := out.Samples[edge : len(out.Samples)-edge]
			for _, v := range inner {
				ss += float64(v) * float64(v)
			}
			rms := math.Sqrt(ss / float64(len(inner)))
			db := 20 * math.Log10(rms/(0.5/math.Sqrt2))
			if db > -80 {
				t.Errorf("%g Hz at %d→%d Hz: residue %.1f dB relative to the input tone, want below -80 dB", tc.freq, tc.from, tc.to, db)
			}
			t.Logf("%g Hz: residue %.1f dB", tc.freq, db)
		})
	}
}

func TestResampleValues(t *testing.T) {
	// DC passes with gain one (every phase is normalised), the same rate
	// is a copy, and rates out of range are refused.
	dc := Clip{Rate: 44100, Samples: make([]float32, 4410)}
	for i := range dc.Samples {
		dc.Samples[i] = 0.25
	}
	out, err := Resample(dc, 16000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 200; i < len(out.Samples)-200; i++ {
		if math.Abs(float64(out.Samples[i])-0.25) > 1e-6 {
			t.Fatalf("DC sample %d = %v, want 0.25", i, out.Samples[i])
		}
	}
	same, err := Resample(Clip{Rate: 22050, Samples: []float32{1, 2}}, 22050)
	if err != nil || len(same.Samples) != 2 || same.Samples[1] != 2 {
		t.Errorf("same rate: %v, %v", same, err)
	}
	for _, tc := range []struct {
		c    Clip
		rate int
		want string
	}{
		{Clip{Rate: 0, Samples: []float32{1}}, 22050, "source rate 0 Hz"},
		{Clip{Rate: 22050, Samples: []float32{1}}, 10_000_000, "target rate 10000000 Hz"},
	} {
		if _, err := Resample(tc.c, tc.rate); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	// An empty clip stays empty.
	if e, err := Resample(Clip{Rate: 44100}, 22050); err != nil || len(e.Samples) != 0 {
		t.Errorf("empty clip: %d samples, %v", len(e.Samples), err)
	}
}

func rateName(from, to int) string { return fmt.Sprintf("%dto%d", from, to) }
