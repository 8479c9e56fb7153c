package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// chunk is one RIFF chunk of a hand-built test file.
type chunk struct {
	id   string
	data []byte
	size *uint32 // declared size; nil: len(data)
	pad  bool    // write the pad byte after an odd-sized chunk
}

// riff assembles a RIFF/WAVE file from chunks, independently of EncodeWAV.
func riff(chunks ...chunk) []byte {
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	for _, c := range chunks {
		b = append(b, c.id...)
		size := uint32(len(c.data))
		if c.size != nil {
			size = *c.size
		}
		b = binary.LittleEndian.AppendUint32(b, size)
		b = append(b, c.data...)
		if c.pad && len(c.data)%2 == 1 {
			b = append(b, 0)
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// fmtChunk is a plain fmt chunk (16 bytes, or 18 with cbSize for non-PCM).
func fmtChunk(code uint16, channels, rate, bits int) chunk {
	le := binary.LittleEndian
	align := channels * ((bits + 7) / 8)
	var b []byte
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*align))
	b = le.AppendUint16(b, uint16(align))
	b = le.AppendUint16(b, uint16(bits))
	if code != formatPCM {
		b = le.AppendUint16(b, 0)
	}
	return chunk{id: "fmt ", data: b}
}

// extChunk is a WAVE_FORMAT_EXTENSIBLE fmt chunk with the given sub-format
// code, container and valid bits.
func extChunk(sub uint16, channels, rate, container, valid int) chunk {
	le := binary.LittleEndian
	align := channels * container / 8
	var b []byte
	b = le.AppendUint16(b, formatExtensible)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*align))
	b = le.AppendUint16(b, uint16(align))
	b = le.AppendUint16(b, uint16(container))
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, uint16(valid))
	b = le.AppendUint32(b, 0x3) // front left, front right
	b = le.AppendUint16(b, sub)
	b = append(b, guidTail...)
	return chunk{id: "fmt ", data: b}
}

func data(b ...[]byte) chunk { return chunk{id: "data", data: bytes.Join(b, nil)} }

func i16(v ...int16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, uint16(x))
	}
	return b
}

func i24(v ...int32) []byte {
	var b []byte
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16))
	}
	return b
}

