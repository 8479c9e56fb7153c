package audio

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/nst-project/nst/internal/atomicfile"
)

// Encoding is the sample format EncodeWAV writes.
type Encoding int

const (
	// PCM16 is 16-bit signed PCM (format code 1), what every player reads.
	// Samples are clamped to [-1, 1) and rounded to the nearest step of
	// 1/32768, the scale DecodeWAV divides by, so that decoding returns
	// exactly the values that were representable.
	PCM16 Encoding = iota + 1
	// Float32 is 32-bit IEEE float (format code 3), lossless for the
	// float32 samples the package works on; samples are not clamped.
	Float32
)

// String returns the encoding's configuration name, "pcm16" or "float32".
func (e Encoding) String() string {
	switch e {
	case PCM16:
		return "pcm16"
	case Float32:
		return "float32"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ParseEncoding returns the Encoding named s ("pcm16" or "float32"; "" is
// PCM16), for configuration files.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "pcm16":
		return PCM16, nil
	case "float32":
		return Float32, nil
	}
	return 0, fmt.Errorf("wav encoding %q: want pcm16 or float32", s)
}

// SaveWAV writes c to path as a mono WAV file in encoding e, atomically:
// readers never see a partial file, and on failure an existing file at path
// is left as it was.
func SaveWAV(path string, c Clip, e Encoding) error {
	if err := checkEncodable(c, e); err != nil {
		return fmt.Errorf("encode wav %q: %w", path, err)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return encodeWAV(w, c, e) }); err != nil {
		return fmt.Errorf("encode wav: %w", err)
	}
	return nil
}

// EncodeWAV writes c to w as a mono WAV stream in encoding e. The bytes
// depend only on c and e: the header holds no date or writer name, and
// PCM16 uses no dither. Float32 output carries the fact chunk the format
// requires for non-PCM data.
func EncodeWAV(w io.Writer, c Clip, e Encoding) error {
	if err := checkEncodable(c, e); err != nil {
		return fmt.Errorf("encode wav: %w", err)
	}
	if err := encodeWAV(w, c, e); err != nil {
		return fmt.Errorf("encode wav: %w", err)
	}
	return nil
}

func checkEncodable(c Clip, e Encoding) error {
	if e != PCM16 && e != Float32 {
		return fmt.Errorf("unknown encoding %v", e)
	}
	if c.Rate < MinSampleRate || c.Rate > MaxSampleRate {
		return fmt.Errorf("sample rate %d Hz is outside %d-%d Hz", c.Rate, MinSampleRate, MaxSampleRate)
	}
	if len(c.Samples) == 0 {
		return fmt.Errorf("no samples")
	}
	// RIFF sizes are 32-bit: the whole file must stay under 4 GiB.
	if int64(len(c.Samples))*4 > math.MaxUint32-64 {
		return fmt.Errorf("%d samples do not fit in a WAV file", len(c.Samples))
	}
	return nil
}

func encodeWAV(w io.Writer, c Clip, e Encoding) error {
	le := binary.LittleEndian
	width := 2
	if e == Float32 {
		width = 4
	}
	dataSize := uint32(width * len(c.Samples))
	var h []byte
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, 0) // set below
	h = append(h, "WAVE"...)
	h = append(h, "fmt "...)
	if e == PCM16 {
		h = le.AppendUint32(h, 16)
		h = le.AppendUint16(h, formatPCM)
	} else {
		h = le.AppendUint32(h, 18) // with cbSize, as non-PCM formats require
		h = le.AppendUint16(h, formatFloat)
	}
	h = le.AppendUint16(h, 1) // channels
	h = le.AppendUint32(h, uint32(c.Rate))
	h = le.AppendUint32(h, uint32(c.Rate*width)) // byte rate
	h = le.AppendUint16(h, uint16(width))        // block align
	h = le.AppendUint16(h, uint16(8*width))      // bits per sample
	if e == Float32 {
		h = le.AppendUint16(h, 0) // cbSize
		h = append(h, "fact"...)
		h = le.AppendUint32(h, 4)
		h = le.AppendUint32(h, uint32(len(c.Samples)))
	}
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataSize)
	le.PutUint32(h[4:], uint32(len(h)-8)+dataSize)
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 0, 32<<10)
	for i, v := range c.Samples {
		if e == PCM16 {
			buf = le.AppendUint16(buf, uint16(toPCM16(v)))
		} else {
			buf = le.AppendUint32(buf, math.Float32bits(v))
		}
		if len(buf) == cap(buf) || i == len(c.Samples)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// toPCM16 rounds v×32768 to the nearest integer (half away from zero),
// clamped to the int16 range; NaN becomes silence.
func toPCM16(v float32) int16 {
	if v != v {
		return 0
	}
	x := math.Round(float64(v) * (1 << 15))
	return int16(max(-(1 << 15), min(x, 1<<15-1)))
}
