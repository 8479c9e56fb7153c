package audio

import (
	"bytes"
	"math"
	"testing"

	"github.com/nst-project/nst/internal/fuzzguard"
)

// fuzzMaxSeconds keeps what the fuzzer decodes small: at the highest rate
// it still bounds a clip to 77k samples.
const fuzzMaxSeconds = 0.1

// FuzzDecodeWAV feeds arbitrary bytes to DecodeWAV. It must never panic;
// what it accepts must be a non-empty clip within the limits, with finite
// samples (within ±1 for PCM), that survives a float32 re-encode exactly.
// Seeds: one file of every accepted layout plus refused ones, built below.
func FuzzDecodeWAV(f *testing.F) {
	for _, seed := range [][]byte{
		riff(fmtChunk(1, 1, 8000, 8), data([]byte{0, 128, 255, 64})),
		riff(fmtChunk(1, 2, 44100, 16), data(i16(32767, -32768, 16384, 16384))),
		riff(fmtChunk(1, 1, 48000, 24), data(i24(0x7FFFFF, -0x800000))),
		riff(fmtChunk(1, 1, 96000, 32), data(i32(0x40000000, math.MinInt32))),
		riff(fmtChunk(3, 2, 22050, 32), chunk{id: "fact", data: i32(1)}, data(f32(0.25, 0.75))),
		riff(fmtChunk(3, 1, 22050, 64), data(f64(0.125, -0.5))),
		riff(extChunk(1, 2, 48000, 32, 24), data(i32(0x40000000, 0x20000000))),
		riff(extChunk(3, 1, 44100, 32, 0), data(f32(0.1))),
		riff(chunk{id: "LIST", data: []byte("INFO")}, fmtChunk(1, 1, 8000, 16), chunk{id: "junk", data: []byte{1}, pad: true}, data(i16(5))),
		riff(fmtChunk(1, 1, 8000, 16), chunk{id: "data", data: i16(1, 2), size: u32p(streamedSize)}),
		riff(fmtChunk(1, 2, 8000, 8), chunk{id: "data", data: []byte{1, 2, 3, 4}, size: u32p(soxStreamedSize)}),
		riff(fmtChunk(6, 1, 8000, 8), data([]byte{1})),
		riff(fmtChunk(1, 1, 8000, 16), chunk{id: "data", data: i16(1), size: u32p(0xFFFFFFF0)}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		// A hang or a runaway allocation is a finding too: see fuzzguard.
		fuzzguard.Run(t, fuzzguard.For(len(file)), func() {
			c, info, err := DecodeWAV(bytes.NewReader(file), DecodeOptions{MaxSeconds: fuzzMaxSeconds})
			if err != nil {
				if c.Samples != nil {
					t.Fatalf("samples returned with the error %v", err)
				}
				return
			}
			switch {
			case len(c.Samples) == 0:
				t.Fatal("accepted a clip with no samples")
			case c.Rate < MinSampleRate || c.Rate > MaxSampleRate || c.Rate != info.SampleRate:
				t.Fatalf("rate %d, info %+v", c.Rate, info)
			case info.Frames != len(c.Samples):
				t.Fatalf("info says %d frames, have %d samples", info.Frames, len(c.Samples))
			case c.Duration() > fuzzMaxSeconds+1/float64(c.Rate):
				t.Fatalf("accepted %v s, over the limit", c.Duration())
			}
			for i, v := range c.Samples {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || (info.FormatCode == formatPCM && (v < -1 || v > 1)) {
					t.Fatalf("sample %d = %v from %+v", i, v, info)
				}
			}
			var buf bytes.Buffer
			if err := EncodeWAV(&buf, c, Float32); err != nil {
				t.Fatal(err)
			}
			back, _, err := DecodeWAV(&buf, DecodeOptions{MaxSeconds: 1})
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Samples {
				if back.Samples[i] != c.Samples[i] {
					t.Fatalf("re-encoded sample %d: %v became %v", i, c.Samples[i], back.Samples[i])
				}
			}
		})
	})
}