func i32(v ...int32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

func f32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f64(v ...float64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func u32p(v uint32) *uint32 { return &v }

func TestDecodeWAV(t *testing.T) {
	tests := []struct {
		name     string
		file     []byte
		want     []float32
		rate     int
		channels int
		bits     int
		code     uint16
	}{
		{
			name: "pcm8 unsigned mono",
			file: riff(fmtChunk(1, 1, 8000, 8), data([]byte{0, 128, 255, 64})),
			want: []float32{-1, 0, 127.0 / 128, -0.5}, rate: 8000, channels: 1, bits: 8, code: 1,
		},
		{
			name: "pcm16 stereo mixed to mean",
			file: riff(fmtChunk(1, 2, 44100, 16), data(i16(32767, -32768, 16384, 16384, -8192, 0))),
			want: []float32{-1.0 / 65536, 0.5, -0.125}, rate: 44100, channels: 2, bits: 16, code: 1,
		},
		{
			name: "pcm24 mono sign extension",
			file: riff(fmtChunk(1, 1, 48000, 24), data(i24(0x7FFFFF, -0x800000, 1, -0x400000))),
			want: []float32{8388607.0 / 8388608, -1, 1.0 / 8388608, -0.5}, rate: 48000, channels: 1, bits: 24, code: 1,
		},
		{
			name: "pcm32 mono",
			file: riff(fmtChunk(1, 1, 96000, 32), data(i32(0x40000000, math.MinInt32, -0x20000000))),
			want: []float32{0.5, -1, -0.25}, rate: 96000, channels: 1, bits: 32, code: 1,
		},
		{
			name: "pcm 12 bits in a 16-bit container",
			file: riff(fmtChunk(1, 1, 16000, 12), data(i16(0x4000, -0x7FF0))),
			want: []float32{0.5, float32(-0x7FF0) / 32768}, rate: 16000, channels: 1, bits: 12, code: 1,
		},
		{
			name: "float32 stereo",
			file: riff(fmtChunk(3, 2, 22050, 32), chunk{id: "fact", data: i32(2)}, data(f32(0.25, 0.75, -1, 0.5))),
			want: []float32{0.5, -0.25}, rate: 22050, channels: 2, bits: 32, code: 3,
		},
		{
			name: "float64 mono beyond full scale kept",
			file: riff(fmtChunk(3, 1, 22050, 64), data(f64(0.125, -0.5, 1.5))),
			want: []float32{0.125, -0.5, 1.5}, rate: 22050, channels: 1, bits: 64, code: 3,
		},
		{
			name: "extensible pcm24 in 32-bit container, 2 channels",
			file: riff(extChunk(1, 2, 48000, 32, 24), data(i32(0x40000000, 0x20000000))),
			want: []float32{0.375}, rate: 48000, channels: 2, bits: 24, code: 1,
		},
		{
			name: "extensible float32 with valid bits 0",
			file: riff(extChunk(3, 1, 44100, 32, 0), data(f32(0.1, -0.2))),
			want: []float32{0.1, -0.2}, rate: 44100, channels: 1, bits: 32, code: 3,
		},
		{
			name: "six channels",
			file: riff(fmtChunk(1, 6, 48000, 16), data(i16(6000, 6000, 6000, 6000, 6000, 6000, -600, 0, 0, 0, 0, 0))),
			want: []float32{6000.0 / 32768, -100.0 / 32768}, rate: 48000, channels: 6, bits: 16, code: 1,
		},
		{
			name: "LIST before fmt, padded odd junk, chunk after data",
			file: riff(
				chunk{id: "LIST", data: []byte("INFOISFT\x05\x00\x00\x00nst\x00\x00\x00")},
				fmtChunk(1, 1, 8000, 16),
				chunk{id: "junk", data: []byte{1, 2, 3}, pad: true},
				data(i16(100, -100)),
				chunk{id: "cue ", data: []byte{9, 9, 9, 9}},
			),
			want: []float32{100.0 / 32768, -100.0 / 32768}, rate: 8000, channels: 1, bits: 16, code: 1,
		},
		{
			name: "odd chunk without its pad byte",
			file: riff(fmtChunk(1, 1, 8000, 16), chunk{id: "junk", data: []byte{7, 7, 7}}, data(i16(3))),
			want: []float32{3.0 / 32768}, rate: 8000, channels: 1, bits: 16, code: 1,
		},
		{
			name: "odd-sized data chunk of 8-bit samples, then a chunk",
			file: riff(fmtChunk(1, 1, 8000, 8), chunk{id: "data", data: []byte{0, 128, 192}, pad: true}, chunk{id: "LIST", data: []byte("ab")}),
			want: []float32{-1, 0, 0.5}, rate: 8000, channels: 1, bits: 8, code: 1,
		},
		{
			name: "sox and espeak-ng pipe placeholder size runs to end of file",
			file: riff(fmtChunk(1, 1, 8000, 16), chunk{id: "data", data: i16(-5, 5), size: u32p(soxStreamedSize)}),
			want: []float32{-5.0 / 32768, 5.0 / 32768}, rate: 8000, channels: 1, bits: 16, code: 1,
		},
		{
			name: "streamed data size runs to end of file",
			file: riff(fmtChunk(1, 1, 8000, 16), chunk{id: "data", data: i16(1000, 2000, 3000), size: u32p(streamedSize)}),
			want: []float32{1000.0 / 32768, 2000.0 / 32768, 3000.0 / 32768}, rate: 8000, channels: 1, bits: 16, code: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []string{"reader", "file"} {
				var c Clip
				var info WAVInfo
				var err error
				if via == "reader" {
					c, info, err = DecodeWAV(bytes.NewReader(tc.file), DecodeOptions{})
				} else {
					p := filepath.Join(t.TempDir(), "x.wav")
					if err := os.WriteFile(p, tc.file, 0o644); err != nil {
						t.Fatal(err)
					}
					c, info, err = LoadWAV(p, DecodeOptions{})
				}
				if err != nil {
					t.Fatalf("%s: %v", via, err)
				}
				if c.Rate != tc.rate || info.SampleRate != tc.rate || info.Channels != tc.channels ||
					info.BitsPerSample != tc.bits || info.FormatCode != tc.code || info.Frames != len(tc.want) {
					t.Errorf("%s: rate %d, info %+v; want rate %d, %d channels, %d bits, code %d, %d frames",
						via, c.Rate, info, tc.rate, tc.channels, tc.bits, tc.code, len(tc.want))
				}
				if len(c.Samples) != len(tc.want) {
					t.Fatalf("%s: %d samples %v, want %v", via, len(c.Samples), c.Samples, tc.want)
				}
				for i := range tc.want {
					if c.Samples[i] != tc.want[i] {
						t.Errorf("%s: sample %d = %v, want %v", via, i, c.Samples[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	pcm := fmtChunk(1, 1, 8000, 16)
	tooShort := fmtChunk(1, 1, 8000, 16)
	tooShort.data = tooShort.data[:14]
	badAlign := fmtChunk(1, 2, 8000, 16)
	badAlign.data[12] = 3 // block align 3 for 2 channels
	guid := extChunk(1, 1, 8000, 16, 16)
	guid.data[30] ^= 0xFF
	longer := extChunk(1, 1, 8000, 16, 24)
	nanData := data(f32(0.5, float32(math.NaN())))
	tests := []struct {
		name string
		file []byte
		opts DecodeOptions
		want string // substring of the error
	}{
		{"empty", nil, DecodeOptions{}, "RIFF header is truncated"},
		{"not riff", []byte("OggS\x00\x00\x00\x00WAVEfmt "), DecodeOptions{}, `starts with "OggS"`},
		{"not wave", []byte("RIFF\x04\x00\x00\x00AVI "), DecodeOptions{}, `form type is "AVI "`},
		{"rf64", []byte("RF64\xff\xff\xff\xffWAVE"), DecodeOptions{}, "RF64 (WAV over 4 GiB) is not supported"},
		{"rifx", []byte("RIFX\x00\x00\x00\x04WAVE"), DecodeOptions{}, "big-endian RIFX"},
		{"a-law", riff(fmtChunk(6, 1, 8000, 8), data([]byte{1})), DecodeOptions{}, "format code 0x0006 (A-law)"},
		{"mu-law", riff(fmtChunk(7, 1, 8000, 8), data([]byte{1})), DecodeOptions{}, "format code 0x0007 (µ-law)"},
		{"ms adpcm", riff(fmtChunk(2, 1, 8000, 4), data([]byte{1})), DecodeOptions{}, "format code 0x0002 (Microsoft ADPCM)"},
		{"ima adpcm", riff(fmtChunk(0x11, 1, 8000, 4), data([]byte{1})), DecodeOptions{}, "format code 0x0011 (IMA ADPCM)"},
		{"mp3", riff(fmtChunk(0x55, 2, 44100, 0), data([]byte{1})), DecodeOptions{}, "format code 0x0055 (MPEG layer 3)"},
		{"extensible a-law", riff(extChunk(6, 1, 8000, 8, 8), data([]byte{1})), DecodeOptions{}, "format code 0x0006 (A-law)"},
		{"extensible foreign guid", riff(guid, data(i16(1))), DecodeOptions{}, "sub-format GUID"},
		{"extensible valid bits over container", riff(longer, data(i16(1))), DecodeOptions{}, "24 valid bits in a 16-bit sample"},
		{"extensible extension missing", riff(chunk{id: "fmt ", data: fmtChunk(0xFFFE, 1, 8000, 16).data[:18]}, data(i16(1))), DecodeOptions{}, "too short for its 22-byte extension"},
		{"fmt too short", riff(tooShort, data(i16(1))), DecodeOptions{}, "fmt chunk of 14 bytes"},
		{"fmt absurdly long", riff(chunk{id: "fmt ", data: make([]byte, 16), size: u32p(1 << 30)}), DecodeOptions{}, "fmt chunk of 1073741824 bytes"},
		{"fmt truncated", riff(chunk{id: "fmt ", data: pcm.data[:10], size: u32p(16)}), DecodeOptions{}, "fmt chunk is truncated"},
		{"second fmt", riff(pcm, pcm, data(i16(1))), DecodeOptions{}, "second fmt chunk"},
		{"no channels", riff(fmtChunk(1, 0, 8000, 16), data(i16(1))), DecodeOptions{}, "0 channels"},
		{"too many channels", riff(fmtChunk(1, 65, 8000, 16), data(i16(1))), DecodeOptions{}, "65 channels, want 1 to 64"},
		{"rate zero", riff(fmtChunk(1, 1, 0, 16), data(i16(1))), DecodeOptions{}, "sample rate 0 Hz"},
		{"rate absurd", riff(fmtChunk(1, 1, 5_000_000, 16), data(i16(1))), DecodeOptions{}, "sample rate 5000000 Hz"},
		{"block align mismatch", riff(badAlign, data(i16(1))), DecodeOptions{}, "block align 3 is not a multiple of 2 channels"},
		{"40-bit pcm", riff(fmtChunk(1, 1, 8000, 40), data(make([]byte, 5))), DecodeOptions{}, "PCM with 40-bit samples"},
		{"16-bit float", riff(fmtChunk(3, 1, 8000, 16), data(i16(1))), DecodeOptions{}, "IEEE float with 16-bit samples"},
		{"float bits below container", riff(extChunk(3, 1, 8000, 32, 24), data(f32(1))), DecodeOptions{}, "float samples of 24 bits"},
		{"no fmt", riff(chunk{id: "LIST", data: []byte("ab")}), DecodeOptions{}, "no fmt chunk"},
		{"no data", riff(pcm, chunk{id: "LIST", data: []byte("ab")}), DecodeOptions{}, "no data chunk"},
		{"data before fmt", riff(data(i16(1)), pcm), DecodeOptions{}, "data chunk comes before the fmt chunk"},
		{"partial frame", riff(pcm, data([]byte{1, 2, 3})), DecodeOptions{}, "3 bytes is not a whole number of 2-byte frames"},
		{"zero samples", riff(pcm, data()), DecodeOptions{}, "no samples"},
		{"streamed zero samples", riff(pcm, chunk{id: "data", size: u32p(streamedSize)}), DecodeOptions{}, "no samples"},
		{"truncated data", riff(pcm, chunk{id: "data", data: i16(1, 2, 3), size: u32p(200)}), DecodeOptions{}, "truncated data"},
		{"truncated chunk header", append(riff(pcm), 'd', 'a'), DecodeOptions{}, "chunk header at byte 36 is truncated"},
		{"truncated unknown chunk", riff(pcm, chunk{id: "LIST", data: []byte("ab"), size: u32p(100)}), DecodeOptions{}, `chunk "LIST" at byte 36 is truncated`},
		{"absurd duration", riff(pcm, chunk{id: "data", data: i16(1), size: u32p(0xFFFFFFF0)}), DecodeOptions{}, "over the limit of 600 s"},
		{"over a small limit", riff(pcm, data(make([]byte, 2*81))), DecodeOptions{MaxSeconds: 0.01}, "holds 0.0 s of audio at 8000 Hz, over the limit of 0.01 s; raise limits.max_audio_seconds"},
		{"streamed over the limit", riff(pcm, chunk{id: "data", data: make([]byte, 2*100), size: u32p(streamedSize)}), DecodeOptions{MaxSeconds: 0.01}, "over the limit of 0.01 s"},
		{"negative limit", riff(pcm, data(i16(1))), DecodeOptions{MaxSeconds: -1}, "duration limit -1 s must be positive"},
		{"nan sample", riff(fmtChunk(3, 1, 8000, 32), nanData), DecodeOptions{}, "frame 1: channel 0 holds the non-finite sample NaN"},
		{"float64 beyond float32", riff(fmtChunk(3, 1, 8000, 64), data(f64(1e300))), DecodeOptions{}, "frame 0: mixed sample 1e+300 is beyond the float32 range"},
		{"inf sample", riff(fmtChunk(3, 2, 8000, 64), data(f64(0, 0, 1, math.Inf(-1)))), DecodeOptions{}, "frame 1: channel 1 holds the non-finite sample -Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := DecodeWAV(bytes.NewReader(tc.file), tc.opts)
			if err == nil {
				t.Fatalf("decoded %d samples, want an error containing %q", len(c.Samples), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "decode wav: ") {
				t.Errorf("error %q, want it to start with \"decode wav: \" and contain %q", err, tc.want)
			}
			if c.Samples != nil {
				t.Errorf("samples returned with the error")
			}
		})
	}
}

// TestLoadWAVRefusesBeforeAllocating checks that a small file whose header
// promises a lot of audio is refused from its size alone: a data chunk
// larger than the file, and one longer than the limit, allocate almost
// nothing.
func TestLoadWAVRefusesBeforeAllocating(t *testing.T) {
	dir := t.TempDir()
	// 16-bit mono at 768 kHz: 500 s within a 600 s limit is 768 MB of
	// bytes and 1.5 GB of float32 samples, if anything allocated them.
	lying := riff(fmtChunk(1, 1, 768000, 16), chunk{id: "data", data: i16(1, 2), size: u32p(2 * 768000 * 500)})
	long := riff(fmtChunk(1, 1, 768000, 16), chunk{id: "data", data: i16(1, 2), size: u32p(2 * 768000 * 700)})
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"data larger than the file", lying, "truncated data: data chunk declares 768000000 bytes (384000000 frames), the file holds 4"},
		{"data longer than the limit", long, "holds 700.0 s of audio at 768000 Hz, over the limit of 600 s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "x.wav")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := LoadWAV(p, DecodeOptions{})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, p, tc.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes before refusing", got)
			}
		})
	}
	if _, _, err := LoadWAV(filepath.Join(dir, "missing.wav"), DecodeOptions{}); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("missing file: error %v, want a not-exist error", err)
	}
	if _, _, err := LoadWAV(dir, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("folder: error %v, want \"is a folder\"", err)
	}
}

// errorsUnwrapAll returns the innermost error of a chain of single wraps.
func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestEncodeWAVBytes(t *testing.T) {
	// The exact bytes of a two-sample PCM16 file at 22050 Hz: the encoding
	// is deterministic and follows the canonical 44-byte header.
	var buf bytes.Buffer
	if err := EncodeWAV(&buf, Clip{Rate: 22050, Samples: []float32{0.5, -1}}, PCM16); err != nil {
		t.Fatal(err)
	}
	want := []byte("RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00\x02\x00\x10\x00data\x04\x00\x00\x00\x00\x40\x00\x80")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("bytes\n% x\nwant\n% x", buf.Bytes(), want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	samples := []float32{0, 0.5, -0.5, 1.0 / 32768, -1, 32767.0 / 32768, 0.123456789, 1.5, -3, float32(math.NaN()), 1}
	tests := []struct {
		enc  Encoding
		want []float32
	}{
		// PCM16 rounds to 1/32768 steps and clamps to [-1, 32767/32768].
		{PCM16, []float32{0, 0.5, -0.5, 1.0 / 32768, -1, 32767.0 / 32768, 4045.0 / 32768, 32767.0 / 32768, -1, 0, 32767.0 / 32768}},
		// Float32 keeps every bit, beyond full scale too (NaN is refused on
		// decode, so it is left out here).
		{Float32, samples[:9]},
	}
	for _, tc := range tests {
		t.Run(tc.enc.String(), func(t *testing.T) {
			in := samples
			if tc.enc == Float32 {
				in = samples[:9]
			}
			p := filepath.Join(t.TempDir(), "out.wav")
			if err := SaveWAV(p, Clip{Rate: 44100, Samples: in}, tc.enc); err != nil {
				t.Fatal(err)
			}
			c, info, err := LoadWAV(p, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Rate != 44100 || info.Channels != 1 {
				t.Errorf("rate %d, %d channels", c.Rate, info.Channels)
			}
			if len(c.Samples) != len(tc.want) {
				t.Fatalf("%d samples, want %d", len(c.Samples), len(tc.want))
			}
			for i, w := range tc.want {
				if c.Samples[i] != w {
					t.Errorf("sample %d: %v became %v, want %v", i, in[i], c.Samples[i], w)
				}
			}
			var b1, b2 bytes.Buffer
			EncodeWAV(&b1, Clip{Rate: 44100, Samples: in}, tc.enc)
			EncodeWAV(&b2, Clip{Rate: 44100, Samples: in}, tc.enc)
			file, _ := os.ReadFile(p)
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) || !bytes.Equal(b1.Bytes(), file) {
				t.Error("encoding is not deterministic, or SaveWAV differs from EncodeWAV")
			}
		})
	}
}

func TestEncodeWAVErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "keep.wav")
	os.WriteFile(existing, []byte("old"), 0o644)
	tests := []struct {
		name string
		clip Clip
		enc  Encoding
		want string
	}{
		{"no samples", Clip{Rate: 22050}, PCM16, "no samples"},
		{"rate too low", Clip{Rate: 10, Samples: []float32{0}}, PCM16, "sample rate 10 Hz"},
		{"unknown encoding", Clip{Rate: 22050, Samples: []float32{0}}, Encoding(9), "unknown encoding Encoding(9)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := SaveWAV(existing, tc.clip, tc.enc)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), existing) {
				t.Errorf("error %v, want one naming the file and containing %q", err, tc.want)
			}
			if b, _ := os.ReadFile(existing); string(b) != "old" {
				t.Errorf("existing file changed to %q", b)
			}
			if err := EncodeWAV(&bytes.Buffer{}, tc.clip, tc.enc); err == nil {
				t.Error("EncodeWAV accepted it")
			}
		})
	}
	if err := SaveWAV(filepath.Join(dir, "no", "such", "dir.wav"), Clip{Rate: 22050, Samples: []float32{0}}, PCM16); err == nil {
		t.Error("SaveWAV into a missing folder succeeded")
	}
}

func TestParseEncoding(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Encoding
		err  bool
	}{{"", PCM16, false}, {"pcm16", PCM16, false}, {"float32", Float32, false}, {"mp3", 0, true}} {
		got, err := ParseEncoding(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseEncoding(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
