package audio

import (
	"fmt"
	"image"
	"math"

	"github.com/nst-project/nst/imageio"
)

// DefaultRangeDB is the dynamic range a spectrogram picture shows when
// PictureOptions.RangeDB is 0: 80 dB spans what 16-bit audio and the ear
// both make use of, and hides the numerical floor below.
const DefaultRangeDB = 80

// PictureOptions controls SpectrogramImage.
type PictureOptions struct {
	// Colormap is "magma" (default: black through purple and orange to
	// pale yellow, ordered in lightness, so loudness reads at a glance) or
	// "grey".
	Colormap string
	// RangeDB is the range of levels shown, in dB below the reference;
	// quieter bins are drawn in the colormap's darkest colour. 0 means
	// DefaultRangeDB.
	RangeDB float64
	// RefMagnitude is the STFT magnitude drawn at the top of the scale
	// (0 dB). 0 means the spectrogram's own PeakMagnitude. Give the content,
	// style and result pictures of a run the largest of their peaks, so that
	// equal colours mean equal levels across the three.
	RefMagnitude float64
	// Height, when positive and below the number of bins, draws the
	// picture that many rows tall, each row showing the loudest of the
	// bins it covers (so a narrow tone is not averaged away); 0 draws one
	// row per bin.
	Height int
}

// PeakMagnitude returns the largest STFT magnitude of s, expm1 of its
// largest value (0 for an empty or all-negative spectrogram).
func (s Spectrogram) PeakMagnitude() float64 {
	var peak float32
	for _, v := range s.Data {
		peak = max(peak, v)
	}
	return math.Expm1(float64(peak))
}

// SpectrogramImage draws s with time running left to right (one column a
// frame) and frequency bottom to top (one row a bin unless Height says
// otherwise, bin 0 in the bottom row), coloured by level in dB:
// 20·log10(magnitude/RefMagnitude), clamped to [−RangeDB, 0].
func SpectrogramImage(s Spectrogram, o PictureOptions) (*image.NRGBA, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("spectrogram picture: %w", err)
	}
	cmap, err := colormap(o.Colormap)
	if err != nil {
		return nil, fmt.Errorf("spectrogram picture: %w", err)
	}
	rangeDB := o.RangeDB
	if rangeDB == 0 {
		rangeDB = DefaultRangeDB
	}
	if !(rangeDB > 0) || math.IsInf(rangeDB, 0) {
		return nil, fmt.Errorf("spectrogram picture: range %v dB must be positive", o.RangeDB)
	}
	ref := o.RefMagnitude
	if ref == 0 {
		ref = s.PeakMagnitude()
	}
	if !(ref >= 0) || math.IsInf(ref, 0) {
		return nil, fmt.Errorf("spectrogram picture: reference magnitude %v must be positive", o.RefMagnitude)
	}
	if o.Height < 0 {
		return nil, fmt.Errorf("spectrogram picture: height %d is negative", o.Height)
	}
	rows := s.Bins
	if o.Height > 0 && o.Height < s.Bins {
		rows = o.Height
	}
	img := image.NewNRGBA(image.Rect(0, 0, s.Frames, rows))
	for r := range rows {
		// Row r (from the bottom) covers bins [k0, k1).
		k0, k1 := r*s.Bins/rows, (r+1)*s.Bins/rows
		y := rows - 1 - r
		pix := img.Pix[y*img.Stride : y*img.Stride+4*s.Frames]
		for t := range s.Frames {
			v := s.Data[k0*s.Frames+t]
			for k := k0 + 1; k < k1; k++ {
				v = max(v, s.Data[k*s.Frames+t])
			}
			level := 0.0 // silence, or everything when the reference is 0
			if m := math.Expm1(max(0, float64(v))); m > 0 && ref > 0 {
				level = min(1, max(0, 1+20*math.Log10(m/ref)/rangeDB))
			}
			c := cmap(level)
			p := pix[4*t : 4*t+4 : 4*t+4]
			p[0], p[1], p[2], p[3] = c[0], c[1], c[2], 255
		}
	}
	return img, nil
}

// SaveSpectrogramPNG draws s as SpectrogramImage does and writes it to path
// as a PNG, atomically.
func SaveSpectrogramPNG(path string, s Spectrogram, o PictureOptions) error {
	img, err := SpectrogramImage(s, o)
	if err != nil {
		return fmt.Errorf("save spectrogram %q: %w", path, err)
	}
	if err := imageio.Save(path, img, "png", 0); err != nil {
		return fmt.Errorf("save spectrogram: %w", err)
	}
	return nil
}

// magmaStops are hand-placed colours at equal steps of level 0, 1/8, ...,
// 1, in the manner of the magma colormap: dark to light, hue through
// violet, red and orange.
var magmaStops = [...][3]float64{
	{0, 0, 4},
	{28, 16, 68},
	{79, 18, 123},
	{129, 37, 129},
	{181, 54, 122},
	{229, 80, 100},
	{251, 135, 97},
	{254, 194, 135},
	{252, 253, 191},
}

// colormap returns the named map from a level in [0, 1] to 8-bit RGB.
func colormap(name string) (func(float64) [3]uint8, error) {
	switch name {
	case "", "magma":
		return func(l float64) [3]uint8 {
			x := l * float64(len(magmaStops)-1)
			i := min(int(x), len(magmaStops)-2)
			f := x - float64(i)
			a, b := magmaStops[i], magmaStops[i+1]
			var c [3]uint8
			for j := range c {
				c[j] = uint8(math.Round(a[j] + f*(b[j]-a[j])))
			}
			return c
		}, nil
	case "grey", "gray":
		return func(l float64) [3]uint8 {
			g := uint8(math.Round(255 * l))
			return [3]uint8{g, g, g}
		}, nil
	}
	return nil, fmt.Errorf("colormap %q: want magma or grey", name)
}
