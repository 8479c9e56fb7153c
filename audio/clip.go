package audio

import (
	"fmt"
	"math"
)

// LoadClip reads the WAV file at path, mixes it to mono and resamples it to
// rate: every clip of a run (content, style, initial) enters this way, so
// that their spectrograms share one frequency axis.
func LoadClip(path string, rate int, o DecodeOptions) (Clip, WAVInfo, error) {
	c, info, err := LoadWAV(path, o)
	if err != nil {
		return Clip{}, WAVInfo{}, err
	}
	r, err := Resample(c, rate)
	if err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("load %q: %w", path, err)
	}
	return r, info, nil
}

// Peak returns the largest absolute sample of c (0 for an empty clip).
func (c Clip) Peak() float64 {
	var p float64
	for _, v := range c.Samples {
		p = max(p, math.Abs(float64(v)))
	}
	return p
}

// Normalize scales c's samples in place so that its peak is peak (for
// example 0.9, to save a Griffin–Lim result, which can exceed full scale,
// without clipping). A silent clip is left as it is. It returns the gain
// applied.
func (c Clip) Normalize(peak float64) float64 {
	p := c.Peak()
	if p == 0 {
		return 1
	}
	g := peak / p
	for i, v := range c.Samples {
		c.Samples[i] = float32(float64(v) * g)
	}
	return g
}
